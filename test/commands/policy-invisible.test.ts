/**
 * Blocked terms against invisible and formatting characters: the filter reads the prompt in the
 * order the text encoder does (emphasis, clean-up with HTML entities, then invisible characters),
 * so a phrase the encoder reads is refused however it is split or joined by characters nobody sees.
 * The property tests check the filter against the bundled CLIP tokenizer itself.
 */
import assert from "node:assert/strict";
import { before, describe, it } from "node:test";
import fc from "fast-check";
import { findBlockedTerm } from "../../src/commands/policy.js";
import { ClipTokenizer, parsePromptWeights } from "../../src/pipeline/tokenizer/index.js";
import { readTokenizerFolder } from "../../src/pipeline/tokenizer/tokenizer-folder.js";

const RUNS = 300;

/** Characters nobody sees, and HTML spellings the tokenizer's clean-up decodes to them. */
const INVISIBLES = [
  "\u200b", // zero-width space
  "\u200c", // zero-width non-joiner
  "\u200d", // zero-width joiner
  "\u200e", // left-to-right mark
  "\u200f", // right-to-left mark
  "\u202a", // left-to-right embedding
  "\u202c", // pop directional formatting
  "\u2066", // left-to-right isolate
  "\u2069", // pop directional isolate
  "\u2060", // word joiner
  "\u2063", // invisible separator
  "\u00ad", // soft hyphen
  "\u180e", // Mongolian vowel separator
  "\u034f", // combining grapheme joiner
  "\ufe0f", // variation selector 16
  "\u{e0100}", // variation selector 17
  "\u{e0020}", // tag space
  "\u3164", // Hangul filler (a letter to Unicode)
  "\u115f", // Hangul choseong filler
  "&shy;",
  "&SHY;",
  "&#173;",
  "&#8203;",
  "&#x200B;",
  "&ZeroWidthSpace;",
  "&zwj;",
  "&zwnj;",
  "&lrm;",
  "&NoBreak;",
  "&amp;shy;", // decoded twice, as the tokenizer does
  "&amp;#8204;",
];

const invisible = fc.constantFrom(...INVISIBLES);
const letters = fc.constantFrom(..."redpanbo");
const word = fc.string({ unit: letters, minLength: 2, maxLength: 6 });

let tokenizer: ClipTokenizer;
let symbolOf: Map<number, string>;
before(async () => {
  const vocabulary = await readTokenizerFolder("assets/tokenizer");
  tokenizer = new ClipTokenizer(vocabulary);
  symbolOf = new Map([...vocabulary.vocab].map(([symbol, id]) => [id, symbol]));
});

/** GPT-2's byte alphabet read backwards: the character that spells each byte, to the byte. */
function byteOfSymbolChar(): Map<string, number> {
  const bytes = new Map<string, number>();
  let next = 256;
  for (let byte = 0; byte < 256; byte++) {
    const printable = (byte >= 0x21 && byte <= 0x7e) || (byte >= 0xa1 && byte <= 0xac) || byte >= 0xae;
    bytes.set(String.fromCharCode(printable ? byte : next++), byte);
  }
  return bytes;
}
const BYTES = byteOfSymbolChar();
const utf8 = new TextDecoder();

/** The pre-tokens the encoder read, recovered from its token ids (each pre-token ends in `</w>`). */
function preTokensRead(prompt: string): string[] {
  const ids = parsePromptWeights(prompt).flatMap((segment) => tokenizer.encode(segment.text));
  const spelled = ids.map((id) => symbolOf.get(id)!).join("");
  return spelled
    .split("</w>")
    .filter((piece) => piece.length > 0)
    .map((piece) => utf8.decode(Uint8Array.from(Array.from(piece), (char) => BYTES.get(char)!)));
}

/**
 * Whether the encoder read `phrase` as consecutive words: letter pre-tokens in a row, where a
 * pre-token of only invisible characters stands between them and any other pre-token ends the run.
 */
function encoderReads(prompt: string, phrase: readonly string[]): boolean {
  const words: (string | undefined)[] = [];
  for (const token of preTokensRead(prompt)) {
    if (/^\p{L}+$/u.test(token)) words.push(token);
    else if (!/^[\p{Cf}\p{Default_Ignorable_Code_Point}\p{Mn}]+$/u.test(token)) words.push(undefined);
  }
  for (let i = 0; i + phrase.length <= words.length; i++) {
    if (phrase.every((each, j) => words[i + j] === each)) return true;
  }
  return false;
}

describe("blocked terms with invisible characters", () => {
  const terms = ["red panda", "nude"];

  it("refuse a phrase whose words an invisible character separates, as the encoder reads it", () => {
    for (const prompt of [
      "a red\u200bpanda",
      "a red\u2060panda",
      "a red\u00adpanda",
      "a red&shy;panda",
      "a red&#8203;panda",
      "a red&amp;shy;panda",
      "a RED\u200dPANDA",
      "a red\ufe0fpanda",
      "a red\u{e0020}panda",
      "a red\u3164panda",
      "a (red:1.2)panda", // the encoder tokenizes each weighted segment on its own
      "a [red]panda",
    ]) {
      assert.equal(findBlockedTerm(prompt, terms), "red panda", JSON.stringify(prompt));
    }
  });

  it("refuse a word an invisible character or an HTML entity cuts in two", () => {
    for (const prompt of [
      "nu\u200bde",
      "nu&shy;de",
      "nu&SHY;de",
      "nu&#173;de",
      "nu&amp;shy;de",
      "nu\u2060de",
      "n\u200cu\u200dd\u00ade",
      "(nu:1.1)de",
      "a red\u00adpan\u200bda", // one cut joins, the other splits
      "a re\u200bd\u2060pan&shy;da",
    ]) {
      assert.ok(findBlockedTerm(prompt, terms) !== undefined, JSON.stringify(prompt));
    }
  });

  it("read white space at an emphasis edge as a space, not as a join", () => {
    assert.equal(findBlockedTerm("a sea (horse) at dawn", ["seahorse"]), undefined);
    assert.equal(findBlockedTerm("a (sea) horse", ["seahorse"]), undefined);
    assert.equal(findBlockedTerm("a sea(horse)", ["seahorse"]), "seahorse");
    assert.equal(findBlockedTerm("a sea (horse)", ["sea horse"]), "sea horse");
  });

  it("still need whole words", () => {
    for (const prompt of [
      "a redpanda",
      "xred\u200bpandas",
      "red\u200bpandas",
      "nudes\u200b",
      "a red, pandas",
    ]) {
      assert.equal(findBlockedTerm(prompt, terms), undefined, JSON.stringify(prompt));
    }
  });

  it("refuse whatever the bundled CLIP tokenizer reads as the phrase", () => {
    const separator = fc.oneof(
      fc.constant(" "),
      fc.constant(", "),
      fc.constant("_"),
      invisible,
      fc.tuple(invisible, invisible).map(([a, b]) => a + b),
      invisible.map((each) => ` ${each}`),
    );
    const part = fc.record({
      isPhrase: fc.boolean(),
      word,
      inner: fc.array(separator, { minLength: 1, maxLength: 1 }),
      wrap: fc.constantFrom(["", ""], ["(", ")"], ["[", "]"], ["(", ":1.3)"]),
      after: separator,
    });
    const prompt = fc
      .tuple(fc.array(word, { minLength: 1, maxLength: 2 }), fc.array(part, { minLength: 1, maxLength: 8 }))
      .map(([phrase, parts]) => {
        const text = parts
          .map(({ isPhrase, word: other, inner, wrap, after }) => {
            const body = isPhrase ? phrase.join(inner[0]) : other;
            return wrap[0] + body + wrap[1] + after;
          })
          .join("");
        return { phrase, text };
      });
    let read = 0;
    fc.assert(
      fc.property(prompt, ({ phrase, text }) => {
        if (!encoderReads(text, phrase)) return;
        read++;
        assert.equal(findBlockedTerm(text, [phrase.join(" ")]), phrase.join(" "), JSON.stringify(text));
      }),
      { numRuns: RUNS },
    );
    assert.ok(read > RUNS / 10, `only ${read} prompts held the phrase`);
  });

  it("keep refusing a phrase when invisible characters are inserted anywhere in it", () => {
    const insertions = fc.array(fc.tuple(fc.nat(), invisible), { minLength: 1, maxLength: 6 });
    fc.assert(
      fc.property(fc.array(word, { minLength: 1, maxLength: 3 }), insertions, (phrase, inserts) => {
        const term = phrase.join(" ");
        // before[k]: what is inserted before the phrase's k-th character (k = length: after it).
        const before = new Array<string>(term.length + 1).fill("");
        for (const [at, each] of inserts) before[at % before.length] += each;
        const spelled = Array.from(term, (char, k) => before[k] + char).join("") + before[term.length];
        const text = `a ${spelled} at dawn`;
        assert.equal(findBlockedTerm(text, [term]), term, JSON.stringify(text));
      }),
      { numRuns: RUNS },
    );
  });
});
