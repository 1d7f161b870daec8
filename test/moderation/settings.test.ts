/** The moderation settings as config.ts reads them: defaults, values, and refusals naming the setting. */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { loadConfig } from "../../src/config.js";
import { BUILT_IN_CLASSIFIERS, DEFAULT_CLASSIFIER } from "../../src/moderation/settings.js";

describe("moderation settings", () => {
  it("default to off, 0.5, NSFW channels exempt, the default built-in classifier", () => {
    assert.deepEqual(loadConfig({}).moderation, {
      mode: "off",
      threshold: 0.5,
      nsfwChannels: false,
      model: DEFAULT_CLASSIFIER,
    });
    assert.ok(DEFAULT_CLASSIFIER in BUILT_IN_CLASSIFIERS);
  });

  it("read every mode, a threshold from 0 to 1, NSFW channels on, and a model name or folder", () => {
    for (const mode of ["spoiler", "blur", "withhold"] as const) {
      assert.equal(loadConfig({ EASEL_MODERATION: mode }).moderation.mode, mode);
    }
    const config = loadConfig({
      EASEL_MODERATION: "blur",
      EASEL_MODERATION_THRESHOLD: "0",
      EASEL_MODERATION_NSFW_CHANNELS: "on",
      EASEL_MODERATION_MODEL: "/srv/models/nsfw",
    });
    assert.deepEqual(config.moderation, {
      mode: "blur",
      threshold: 0,
      nsfwChannels: true,
      model: "/srv/models/nsfw",
    });
    assert.equal(loadConfig({ EASEL_MODERATION_THRESHOLD: "1" }).moderation.threshold, 1);
  });

  it("turn live previews off while moderation is on: the devices make no unchecked pictures", () => {
    assert.equal(loadConfig({ EASEL_PREVIEW_EVERY: "3" }).generation.previewEvery, 3);
    for (const mode of ["spoiler", "blur", "withhold"] as const) {
      assert.equal(
        loadConfig({ EASEL_MODERATION: mode, EASEL_PREVIEW_EVERY: "3" }).generation.previewEvery,
        0,
      );
    }
  });

  it("refuse a mode, threshold or switch outside their values, naming the setting", () => {
    assert.throws(
      () => loadConfig({ EASEL_MODERATION: "nsfw" }),
      /^ConfigError: EASEL_MODERATION: .*got "nsfw"/,
    );
    assert.throws(
      () => loadConfig({ EASEL_MODERATION_THRESHOLD: "1.5" }),
      /EASEL_MODERATION_THRESHOLD: must be a number from 0 to 1; got "1.5"/,
    );
    assert.throws(
      () => loadConfig({ EASEL_MODERATION_THRESHOLD: "high" }),
      /EASEL_MODERATION_THRESHOLD: must be a number from 0 to 1/,
    );
    assert.throws(
      () => loadConfig({ EASEL_MODERATION_NSFW_CHANNELS: "yes" }),
      /EASEL_MODERATION_NSFW_CHANNELS: /,
    );
  });
});
