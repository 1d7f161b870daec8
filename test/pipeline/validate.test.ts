/** The pipeline's own checks on a request: every entry point (CLI, queue, chat) goes through them. */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { InvalidInputError } from "../../src/errors.js";
import type { GenerateParams } from "../../src/pipeline/types.js";
import { LIMITS, validateGenerateParams } from "../../src/pipeline/validate.js";

const base: GenerateParams = {
  prompt: "a lighthouse at dusk",
  width: 1024,
  height: 1024,
  seed: 7n,
  steps: 4,
  guidance: 5,
  scheduler: "euler",
  count: 1,
};

function refused(change: Partial<GenerateParams>, field: string, message: RegExp): void {
  assert.throws(
    () => validateGenerateParams({ ...base, ...change }),
    (error: unknown) => {
      assert.ok(error instanceof InvalidInputError, String(error));
      assert.equal(error.field, field);
      assert.match(error.userMessage, message);
      return true;
    },
  );
}

describe("validateGenerateParams", () => {
  it("treats a prompt of only invisible characters as empty", () => {
    for (const prompt of [
      "\u200B",
      "\u200B\u200C\u200D\uFEFF",
      " \u2060 \u00AD ",
      "\u3164\u115F",
      "\uFE0F",
      "\u0000\u0007",
    ]) {
      refused({ prompt }, "prompt", /prompt is empty/);
    }
    assert.doesNotThrow(() => validateGenerateParams({ ...base, prompt: "\u200Bcat" }));
  });

  it("caps the prompt at 1000 characters, counted as code points", () => {
    assert.equal(LIMITS.maxPromptLength, 1000);
    assert.doesNotThrow(() => validateGenerateParams({ ...base, prompt: "😀".repeat(1000) }));
    refused({ prompt: "a".repeat(1001) }, "prompt", /1001 characters; the limit is 1000/);
    refused({ prompt: "a".repeat(30_000) }, "prompt", /the limit is 1000/);
  });

  it("caps the negative prompt, leaving room for the operator's safety negative", () => {
    assert.doesNotThrow(() =>
      validateGenerateParams({ ...base, negativePrompt: `${"b".repeat(1000)}, nsfw, nudity` }),
    );
    refused({ negativePrompt: "b".repeat(30_000) }, "negative", /negative prompt is 30000 characters/);
  });

  it("refuses out-of-range emphasis in the prompt and the negative prompt", () => {
    refused({ prompt: `(cat:${"9".repeat(41)})` }, "prompt", /between -10 and 10/);
    refused({ prompt: `${"(".repeat(400)}cat${")".repeat(400)}` }, "prompt", /nest/);
    refused({ negativePrompt: "(fog:50)" }, "negative", /between -10 and 10/);
  });
});
