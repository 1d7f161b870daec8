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
    assert.equal(findBlockedTerm("forbiddens", terms), undefined);
    assert.equal(findBlockedTerm("two wordsmiths", terms), undefined);
    assert.equal(findBlockedTerm("a calm lake", terms), undefined);
    assert.equal(findBlockedTerm("anything", []), undefined);
  });

  it("match the words the text encoder reads: _, digits and punctuation end a word", () => {
    const terms = ["nude"];
    for (const prompt of [
      "nude_woman",
      "nude1",
      "a nude-woman",
      "2nude",
      "NUDE.",
      "(nude:1.2)",
      "((nude))",
      "nu[]de", // an empty pair leaves "nude" for the tokenizer
      "&#110;ude", // the tokenizer's clean-up decodes HTML entities
      "n\u0336u\u0336d\u0336e\u0336", // combining strokes over the letters
      "nude\u00B9", // a superscript digit
    ]) {
      assert.equal(findBlockedTerm(prompt, terms), "nude", prompt);
    }
    assert.equal(findBlockedTerm("the year 2018", ["18"]), undefined);
    assert.equal(findBlockedTerm("age_18", ["18"]), "18");
    assert.equal(findBlockedTerm("two_words", ["two words"]), "two words");
  });

  it("search every chunk of a long prompt", () => {
    const long = `${"a quiet harbour at dawn, ".repeat(38)}nude`;
    assert.ok(long.length <= 1000 && long.length > 900);
    assert.equal(findBlockedTerm(long, ["nude"]), "nude");
    assert.equal(findBlockedTerm(`nude ${"gentle waves ".repeat(70)}`, ["nude"]), "nude");
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

  it("refuse a term joined to other words by _ or digits", () => {
    for (const text of ["a forbidden_city at night", "forbidden1 --ar 16:9"]) {
      assertInvalid(() => parseImagine({ text }, alice, config, countingSeeds()), "prompt", blocked);
    }
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
