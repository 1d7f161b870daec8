/** The pipeline's own checks on a request: every entry point (CLI, queue, chat) goes through them. */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { InvalidInputError } from "../../src/errors.js";
import type { CanvasAction, GenerateParams } from "../../src/pipeline/types.js";
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

describe("validateGenerateParams: canvas actions", () => {
  const png = new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 0]);
  const source = { image: png, strength: 0.9, upscale: 1 as const };

  it("accepts zoom out, pan and repaint on a source image", () => {
    for (const canvas of [
      { kind: "zoom_out", factor: 1 },
      { kind: "zoom_out", factor: 2 },
      { kind: "zoom_out", factor: 1.37 },
      { kind: "pan", direction: "left" },
      { kind: "pan", direction: "down" },
      { kind: "repaint", mask: png },
      { kind: "repaint", rects: [{ x: 0, y: 0, width: 1, height: 1 }] },
    ] satisfies CanvasAction[]) {
      assert.doesNotThrow(() => validateGenerateParams({ ...base, source, canvas }), JSON.stringify(canvas));
    }
  });

  it("needs a source image without upscaling", () => {
    refused({ canvas: { kind: "pan", direction: "left" } }, "canvas", /need a source image/);
    refused(
      { source: { ...source, upscale: 2 }, canvas: { kind: "zoom_out", factor: 2 } },
      "canvas",
      /cannot upscale/,
    );
  });

  it("refuses zoom factors outside 1-2", () => {
    for (const factor of [0.5, 0.99, 2.01, 4, Number.NaN, Number.POSITIVE_INFINITY]) {
      refused({ source, canvas: { kind: "zoom_out", factor } }, "zoom", /Zoom must be a number from 1 to 2/);
    }
  });

  it("refuses an unknown pan direction or action", () => {
    refused(
      { source, canvas: { kind: "pan", direction: "north" as "left" } },
      "canvas",
      /Unknown pan direction "north"/,
    );
    refused(
      { source, canvas: { kind: "rotate" } as unknown as GenerateParams["canvas"] },
      "canvas",
      /Unknown canvas action "rotate"/,
    );
  });

  it("refuses a mask that is not an image, and both or neither of mask and rectangles", () => {
    refused(
      { source, canvas: { kind: "repaint", mask: new TextEncoder().encode("GIF89a....") } },
      "mask",
      /not a PNG/,
    );
    refused({ source, canvas: { kind: "repaint", mask: new Uint8Array() } }, "mask", /not a PNG/);
    refused(
      { source, canvas: { kind: "repaint", mask: png, rects: [] } as unknown as GenerateParams["canvas"] },
      "mask",
      /either a mask image or rectangles/,
    );
    refused({ source, canvas: { kind: "repaint" } as unknown as GenerateParams["canvas"] }, "mask", /either/);
  });

  it("refuses empty, too many or malformed rectangles", () => {
    refused({ source, canvas: { kind: "repaint", rects: [] } }, "mask", /at least one rectangle/);
    const many = Array.from({ length: 65 }, () => ({ x: 0, y: 0, width: 8, height: 8 }));
    refused({ source, canvas: { kind: "repaint", rects: many } }, "mask", /at most 64 rectangles/);
    for (const rect of [
      { x: -1, y: 0, width: 8, height: 8 },
      { x: 0, y: 0, width: 0, height: 8 },
      { x: 0.5, y: 0, width: 8, height: 8 },
      { x: 0, y: 0, width: 8, height: 1e9 },
      { x: 0, y: 0, width: 8 },
    ]) {
      refused(
        { source, canvas: { kind: "repaint", rects: [{ x: 0, y: 0, width: 8, height: 8 }, rect as never] } },
        "mask",
        /Rectangle 2:/,
      );
    }
  });
});
