/** The LoRA catalogue read from EASEL_LORA_DIR: file names, `<name>.json` settings, bad files. */
import assert from "node:assert/strict";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { ConfigError } from "../../src/errors.js";
import { parseLoraSettings, readLoraCatalogue } from "../../src/models/loras.js";
import { promptWithTriggers } from "../../src/requests/loras.js";

describe("LoRA catalogue", () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "easel-loras-"));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("lists *.safetensors by file name with their json settings, defaults for the rest", async () => {
    const folder = join(dir, "good");
    await mkdir(folder);
    await writeFile(join(folder, "ink.safetensors"), "x");
    await writeFile(
      join(folder, "ink.json"),
      JSON.stringify({ trigger: "ink sketch", scale: 0.7, models: ["base"], label: "Ink" }),
    );
    await writeFile(join(folder, "clay.safetensors"), "x");
    await writeFile(join(folder, "notes.txt"), "not a LoRA");
    const loras = await readLoraCatalogue(folder, ["base", "turbo"]);
    assert.deepEqual(loras, [
      { name: "clay", file: "clay.safetensors", label: "clay", trigger: "", scale: 1 },
      {
        name: "ink",
        file: "ink.safetensors",
        label: "Ink",
        trigger: "ink sketch",
        scale: 0.7,
        models: ["base"],
      },
    ]);
  });

  it("is empty when the folder does not exist", async () => {
    assert.deepEqual(await readLoraCatalogue(join(dir, "absent"), ["base"]), []);
  });

  it("refuses a bad json with one error naming the file and the field", async () => {
    assert.throws(
      () => parseLoraSettings(JSON.stringify({ scale: 9 }), "loras/ink.json"),
      (error: Error) =>
        error instanceof ConfigError && /^loras\/ink\.json: field "scale": /.test(error.message),
    );
    assert.throws(
      () => parseLoraSettings(JSON.stringify({ trigger: "x", strength: 1 }), "loras/ink.json"),
      /loras\/ink\.json: unknown field strength/,
    );
    assert.throws(() => parseLoraSettings("{oops", "loras/ink.json"), /loras\/ink\.json: not valid JSON/);
    assert.throws(
      () => parseLoraSettings(JSON.stringify({ models: "base" }), "loras/ink.json"),
      /field "models"/,
    );
  });

  it("refuses a models entry the model catalogue lacks, and names users cannot type", async () => {
    const folder = join(dir, "bad-model");
    await mkdir(folder);
    await writeFile(join(folder, "ink.safetensors"), "x");
    await writeFile(join(folder, "ink.json"), JSON.stringify({ models: ["sd15"] }));
    await assert.rejects(
      readLoraCatalogue(folder, ["base"]),
      /ink\.json: field "models": "sd15" is not a model/,
    );
    const spaced = join(dir, "spaced");
    await mkdir(spaced);
    await writeFile(join(spaced, "my style.safetensors"), "x");
    await assert.rejects(readLoraCatalogue(spaced, ["base"]), ConfigError);
  });

  it("adds trigger words the prompt lacks, after it", () => {
    const loras = [
      { name: "ink", scale: 1, trigger: "ink sketch" },
      { name: "clay", scale: 0.5, trigger: "claymation" },
    ];
    assert.equal(promptWithTriggers("a fox", loras), "a fox, ink sketch, claymation");
    assert.equal(promptWithTriggers("a fox, Claymation", loras), "a fox, Claymation, ink sketch");
    assert.equal(promptWithTriggers("a fox", undefined), "a fox");
  });
});
