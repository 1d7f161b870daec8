import assert from "node:assert/strict";
import { copyFile, mkdir, mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import fc from "fast-check";
import { InvalidInputError } from "../../src/errors.js";
import {
  ClipTokenizer,
  MAX_EMPHASIS_DEPTH,
  MAX_EMPHASIS_WEIGHT,
  parsePromptWeights,
  type TokenChunk,
  tokenizeWeighted,
  type WeightedText,
} from "../../src/pipeline/tokenizer/index.js";

const REFERENCE = join(import.meta.dirname, "../fixtures/reference/tokenizer");
/** The CLIP vocabulary and SDXL tokenizer configs the product ships. */
const ASSETS = join(import.meta.dirname, "../../assets");
const BOS = 49406;
const EOS = 49407;
const CAT = 2368; // "cat</w>"

const { cases } = JSON.parse(await readFile(join(REFERENCE, "cases.json"), "utf8")) as {
  cases: {
    id: string;
    prompt: string;
    raw_ids: number[];
    input_ids_1: number[];
    variants: Record<string, unknown>;
  }[];
};

let root: string;
let tokenizer1: ClipTokenizer;
let tokenizer2: ClipTokenizer;

before(async () => {
  root = await mkdtemp(join(tmpdir(), "easel-prompt-weights-"));
  const load = async (name: "tokenizer" | "tokenizer_2") => {
    const dir = join(root, name);
    await mkdir(dir);
    for (const file of ["vocab.json", "merges.txt"])
      await copyFile(join(ASSETS, "tokenizer", file), join(dir, file));
    await copyFile(
      join(ASSETS, "sdxl", name, "special_tokens_map.json"),
      join(dir, "special_tokens_map.json"),
    );
    return ClipTokenizer.fromFolder(dir);
  };
  tokenizer1 = await load("tokenizer");
  tokenizer2 = await load("tokenizer_2");
});

after(async () => {
  await rm(root, { recursive: true, force: true });
});

/** Segments with weights rounded, so 1.1 * 1.1 compares as 1.21. */
function rounded(segments: WeightedText[]): WeightedText[] {
  return segments.map(({ text, weight }) => ({ text, weight: Math.round(weight * 1e6) / 1e6 }));
}

/** The prompt tokens of a chunk: between the start token and the first end token. */
function promptIds(chunk: TokenChunk): number[] {
  const ids = Array.from(chunk.ids);
  return ids.slice(1, ids.indexOf(EOS, 1));
}

describe("parsePromptWeights", () => {
  it("returns a prompt without syntax as one unchanged segment", () => {
    for (const prompt of [
      "a photo of a cat",
      "",
      "  spaced  ",
      "16:9, f/1.8, 50%",
      "<lora:x:1> BREAK {soft}",
    ]) {
      assert.deepEqual(parsePromptWeights(prompt), [{ text: prompt, weight: 1 }]);
    }
  });

  it("multiplies by 1.1 per round pair and divides by 1.1 per square pair, nested", () => {
    assert.deepEqual(rounded(parsePromptWeights("a (red) ((big)) (((old))) cat")), [
      { text: "a ", weight: 1 },
      { text: "red", weight: 1.1 },
      { text: " ", weight: 1 },
      { text: "big", weight: 1.21 },
      { text: " ", weight: 1 },
      { text: "old", weight: 1.331 },
      { text: " cat", weight: 1 },
    ]);
    assert.deepEqual(rounded(parsePromptWeights("[blurry] [[dark]] ([neutral])")), [
      { text: "blurry", weight: 0.909091 },
      { text: " ", weight: 1 },
      { text: "dark", weight: 0.826446 },
      { text: " neutral", weight: 1 },
    ]);
  });

  it("takes explicit weights, multiplied by the brackets around them", () => {
    assert.deepEqual(
      rounded(parsePromptWeights("(masterpiece:1.2), (ugly: 0.5 ), ((tall:1.5) tree), (x:.8)")),
      [
        { text: "masterpiece", weight: 1.2 },
        { text: ", ", weight: 1 },
        { text: "ugly", weight: 0.5 },
        { text: ", ", weight: 1 },
        { text: "tall", weight: 1.65 },
        { text: " tree", weight: 1.1 },
        { text: ", ", weight: 1 },
        { text: "x", weight: 0.8 },
      ],
    );
    assert.deepEqual(parsePromptWeights("(a:b:0.5)"), [{ text: "a:b", weight: 0.5 }]);
    // Only round brackets take a weight; a malformed number is text.
    assert.deepEqual(rounded(parsePromptWeights("[cat:dog:0.5]")), [
      { text: "cat:dog:0.5", weight: 0.909091 },
    ]);
    assert.deepEqual(rounded(parsePromptWeights("(a:1.2.3)")), [{ text: "a:1.2.3", weight: 1.1 }]);
  });

  it("reads escaped brackets and backslashes literally", () => {
    assert.deepEqual(parsePromptWeights("a \\(cat\\) \\[x\\] \\\\ \\n"), [
      { text: "a (cat) [x] \\ \\n", weight: 1 },
    ]);
    assert.deepEqual(rounded(parsePromptWeights("(smile \\:\\))")), [{ text: "smile \\:)", weight: 1.1 }]);
  });

  it("reads smileys and stray or unbalanced brackets literally", () => {
    for (const prompt of ["happy :)", "sad :( face", "(oops", "oops)", "a ] b [ c", ":-) ;-( ]["]) {
      assert.deepEqual(parsePromptWeights(prompt), [{ text: prompt, weight: 1 }], prompt);
    }
    assert.deepEqual(rounded(parsePromptWeights("((cat) :)")), [
      { text: "cat", weight: 1.21 },
      { text: " :", weight: 1.1 },
    ]);
    // A closing bracket pairs with the nearest opening of its kind; the other kind in between is text.
    assert.deepEqual(rounded(parsePromptWeights("(a [b) c]")), [
      { text: "a [b", weight: 1.1 },
      { text: " c]", weight: 1 },
    ]);
  });

  it("refuses an explicit weight outside the bound, naming the bound", () => {
    const outOfRange = (error: unknown) => {
      assert.ok(error instanceof InvalidInputError, String(error));
      assert.equal(error.code, "invalid_input");
      assert.match(
        error.userMessage,
        new RegExp(`between -${MAX_EMPHASIS_WEIGHT} and ${MAX_EMPHASIS_WEIGHT}`),
      );
      return true;
    };
    assert.throws(() => parsePromptWeights(`(cat:${"9".repeat(41)})`), outOfRange);
    assert.throws(() => parsePromptWeights("(cat:10.5)"), outOfRange);
    assert.throws(() => parsePromptWeights("(cat:-11)"), outOfRange);
    // Weights multiply through the nesting: 9 x 1.1 x 1.1 = 10.89.
    assert.throws(() => parsePromptWeights("(((cat:9)))"), outOfRange);
    assert.deepEqual(rounded(parsePromptWeights("(cat:10)")), [{ text: "cat", weight: 10 }]);
    assert.deepEqual(rounded(parsePromptWeights("(cat:-10)")), [{ text: "cat", weight: -10 }]);
  });

  it("refuses brackets nested deeper than the bound, however they pair", () => {
    const nested = (depth: number, open = "(", close = ")") =>
      `${open.repeat(depth)}cat${close.repeat(depth)}`;
    const tooDeep = (error: unknown) => {
      assert.ok(error instanceof InvalidInputError, String(error));
      assert.match(error.userMessage, new RegExp(`at most ${MAX_EMPHASIS_DEPTH} deep`));
      return true;
    };
    assert.throws(() => parsePromptWeights(nested(1000)), tooDeep);
    assert.throws(() => parsePromptWeights(nested(1000, "[", "]")), tooDeep);
    assert.throws(() => parsePromptWeights(nested(MAX_EMPHASIS_DEPTH + 1, "[", "]")), tooDeep);
    const [deepest] = parsePromptWeights(nested(MAX_EMPHASIS_DEPTH, "[", "]"));
    assert.equal(deepest!.text, "cat");
    // Unpaired brackets are text, not nesting.
    assert.deepEqual(parsePromptWeights(`${"(".repeat(1000)}cat`), [
      { text: `${"(".repeat(1000)}cat`, weight: 1 },
    ]);
  });

  it("only refuses with an input error, and keeps every character that is not syntax, in order", () => {
    const syntax = new Set(["(", ")", "[", "]", "\\", ":", ".", "+", "-", " ", ..."0123456789"]);
    const visible = (text: string) =>
      Array.from(text)
        .filter((char) => !syntax.has(char))
        .join("");
    const promptChars = fc.constantFrom(
      "(",
      ")",
      "[",
      "]",
      "\\",
      ":",
      "1",
      ".",
      "5",
      " ",
      "a",
      "b",
      "é",
      "😀",
      "!",
    );
    const prompts = fc.oneof(
      fc.string(),
      fc.string({ unit: promptChars, maxLength: 60 }),
      fc.string({ unit: "grapheme" }),
    );
    fc.assert(
      fc.property(prompts, (prompt) => {
        let segments: WeightedText[];
        try {
          segments = parsePromptWeights(prompt);
        } catch (error) {
          assert.ok(error instanceof InvalidInputError, String(error));
          return;
        }
        assert.equal(visible(segments.map((segment) => segment.text).join("")), visible(prompt));
        for (const segment of segments) {
          assert.ok(Number.isFinite(segment.weight));
          assert.ok(Math.abs(segment.weight) <= MAX_EMPHASIS_WEIGHT * (1 + 1e-12));
        }
      }),
      { numRuns: 2000 },
    );
  });

  it("gives nested emphasis within the bounds its product weight, and refuses it past them", () => {
    // A word wrapped in layers from the inside out: each layer is (…), […] or (…:w).
    const layer = fc.oneof(
      fc.constant({ kind: "round" as const }),
      fc.constant({ kind: "square" as const }),
      fc.record({
        kind: fc.constant("explicit" as const),
        weight: fc.integer({ min: -120, max: 120 }).map((tenths) => tenths / 10),
      }),
    );
    fc.assert(
      fc.property(fc.array(layer, { maxLength: MAX_EMPHASIS_DEPTH + 4 }), (layers) => {
        let prompt = "cat";
        let weight = 1;
        for (const each of layers) {
          if (each.kind === "round") {
            prompt = `(${prompt})`;
            weight *= 1.1;
          } else if (each.kind === "square") {
            prompt = `[${prompt}]`;
            weight /= 1.1;
          } else {
            prompt = `(${prompt}:${each.weight})`;
            weight *= each.weight;
          }
        }
        const explicitOutOfRange = layers.some(
          (each) => each.kind === "explicit" && Math.abs(each.weight) > MAX_EMPHASIS_WEIGHT,
        );
        const margin = 1e-9;
        if (
          layers.length > MAX_EMPHASIS_DEPTH ||
          explicitOutOfRange ||
          Math.abs(weight) > MAX_EMPHASIS_WEIGHT + margin
        ) {
          if (Math.abs(Math.abs(weight) - MAX_EMPHASIS_WEIGHT) <= margin) return; // rounding decides
          assert.throws(() => parsePromptWeights(prompt), InvalidInputError, prompt);
          return;
        }
        const segments = parsePromptWeights(prompt);
        assert.equal(segments.length, 1, prompt);
        assert.equal(segments[0]!.text, "cat");
        assert.ok(Math.abs(segments[0]!.weight - weight) <= 1e-9 * Math.max(1, Math.abs(weight)), prompt);
      }),
      { numRuns: 2000 },
    );
  });

  it("returns the prompt unchanged whenever it has no brackets or backslashes", () => {
    fc.assert(
      fc.property(
        fc.string().filter((prompt) => !/[()[\]\\]/.test(prompt)),
        (prompt) => {
          assert.deepEqual(parsePromptWeights(prompt), [{ text: prompt, weight: 1 }]);
        },
      ),
      { numRuns: 500 },
    );
  });
});

describe("tokenizeWeighted", () => {
  it("gives a plain prompt of up to 75 tokens one chunk equal to pack(encode()) with weights 1", () => {
    let checked = 0;
    for (const c of cases) {
      const plain =
        JSON.stringify(parsePromptWeights(c.prompt)) === JSON.stringify([{ text: c.prompt, weight: 1 }]);
      if (!plain || c.raw_ids.length > 75) continue;
      for (const tokenizer of [tokenizer1, tokenizer2]) {
        const { chunks, weighted } = tokenizeWeighted(tokenizer, c.prompt);
        assert.equal(chunks.length, 1, c.id);
        assert.equal(weighted, false);
        assert.deepEqual(chunks[0]!.ids, tokenizer.pack(tokenizer.encode(c.prompt)).ids, c.id);
        assert.deepEqual(Array.from(chunks[0]!.weights), new Array(77).fill(1));
      }
      if (!c.variants.openai_without_ftfy)
        assert.deepEqual(Array.from(tokenizeWeighted(tokenizer1, c.prompt).chunks[0]!.ids), c.input_ids_1);
      checked++;
    }
    assert.ok(checked >= 55, `only ${checked} plain cases`);
  });

  it("maps each segment's weight onto its tokens", () => {
    const { chunks, weighted } = tokenizeWeighted(tokenizer1, "a (cat:1.5) on [mat]");
    assert.equal(weighted, true);
    const ids = promptIds(chunks[0]!);
    assert.deepEqual(ids, [
      ...tokenizer1.encode("a"),
      CAT,
      ...tokenizer1.encode("on"),
      ...tokenizer1.encode("mat"),
    ]);
    const weights = Array.from(chunks[0]!.weights.subarray(0, ids.length + 3)).map(
      (w) => Math.round(w * 1e4) / 1e4,
    );
    assert.deepEqual(weights, [1, 1, 1.5, 1, 0.9091, 1, 1]);
    assert.equal(chunks[0]!.weights[76], 1);
  });

  it("cuts a 200-token prompt into three chunks of 75, 75 and 50 tokens", () => {
    const prompt = Array(200).fill("cat").join(" ");
    for (const tokenizer of [tokenizer1, tokenizer2]) {
      const { chunks } = tokenizeWeighted(tokenizer, prompt);
      assert.equal(chunks.length, 3);
      for (const chunk of chunks) {
        assert.equal(chunk.ids.length, 77);
        assert.equal(chunk.weights.length, 77);
        assert.equal(chunk.ids[0], BOS);
      }
      assert.deepEqual(chunks.map(promptIds), [
        Array(75).fill(CAT),
        Array(75).fill(CAT),
        Array(50).fill(CAT),
      ]);
      assert.equal(chunks[0]!.ids[76], EOS);
      assert.equal(chunks[2]!.ids[51], EOS);
      assert.deepEqual(Array.from(chunks[2]!.ids.subarray(52)), Array(25).fill(tokenizer.padTokenId));
    }
  });

  it("keeps every token of the long reference prompt across its chunks", () => {
    const long = cases.find((c) => c.id === "shared-065")!;
    // Escaped, its "(masterpiece:1.3)" is text, as the reference tokenized it.
    const { chunks } = tokenizeWeighted(tokenizer1, long.prompt.replace(/[()]/g, "\\$&"));
    assert.equal(chunks.length, Math.ceil(long.raw_ids.length / 75));
    assert.deepEqual(chunks.flatMap(promptIds), long.raw_ids);
  });

  it("pads to minChunks with empty chunks", () => {
    const { chunks } = tokenizeWeighted(tokenizer2, "blurry", 3);
    assert.equal(chunks.length, 3);
    assert.deepEqual(promptIds(chunks[0]!), tokenizer2.encode("blurry"));
    for (const chunk of chunks.slice(1)) {
      assert.deepEqual(Array.from(chunk.ids), [BOS, EOS, ...Array(75).fill(0)]);
      assert.deepEqual(Array.from(chunk.weights), Array(77).fill(1));
    }
    const empty = tokenizeWeighted(tokenizer1, "");
    assert.equal(empty.chunks.length, 1);
    assert.deepEqual(Array.from(empty.chunks[0]!.ids), [BOS, ...Array(76).fill(EOS)]);
    assert.equal(tokenizeWeighted(tokenizer1, Array(100).fill("cat").join(" "), 1).chunks.length, 2);
  });
});
