import assert from "node:assert/strict";
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, it } from "node:test";
import { limitsOf } from "../../src/commands/options.js";
import { loadConfig } from "../../src/config.js";
import { ConfigError } from "../../src/errors.js";
import { withModelCatalogue } from "../../src/models/catalogue.js";
import { parseModelSettings } from "../../src/models/model-settings.js";
import { MODEL_PRESETS } from "../../src/models/presets.js";
import { defaultModelOf, modelNamed } from "../../src/requests/models.js";
import { modelsFolder } from "./support.js";

const FILE = "/models/x/easel.json";

function refusal(text: string): string {
  try {
    parseModelSettings(text, FILE);
  } catch (error) {
    assert.ok(error instanceof ConfigError, String(error));
    return error.message;
  }
  assert.fail(`accepted ${text}`);
}

describe("easel.json", () => {
  it("takes a preset and fields that override it", () => {
    assert.deepEqual(parseModelSettings('{"preset": "sdxl-turbo", "steps": 2, "label": "Quick"}', FILE), {
      preset: "sdxl-turbo",
      steps: 2,
      label: "Quick",
    });
    assert.deepEqual(
      parseModelSettings('{"guidance": 0, "scheduler": "ddim", "spacing": "trailing"}', FILE),
      {
        guidance: 0,
        scheduler: "ddim",
        spacing: "trailing",
      },
    );
  });

  it("refuses a bad file with one error naming the file and the field", () => {
    const cases: Array<[string, RegExp]> = [
      ['{"preset": "sdxl-rocket"}', /field "preset"/],
      ['{"steps": "four"}', /field "steps"/],
      ['{"steps": 0}', /field "steps"/],
      ['{"guidance": -1}', /field "guidance"/],
      ['{"scheduler": "heun"}', /field "scheduler"/],
      ['{"width": 1004}', /field "width".*multiple of 8/],
      ['{"height": 256}', /field "height".*>=512/],
      ['{"spacing": "middle"}', /field "spacing"/],
      ['{"stpes": 4}', /unknown field stpes/],
      ['{"preset": "sdxl-turbo", "steps": 6}', /field "steps": 6 is above maxSteps \(4\)/],
      ['{"preset": "sdxl-turbo",}', /not valid JSON/],
      ["[1, 2]", /the file/],
    ];
    for (const [text, pattern] of cases) {
      const message = refusal(text);
      assert.ok(message.startsWith(`${FILE}: `), message);
      assert.match(message, pattern, text);
    }
  });
});

describe("the model catalogue", () => {
  it("offers every SDXL export under EASEL_MODELS_DIR by its folder's name, with its preset", async (t) => {
    const { root, modelsDir } = await modelsFolder(t, {
      turbo: { settings: { preset: "sdxl-turbo" } },
      photo: {},
      refiner: { variant: "refiner" },
    });
    await mkdir(join(modelsDir, "notes"));
    await writeFile(join(modelsDir, "notes", "readme.txt"), "not a model");
    const { config, skipped } = await withModelCatalogue(
      loadConfig({ EASEL_MODELS_DIR: modelsDir, EASEL_DATA_DIR: join(root, "data") }),
    );
    assert.deepEqual(
      config.models.models.map((model) => model.name),
      ["photo", "turbo"],
    );
    assert.deepEqual(skipped.map((folder) => folder.dir).sort(), [
      join(modelsDir, "notes"),
      join(modelsDir, "refiner"),
    ]);
    // Neither EASEL_MODEL_DIR nor EASEL_DEFAULT_MODEL: the first by name is the default.
    assert.equal(config.models.defaultName, "photo");
    assert.equal(config.modelDir, join(modelsDir, "photo"));
    assert.equal(config.demoModel, false);

    const turbo = limitsOf(config, modelNamed(config.models, "TURBO")!);
    assert.deepEqual(turbo, {
      defaults: { steps: 1, guidance: 0, scheduler: "euler-a", spacing: "trailing", width: 512, height: 512 },
      maxSteps: 4,
      minGuidance: 0,
    });
    assert.equal(modelNamed(config.models, "turbo")!.label, MODEL_PRESETS["sdxl-turbo"].label);
    // A folder without easel.json runs on the deployment's defaults.
    assert.deepEqual(limitsOf(config, modelNamed(config.models, "photo")!), {
      defaults: { steps: 30, guidance: 5, scheduler: "euler", width: 1024, height: 1024 },
      maxSteps: 150,
      minGuidance: 1,
    });
  });

  it("makes EASEL_MODEL_DIR's folder the default, and EASEL_DEFAULT_MODEL pick one by name", async (t) => {
    const { root, modelsDir } = await modelsFolder(t, {
      alpha: {},
      lightning: { settings: { preset: "sdxl-lightning-1step" } },
    });
    const own = join(root, "own-base");
    const { config } = await withModelCatalogue(
      loadConfig({ EASEL_MODELS_DIR: modelsDir, EASEL_MODEL_DIR: join(modelsDir, "lightning") }),
    );
    assert.equal(config.models.defaultName, "lightning");
    assert.equal(limitsOf(config, defaultModelOf(config.models)).defaults.prediction, "sample");
    const picked = await withModelCatalogue(
      loadConfig({ EASEL_MODELS_DIR: modelsDir, EASEL_DEFAULT_MODEL: "Lightning" }),
    );
    assert.equal(picked.config.models.defaultName, "lightning");
    assert.equal(picked.config.modelDir, join(modelsDir, "lightning"));
    await assert.rejects(
      withModelCatalogue(loadConfig({ EASEL_MODELS_DIR: modelsDir, EASEL_DEFAULT_MODEL: "turbo" })),
      (error) =>
        error instanceof ConfigError && /EASEL_DEFAULT_MODEL: "turbo".*alpha, lightning/.test(error.message),
    );
    // A folder outside the models folder named by EASEL_MODEL_DIR joins the catalogue as the default.
    const outside = await withModelCatalogue(
      loadConfig({ EASEL_MODELS_DIR: modelsDir, EASEL_MODEL_DIR: own }),
    );
    assert.deepEqual(
      outside.config.models.models.map((model) => model.name),
      ["alpha", "lightning", "own-base"],
    );
    assert.equal(outside.config.models.defaultName, "own-base");
  });

  it("keeps the demo model when there is no model at all", async (t) => {
    const { root, modelsDir } = await modelsFolder(t, {});
    const before = loadConfig({ EASEL_MODELS_DIR: modelsDir, EASEL_DATA_DIR: join(root, "data") });
    const { config } = await withModelCatalogue(before);
    assert.equal(config.demoModel, true);
    assert.equal(config.modelDir, before.modelDir);
    assert.deepEqual(
      config.models.models.map((model) => model.name),
      ["demo"],
    );
    const missing = await withModelCatalogue(loadConfig({ EASEL_MODELS_DIR: join(root, "nowhere") }));
    assert.equal(missing.config.demoModel, true);
  });

  it("refuses a model folder whose easel.json is bad, naming the file and field", async (t) => {
    const { modelsDir } = await modelsFolder(t, {
      turbo: { settings: { preset: "sdxl-turbo", guidance: "none" } },
    });
    await assert.rejects(
      withModelCatalogue(loadConfig({ EASEL_MODELS_DIR: modelsDir })),
      (error) =>
        error instanceof ConfigError &&
        error.message.startsWith(join(modelsDir, "turbo", "easel.json")) &&
        /field "guidance"/.test(error.message),
    );
  });
});
