import assert from "node:assert/strict";
import { copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { ModelFolderError } from "../../src/errors.js";
import { cleanPromptText } from "../../src/pipeline/tokenizer/clean-text.js";
import { unescapeHtml } from "../../src/pipeline/tokenizer/html-unescape.js";
import { ClipTokenizer } from "../../src/pipeline/tokenizer/index.js";
import { fixText } from "../../src/pipeline/tokenizer/text-fixes.js";

const REFERENCE = join(import.meta.dirname, "../fixtures/reference/tokenizer");
/** The CLIP vocabulary and SDXL tokenizer configs the product ships. */
const ASSETS = join(import.meta.dirname, "../../assets");
const BOS = 49406;
const EOS = 49407;

interface TokenizerCase {
  id: string;
  prompt: string;
  cleaned_text: string;
  raw_ids: number[];
  truncated: boolean;
  input_ids_1: number[];
  input_ids_2: number[];
  eos_index: number;
  ftfy_changes_ids: boolean;
  contains_exclamation: boolean;
  variants: Partial<Record<string, number[]>>;
}

const { cases } = JSON.parse(await readFile(join(REFERENCE, "cases.json"), "utf8")) as {
  cases: TokenizerCase[];
};

/**
 * Cases where ftfy changes the ids and this port differs from ftfy, with the reason. Each must
 * still match the reference tokenizer run without ftfy (`variants.openai_without_ftfy`).
 */
const FTFY_GAPS: Readonly<Record<string, string>> = {
  "shared-059": "mojibake repair (UTF-8 read as Latin-1, 'cafÃ©') is not implemented",
};

/** A diffusers-style tokenizer folder built from the reference files. */
async function makeTokenizerFolder(root: string, name: "tokenizer" | "tokenizer_2"): Promise<string> {
  const dir = join(root, name);
  await mkdir(dir, { recursive: true });
  for (const file of ["vocab.json", "merges.txt"])
    await copyFile(join(ASSETS, "tokenizer", file), join(dir, file));
  for (const file of ["special_tokens_map.json", "tokenizer_config.json", "added_tokens.json"]) {
    await copyFile(join(ASSETS, "sdxl", name, file), join(dir, file));
  }
  return dir;
}

/** Index of the first largest id: where CLIP's text model pools. */
function firstMaxIndex(ids: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < ids.length; i++) if (ids[i]! > ids[best]!) best = i;
  return best;
}

let root: string;
let tokenizer1: ClipTokenizer;
let tokenizer2: ClipTokenizer;
let tokenizer2Hf: ClipTokenizer;

before(async () => {
  root = await mkdtemp(join(tmpdir(), "easel-tokenizer-"));
  tokenizer1 = await ClipTokenizer.fromFolder(await makeTokenizerFolder(root, "tokenizer"));
  const dir2 = await makeTokenizerFolder(root, "tokenizer_2");
  tokenizer2 = await ClipTokenizer.fromFolder(dir2);
  tokenizer2Hf = await ClipTokenizer.fromFolder(dir2, { exclamationAsPad: true });
});

after(async () => {
  await rm(root, { recursive: true, force: true });
});

describe("ClipTokenizer against the reference cases", () => {
  it("has all 65 cases", () => assert.equal(cases.length, 65));

  it("reads the pad token of each SDXL folder", () => {
    assert.equal(tokenizer1.padTokenId, EOS);
    assert.equal(tokenizer2.padTokenId, 0);
    assert.equal(tokenizer1.bosTokenId, BOS);
    assert.equal(tokenizer1.eosTokenId, EOS);
  });

  for (const c of cases) {
    const gap = FTFY_GAPS[c.id];
    const expected = gap ? c.variants.openai_without_ftfy! : c.raw_ids;

    it(`${c.id}: encode gives ${gap ? "the no-ftfy ids" : "raw_ids"}`, () => {
      if (gap) {
        assert.ok(
          c.ftfy_changes_ids && c.variants.openai_without_ftfy,
          `${c.id} is listed as a gap but ftfy is not involved`,
        );
      } else {
        assert.equal(cleanPromptText(c.prompt), c.cleaned_text);
      }
      assert.deepEqual(tokenizer1.encode(c.prompt), expected);
      assert.deepEqual(tokenizer2.encode(c.prompt), expected);
    });

    it(`${c.id}: packs to input_ids_1 / input_ids_2 with truncation and pooling index`, () => {
      const packed1 = tokenizer1.pack(c.raw_ids);
      const packed2 = tokenizer2.pack(c.raw_ids);
      assert.deepEqual(Array.from(packed1.ids), c.input_ids_1);
      assert.deepEqual(Array.from(packed2.ids), c.input_ids_2);
      assert.equal(packed1.truncated > 0, c.truncated);
      assert.equal(packed1.truncated, Math.max(0, c.raw_ids.length - 75));
      if (c.truncated) assert.equal(packed1.ids[76], EOS);
      assert.equal(firstMaxIndex(packed1.ids), c.eos_index);
      assert.equal(firstMaxIndex(packed2.ids), c.eos_index);
      if (!gap) assert.deepEqual(Array.from(tokenizer2.pack(tokenizer2.encode(c.prompt)).ids), c.input_ids_2);
    });

    // Where transformers' tokenizer_1 agrees with OpenAI's, its tokenizer_2 differs only by the "!" quirk.
    if (!gap && c.variants.hf_tokenizer_1_with_ftfy === undefined) {
      it(`${c.id}: exclamationAsPad gives transformers' tokenizer_2 ids`, () => {
        const hf = c.variants.hf_tokenizer_2_with_ftfy ?? c.raw_ids;
        assert.deepEqual(tokenizer2Hf.encode(c.prompt), hf);
        assert.equal(c.contains_exclamation, c.variants.hf_tokenizer_2_with_ftfy !== undefined);
      });
    }
  }
});

describe("ClipTokenizer details", () => {
  it("reads a typed '!' as an ordinary character unless exclamationAsPad is set", () => {
    assert.deepEqual(tokenizer2.encode("! !! !!!"), [256, 748, 995]);
    assert.deepEqual(tokenizer2Hf.encode("! !! !!!"), [0, 0, 0, 0, 0, 0]);
    assert.deepEqual(tokenizer2Hf.encode("hi!"), [tokenizer2.encode("hi")[0], 0]);
  });

  it("applies exclamationAsPad only where the pad token is '!' (tokenizer_2), as transformers does", async () => {
    const tokenizer1Hf = await ClipTokenizer.fromFolder(join(root, "tokenizer"), { exclamationAsPad: true });
    assert.deepEqual(tokenizer1Hf.encode("wow!!! hi!"), tokenizer1.encode("wow!!! hi!"));
    assert.deepEqual(tokenizer1.encode("wow!!! hi!"), [2781, 995, 1883, 256]);
  });

  it("skips U+0345 like Python's case-insensitive pattern does, splitting the words around it", () => {
    assert.deepEqual(tokenizer1.encode("cat\u0345dog"), tokenizer1.encode("cat dog"));
  });
});

describe("text clean-up", () => {
  it("unescapes HTML like Python's html.unescape", () => {
    assert.equal(unescapeHtml("&ampersand and &copy2024"), "&ersand and \u00a92024");
    assert.equal(unescapeHtml("&notit; &notin; &amp &AMP; &Amp;"), "\u00acit; \u2209 & & &Amp;");
    assert.equal(
      unescapeHtml("&#0;|&#13;|&#128;|&#x85;|&#1;|&#xD800;|&#x110000;|&#99999999999999999999;"),
      "\ufffd|\r|\u20ac|\u2026||\ufffd|\ufffd|\ufffd",
    );
    assert.equal(unescapeHtml("&#65&#x42;&#x;&#;&"), "AB&#x;&#;&");
  });

  it("applies ftfy's cheap repairs", () => {
    assert.equal(
      fixText("\uff2c\uff2f\uff35\uff24\u3000\uff2e\uff2f\uff29\uff33\uff25\uff33"),
      "LOUD NOISES",
    );
    assert.equal(fixText("\uff35\uff80\uff70\uff9d"), "U\u30bf\u30fc\u30f3");
    assert.equal(fixText("\ufb02u\ufb03e\ufb06"), "fluffiest");
    assert.equal(fixText("\u201chere\u2019s a test\u201d"), '"here\'s a test"');
    assert.equal(fixText("P&EACUTE;REZ BUNDESSTRA&SZLIG;E"), "P\u00c9REZ BUNDESSTRASSE");
    assert.equal(fixText("&ntilde; &Ntilde; &NTILDE; &nTILDE;"), "\u00f1 \u00d1 \u00d1 &nTILDE;");
    assert.equal(fixText("\x1b[36;44mblue\x1b[0m"), "blue");
    assert.equal(fixText("a\r\nb\rc\u2028d"), "a\nb\nc\nd");
    assert.equal(fixText("x\u0000\u200by\ufeff"), "x\u200by");
    assert.equal(fixText("caf\u0065\u0301 \x93quoted\x94"), 'caf\u00e9 "quoted"');
    assert.equal(fixText("&amp;amp;amp;"), "&");
  });

  it("leaves entities alone from the first line that contains '<'", () => {
    assert.equal(fixText("&amp;\n<b>&amp;\n&amp;"), "&\n<b>&amp;\n&amp;");
  });
});

describe("ClipTokenizer.fromFolder errors", () => {
  async function folderWith(files: Record<string, string | undefined>): Promise<string> {
    const dir = await mkdtemp(join(root, "broken-"));
    const vocab = await readFile(join(ASSETS, "tokenizer", "vocab.json"), "utf8");
    const merges = await readFile(join(ASSETS, "tokenizer", "merges.txt"), "utf8");
    const all: Record<string, string | undefined> = { "vocab.json": vocab, "merges.txt": merges, ...files };
    for (const [name, text] of Object.entries(all))
      if (text !== undefined) await writeFile(join(dir, name), text);
    return dir;
  }

  async function assertFolderError(files: Record<string, string | undefined>, file: string, pattern: RegExp) {
    const dir = await folderWith(files);
    await assert.rejects(ClipTokenizer.fromFolder(dir), (error: unknown) => {
      assert.ok(error instanceof ModelFolderError, `expected ModelFolderError, got ${String(error)}`);
      assert.equal(error.path, join(dir, file));
      assert.match(error.message, pattern);
      return true;
    });
  }

  it("names a missing vocab.json or merges.txt", async () => {
    await assertFolderError({ "vocab.json": undefined }, "vocab.json", /missing/);
    await assertFolderError({ "merges.txt": undefined }, "merges.txt", /missing/);
  });

  it("names a malformed vocab.json", async () => {
    await assertFolderError({ "vocab.json": "{ not json" }, "vocab.json", /not valid JSON/);
    await assertFolderError({ "vocab.json": "[1, 2]" }, "vocab.json", /not a CLIP vocabulary/);
    await assertFolderError({ "vocab.json": '{"a": "x"}' }, "vocab.json", /not a token id/);
    await assertFolderError({ "vocab.json": '{"a": 1}' }, "vocab.json", /<\|startoftext\|>/);
  });

  it("names a malformed merges.txt", async () => {
    await assertFolderError(
      { "merges.txt": "#version: 0.2\ni n\nthree parts here\n" },
      "merges.txt",
      /line 3/,
    );
    await assertFolderError({ "merges.txt": "#version: 0.2\n" }, "merges.txt", /no merges/);
    await assertFolderError({ "merges.txt": "#version: 0.2\nq z\n" }, "merges.txt", /do not belong together/);
  });

  it("names a malformed or inconsistent special-tokens file", async () => {
    await assertFolderError({ "special_tokens_map.json": "{" }, "special_tokens_map.json", /not valid JSON/);
    await assertFolderError(
      { "tokenizer_config.json": '{"pad_token": "<|nope|>"}' },
      "tokenizer_config.json",
      /<\|nope\|>/,
    );
  });

  it("reads the pad token from either file, with special_tokens_map.json first, else <|endoftext|>", async () => {
    const pad = async (files: Record<string, string | undefined>) =>
      (await ClipTokenizer.fromFolder(await folderWith(files))).padTokenId;
    assert.equal(await pad({}), EOS);
    assert.equal(await pad({ "tokenizer_config.json": '{"pad_token": "!"}' }), 0);
    assert.equal(
      await pad({ "tokenizer_config.json": '{"pad_token": {"__type": "AddedToken", "content": "!"}}' }),
      0,
    );
    assert.equal(
      await pad({
        "special_tokens_map.json": '{"pad_token": "<|endoftext|>"}',
        "tokenizer_config.json": '{"pad_token": "!"}',
      }),
      EOS,
    );
  });

  it("accepts merges.txt with CRLF line endings", async () => {
    const merges = (await readFile(join(ASSETS, "tokenizer", "merges.txt"), "utf8")).replaceAll("\n", "\r\n");
    const tokenizer = await ClipTokenizer.fromFolder(await folderWith({ "merges.txt": merges }));
    assert.deepEqual(tokenizer.encode("a photo of a cat"), [320, 1125, 539, 320, 2368]);
  });
});
