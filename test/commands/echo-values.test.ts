/**
 * Values echoed in error messages are shown as given (spaces and invisible characters included),
 * and lone surrogates never reach a stored request or a message: they become U+FFFD, as the
 * tokenizer's clean-up reads them anyway.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { parseImagine } from "../../src/commands/imagine.js";
import { echo } from "../../src/commands/texts.js";
import { InvalidInputError } from "../../src/errors.js";
import { alice, assertInvalid, config, countingSeeds } from "./support.js";

/** No lone surrogate (String.prototype.isWellFormed, which the ES2023 typings lack). */
const isWellFormed = (text: string) =>
  !/[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/.test(text);

const imagine = (text: string, options?: Record<string, string | number | boolean>) =>
  parseImagine({ text, ...(options ? { options } : {}) }, alice, config, countingSeeds());

describe("values echoed in errors", () => {
  it("show a padded number with its spaces, quoted, not as the number it looks like", () => {
    assertInvalid(() => imagine("a fox", { steps: " 2 " }), "steps", /you gave " 2 "\.$/);
    assertInvalid(() => imagine("a fox", { guidance: "7 " }), "guidance", /you gave "7 "\.$/);
    assertInvalid(() => imagine("a fox", { seed: "\t5" }), "seed", /you gave "\\t5"\.$/);
    assertInvalid(() => imagine("a fox", { steps: 2000 }), "steps", /you gave 2000\.$/);
  });

  it("write invisible characters out instead of hiding them", () => {
    assertInvalid(() => imagine("a fox", { steps: "2\u200b" }), "steps", /you gave "2\\u\{200B\}"\.$/);
    assert.equal(echo("a\u202eb"), '"a\\u{202E}b"');
  });

  it("cut long values on a character boundary, never inside an emoji", () => {
    const shown = echo("😀".repeat(40));
    assert.ok(isWellFormed(shown));
    assert.equal(Array.from(shown).length, 32 + 2);
  });
});

describe("lone surrogates", () => {
  it("become U+FFFD in the prompt and negative prompt of a request", () => {
    const request = imagine("a fox \ud83e at dawn --no fog \udd8a");
    assert.equal(request.prompt, "a fox \ufffd at dawn");
    assert.equal(request.negativePrompt?.startsWith("fog \ufffd"), true);
    const structured = parseImagine(
      { text: "a fox\ud800", options: { negative: "\udc00 blur" } },
      alice,
      config,
      countingSeeds(),
    );
    assert.equal(structured.prompt, "a fox\ufffd");
    assert.ok(isWellFormed(JSON.stringify(structured)));
  });

  it("never reach a request or an error message, whatever the input", () => {
    const text = fc.string({
      unit: fc.oneof(
        fc.constantFrom("\ud800", "\udfff", "\ud83e", " ", "-", "--steps"),
        fc.string({ minLength: 1, maxLength: 1 }),
      ),
      maxLength: 40,
    });
    fc.assert(
      fc.property(
        text,
        fc.string({ unit: fc.constantFrom("\ud800", "\udc00", "1", " "), maxLength: 6 }),
        (prompt, steps) => {
          try {
            const request = imagine(`x ${prompt}`, { steps });
            assert.ok(isWellFormed(request.prompt), JSON.stringify(request.prompt));
            assert.ok(request.negativePrompt === undefined || isWellFormed(request.negativePrompt));
          } catch (error) {
            assert.ok(error instanceof InvalidInputError, String(error));
            assert.ok(isWellFormed(error.userMessage), JSON.stringify(error.userMessage));
          }
        },
      ),
      { numRuns: 300 },
    );
  });
});
