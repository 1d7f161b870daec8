import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { parseImagine } from "../../src/commands/imagine.js";
import { findBlockedTerm, negativeWithSafety } from "../../src/commands/policy.js";
import { alice, assertInvalid, config, countingSeeds } from "./support.js";

const blocked = "Your prompt contains a term that isn't allowed here. Please rephrase it.";

describe("blocked terms", () => {
  it("match whole words and phrases, ignoring case, width and invisible characters", () => {
    const terms = ["forbidden", "two words"];
    assert.equal(findBlockedTerm("a FORBIDDEN castle", terms), "forbidden");
    assert.equal(findBlockedTerm("forbidden, at dawn", terms), "forbidden");
    assert.equal(findBlockedTerm("(forbidden)", terms), "forbidden");
    assert.equal(findBlockedTerm("ＦＯＲＢＩＤＤＥＮ", terms), "forbidden");
    assert.equal(findBlockedTerm("for\u200Bbidden fruit", terms), "forbidden");
    assert.equal(findBlockedTerm("just Two   Words here", terms), "two words");
  });

  it("do not match inside longer words", () => {
    const terms = ["forbidden", "two words"];
    assert.equal(findBlockedTerm("unforbiddenness", terms), undefined);
    assert.equal(findBlockedTerm("forbidden_city", terms), undefined);
    assert.equal(findBlockedTerm("two wordsmiths", terms), undefined);
    assert.equal(findBlockedTerm("a calm lake", terms), undefined);
    assert.equal(findBlockedTerm("anything", []), undefined);
  });

  it("treat terms as text, not patterns", () => {
    assert.equal(findBlockedTerm("a.b", ["a.b"]), "a.b");
    assert.equal(findBlockedTerm("axb", ["a.b"]), undefined);
  });

  it("refuse the prompt with a message that names neither the term nor the list", () => {
    assertInvalid(
      () => parseImagine({ text: "a Forbidden castle --ar 16:9" }, alice, config, countingSeeds()),
      "prompt",
      blocked,
    );
    assertInvalid(
      () =>
        parseImagine(
          { text: "a forbidden castle" },
          { ...alice, nsfwChannel: true },
          config,
          countingSeeds(),
        ),
      "prompt",
      blocked,
    );
  });

  it("do not apply to the negative prompt", () => {
    const request = parseImagine({ text: "a castle --no forbidden" }, alice, config, countingSeeds());
    assert.equal(request.negativePrompt, "forbidden, nsfw, nudity");
  });
});

describe("safety negative prompt", () => {
  const policy = { blockedTerms: [], safetyNegative: "nsfw, nudity" };

  it("is added after the user's negative prompt outside NSFW channels", () => {
    assert.equal(negativeWithSafety("fog", policy, false), "fog, nsfw, nudity");
    assert.equal(negativeWithSafety(undefined, policy, undefined), "nsfw, nudity");
    const request = parseImagine({ text: "a castle --no fog" }, alice, config, countingSeeds());
    assert.equal(request.negativePrompt, "fog, nsfw, nudity");
  });

  it("is left out in NSFW channels", () => {
    assert.equal(negativeWithSafety("fog", policy, true), "fog");
    assert.equal(negativeWithSafety(undefined, policy, true), undefined);
    const nsfw = { ...alice, nsfwChannel: true };
    assert.equal(parseImagine({ text: "a castle" }, nsfw, config, countingSeeds()).negativePrompt, undefined);
  });

  it("is absent when not configured, and empty user input means no negative prompt", () => {
    const none = { blockedTerms: [], safetyNegative: "" };
    assert.equal(negativeWithSafety("  ", none, false), undefined);
    assert.equal(negativeWithSafety("fog", none, false), "fog");
    assert.equal(negativeWithSafety("", policy, false), "nsfw, nudity");
  });
});
