/** `--lora NAME[:SCALE]` in /imagine's text and options: the catalogue, scales, limits, models. */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { requestForButton } from "../../src/commands/buttons.js";
import { parseImagine } from "../../src/commands/imagine.js";
import { resultCaption } from "../../src/commands/texts.js";
import type { Config } from "../../src/config.js";
import { plainModel } from "../../src/config.js";
import { catalogueLora } from "../../src/models/loras.js";
import { generateParamsOf } from "../../src/queue/params.js";
import { alice, assertInvalid, countingSeeds, plainConfig } from "./support.js";

const config: Config = {
  ...plainConfig,
  models: {
    models: [plainModel("base", "models/base"), plainModel("turbo", "models/turbo")],
    defaultName: "base",
  },
  loras: [
    catalogueLora("ink", { trigger: "ink sketch", scale: 0.7, label: "Ink" }),
    catalogueLora("clay", undefined),
    catalogueLora("pixel", { models: ["turbo"] }),
    catalogueLora("extra", undefined),
  ],
};

const parse = (text: string, options?: Record<string, string>, cfg = config) =>
  parseImagine({ text, ...(options ? { options } : {}) }, alice, cfg, countingSeeds());

describe("--lora", () => {
  it("records each LoRA by name with its scale (the catalogue's default without one) and trigger", () => {
    const request = parse("a fox --lora INK --lora clay:-0.5");
    assert.deepEqual(request.loras, [
      { name: "ink", scale: 0.7, trigger: "ink sketch" },
      { name: "clay", scale: -0.5 },
    ]);
    assert.equal(request.prompt, "a fox");
    // The text encoders read the trigger words after the prompt.
    assert.equal(generateParamsOf(request).prompt, "a fox, ink sketch");
    assert.match(resultCaption(request, { seeds: ["1"], durationMs: 10 }), /LoRA ink:0\.7 · LoRA clay:-0\.5/);
  });

  it("takes the structured option, comma-separated, together with the flag", () => {
    const request = parse("a fox --lora ink:1", { lora: "clay:0.25, extra" });
    assert.deepEqual(
      request.loras?.map((lora) => [lora.name, lora.scale]),
      [
        ["ink", 1],
        ["clay", 0.25],
        ["extra", 1],
      ],
    );
  });

  it("leaves requests without --lora without loras", () => {
    assert.equal(parse("a fox").loras, undefined);
  });

  it("refuses an unknown LoRA naming the ones there are", () => {
    assertInvalid(
      () => parse("a fox --lora ../../etc/passwd"),
      "lora",
      /^There is no LoRA .*; LoRAs: ink, clay, pixel, extra\.$/,
    );
    assertInvalid(() => parse("a fox --lora nope"), "lora", /There is no LoRA "nope"/);
  });

  it("refuses scales outside -4..4 or not numbers", () => {
    assertInvalid(
      () => parse("a fox --lora ink:5"),
      "lora",
      /scale of LoRA ink must be a number from -4 to 4; you gave 5/,
    );
    assertInvalid(() => parse("a fox --lora ink:1e1"), "lora", /scale of LoRA ink/);
    assertInvalid(() => parse("a fox --lora ink:"), "lora", /scale of LoRA ink/);
  });

  it("refuses more than EASEL_MAX_LORAS, the same LoRA twice, and any with EASEL_MAX_LORAS=0", () => {
    assertInvalid(
      () => parse("a fox --lora ink --lora clay --lora extra --lora pixel --model turbo"),
      "lora",
      "At most 3 LoRAs at once; you gave 4.",
    );
    assertInvalid(
      () => parse("a fox --lora ink --lora INK:0.3"),
      "lora",
      "You gave LoRA ink twice; keep one.",
    );
    assertInvalid(
      () => parse("a fox --lora ink", undefined, { ...config, maxLoras: 0 }),
      "lora",
      "This bot does not take LoRAs.",
    );
  });

  it("refuses a prompt that the trigger words take past the prompt limit", () => {
    const long = "a".repeat(995);
    assert.equal(parse(long).prompt, long);
    assertInvalid(
      () => parse(`${long} --lora ink`),
      "lora",
      "With the LoRAs' trigger words the prompt is 1007 characters; the limit is 1000. Shorten the prompt.",
    );
  });

  it("refuses a LoRA whose models leave out the chosen model", () => {
    assertInvalid(() => parse("a fox --lora pixel"), "lora", /LoRA pixel is made for turbo, not base/);
    assert.deepEqual(parse("a fox --lora pixel --model turbo").loras, [{ name: "pixel", scale: 1 }]);
  });

  it("keeps the LoRAs through re-roll and vary", () => {
    const original = parse("a fox --lora ink:0.5 --n 2");
    const reroll = requestForButton({ kind: "reroll", jobId: "j1" }, original, alice, () => 5n);
    assert.deepEqual(reroll.loras, original.loras);
    const vary = requestForButton(
      { kind: "vary", jobId: "j1", imageIndex: 1, strength: "subtle" },
      original,
      alice,
      () => 5n,
    );
    assert.deepEqual(vary.loras, original.loras);
  });
});
