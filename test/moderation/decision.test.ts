/**
 * The decision for one image from its class probabilities: the unsafe score, the flag at the
 * threshold's edges, the mode's action and the NSFW-channel exemption.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  type ClassScores,
  decideModeration,
  isFlagged,
  topClass,
  unsafeScore,
} from "../../src/moderation/decision.js";

const scores = (values: Partial<ClassScores>): ClassScores => ({
  Drawing: 0,
  Hentai: 0,
  Neutral: 0,
  Porn: 0,
  Sexy: 0,
  ...values,
});

const settings = { mode: "blur" as const, threshold: 0.5, nsfwChannels: false };

describe("moderation decisions", () => {
  it("the unsafe score is Porn + Hentai + Sexy; Drawing and Neutral are safe", () => {
    const mixed = unsafeScore(scores({ Neutral: 0.7, Porn: 0.1, Hentai: 0.05, Sexy: 0.15 }));
    assert.ok(Math.abs(mixed - 0.3) < 1e-12, `${mixed}`);
    assert.equal(unsafeScore(scores({ Drawing: 0.6, Neutral: 0.4 })), 0);
    // float32 softmax sums can pass 1 by a hair: clamped
    assert.equal(unsafeScore(scores({ Porn: 0.6000001, Sexy: 0.4 })), 1);
  });

  it("the label is the top class, ties going to the first in nsfwjs' order", () => {
    assert.equal(topClass(scores({ Neutral: 0.4, Sexy: 0.35, Porn: 0.25 })), "Neutral");
    assert.equal(topClass(scores({ Drawing: 0.5, Sexy: 0.5 })), "Drawing");
  });

  it("threshold 0 flags every score, 0 included; threshold 1 flags none, 1 included", () => {
    for (const score of [0, 1e-9, 0.3, 0.999, 1]) {
      assert.equal(isFlagged(score, 0), true, `score ${score} at threshold 0`);
      assert.equal(isFlagged(score, 1), false, `score ${score} at threshold 1`);
    }
    assert.equal(isFlagged(0.5, 0.5), true, "a score at the threshold is flagged");
    assert.equal(isFlagged(0.4999, 0.5), false);
  });

  it("a flagged image gets the mode's action, an unflagged one none", () => {
    const unsafe = scores({ Neutral: 0.2, Porn: 0.8 });
    for (const mode of ["spoiler", "blur", "withhold"] as const) {
      assert.deepEqual(decideModeration(unsafe, { ...settings, mode }, {}), {
        flagged: true,
        score: 0.8,
        label: "Porn",
        action: mode,
      });
    }
    assert.deepEqual(decideModeration(scores({ Neutral: 0.9, Sexy: 0.1 }), settings, {}), {
      flagged: false,
      score: 0.1,
      label: "Neutral",
      action: "none",
    });
  });

  it("a channel marked NSFW is exempt (flagged, action none) unless NSFW channels are moderated too", () => {
    const unsafe = scores({ Sexy: 0.9, Neutral: 0.1 });
    const exempt = decideModeration(unsafe, settings, { nsfwChannel: true });
    assert.deepEqual(exempt, { flagged: true, score: 0.9, label: "Sexy", action: "none" });
    const moderated = decideModeration(unsafe, { ...settings, nsfwChannels: true }, { nsfwChannel: true });
    assert.equal(moderated.action, "blur");
    assert.equal(decideModeration(unsafe, settings, { nsfwChannel: false }).action, "blur");
  });

  it("keeps the score to 4 decimals, and flags by the score it keeps", () => {
    const decision = decideModeration(scores({ Neutral: 0.50004, Porn: 0.49996 }), settings, {});
    assert.equal(decision.score, 0.5);
    assert.equal(decision.flagged, true, "what is shown (0.5) is what is compared with 0.5");
  });
});
