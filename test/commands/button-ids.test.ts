/** The documented bound on button ids is the longest id the encoding can produce. */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { type ButtonAction, encodeButton, MAX_BUTTON_ID_LENGTH } from "../../src/commands/buttons.js";

describe("button id length", () => {
  it("is at most 87 characters, reached by a strong variation of image 99 of a 64-character job id", () => {
    const jobId = "J".repeat(64);
    const longest: ButtonAction[] = [
      { kind: "reroll", jobId },
      { kind: "cancel", jobId },
      { kind: "refine", jobId, imageIndex: 99 },
      { kind: "upscale", jobId, imageIndex: 99 },
      { kind: "vary", jobId, imageIndex: 99, strength: "subtle" },
      { kind: "vary", jobId, imageIndex: 99, strength: "strong" },
      { kind: "zoom", jobId, imageIndex: 99, factor: 1.25 },
      { kind: "pan", jobId, imageIndex: 99, direction: "right" },
    ];
    const lengths = longest.map((action) => encodeButton(action).length);
    assert.equal(Math.max(...lengths), 87);
    assert.equal(encodeButton(longest[5]!).length, 87);
    assert.deepEqual(
      longest.slice(6).map((action) => encodeButton(action).length),
      [85, 85],
      "the canvas ids: a zoom factor of two decimals, the longest pan direction",
    );
    assert.ok(87 <= MAX_BUTTON_ID_LENGTH, "within Discord's and Slack's 100");
    assert.throws(
      () => encodeButton({ kind: "reroll", jobId: "J".repeat(65) }),
      "a longer job id is refused",
    );
    assert.throws(() => encodeButton({ kind: "refine", jobId, imageIndex: 100 }), "image 100 is refused");
  });
});
