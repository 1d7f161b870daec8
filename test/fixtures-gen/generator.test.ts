import assert from "node:assert/strict";
import { copyFile, mkdtemp, readdir, readFile, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { after, before, describe, it } from "node:test";
import onnxProto from "onnx-proto";
import * as ort from "onnxruntime-node";
import { InvalidInputError } from "../../src/errors.js";
import { type FixtureVariant, writeFixtureModels } from "../../src/fixtures/index.js";
import { fixtureModels } from "../helpers/fixtures.js";

const { onnx } = onnxProto;
const referenceDir = new URL("../fixtures/reference/", import.meta.url);

async function listFiles(root: string): Promise<string[]> {
  const entries = await readdir(root, { recursive: true, withFileTypes: true });
  return entries
    .filter((e) => e.isFile())
    .map((e) => relative(root, join(e.parentPath, e.name)))
    .sort();
}

async function readJson(path: string): Promise<Record<string, unknown>> {
  return JSON.parse(await readFile(path, "utf8")) as Record<string, unknown>;
}

let scratch: string;
before(async () => {
  scratch = await mkdtemp(join(tmpdir(), "easel-fixtures-test-"));
});
after(async () => {
  await rm(scratch, { recursive: true, force: true });
});

describe("fixture folder layout", () => {
  it("base has every file of an SDXL ONNX export; refiner lacks tokenizer/ and text_encoder/", async () => {
    const models = await fixtureModels();
    const component = (name: string, files: string[]) => files.map((file) => `${name}/${file}`);
    const tokenizer = [
      "added_tokens.json",
      "merges.txt",
      "special_tokens_map.json",
      "tokenizer_config.json",
      "vocab.json",
    ];
    const common = [
      "model_index.json",
      "scheduler/scheduler_config.json",
      ...component("text_encoder_2", ["config.json", "model.onnx"]),
      ...component("tokenizer_2", tokenizer),
      ...component("unet", ["config.json", "model.onnx", "model.onnx_data"]),
      ...component("vae_decoder", ["config.json", "model.onnx"]),
      ...component("vae_encoder", ["config.json", "model.onnx"]),
    ];
    const base = [
      ...common,
      ...component("text_encoder", ["config.json", "model.onnx"]),
      ...component("tokenizer", tokenizer),
    ];
    for (const variant of ["base", "base-int32", "base-fp16", "bench"] as FixtureVariant[]) {
      assert.deepEqual(await listFiles(models[variant]), [...base].sort(), variant);
    }
    assert.deepEqual(await listFiles(models.refiner), [...common].sort());
  });

  it("model_index.json, scheduler and VAE configs carry SDXL base/refiner values", async () => {
    const models = await fixtureModels();
    const base = await readJson(join(models.base, "model_index.json"));
    assert.equal(base._class_name, "StableDiffusionXLPipeline");
    assert.equal(base.force_zeros_for_empty_prompt, true);
    assert.equal(base.requires_aesthetics_score, false);
    assert.deepEqual(base.text_encoder, ["transformers", "CLIPTextModel"]);
    const refiner = await readJson(join(models.refiner, "model_index.json"));
    assert.equal(refiner._class_name, "StableDiffusionXLImg2ImgPipeline");
    assert.equal(refiner.force_zeros_for_empty_prompt, false);
    assert.equal(refiner.requires_aesthetics_score, true);
    assert.deepEqual(refiner.text_encoder, [null, null]);
    assert.deepEqual(refiner.tokenizer, [null, null]);

    const schedulers = JSON.parse(await readFile(new URL("schedulers.json", referenceDir), "utf8"));
    for (const folder of [models.base, models.refiner]) {
      assert.deepEqual(
        await readJson(join(folder, "scheduler", "scheduler_config.json")),
        schedulers.configs.sdxl_base,
      );
      for (const vae of ["vae_decoder", "vae_encoder"]) {
        assert.equal((await readJson(join(folder, vae, "config.json"))).scaling_factor, 0.13025);
      }
    }
  });

  it("tokenizer files are the reference CLIP vocabulary and each tokenizer's own configs", async () => {
    const folder = (await fixtureModels()).base;
    const vocab = await readFile(new URL("../../assets/tokenizer/vocab.json", import.meta.url));
    for (const tokenizer of ["tokenizer", "tokenizer_2"]) {
      assert.ok((await readFile(join(folder, tokenizer, "vocab.json"))).equals(vocab));
      const config = await readJson(join(folder, tokenizer, "special_tokens_map.json"));
      assert.equal(config.pad_token, tokenizer === "tokenizer" ? "<|endoftext|>" : "!");
    }
  });
});

describe("UNet external data", () => {
  it("keeps the UNet's weights in unet/model.onnx_data, referenced from model.onnx", async () => {
    const unet = join((await fixtureModels()).base, "unet");
    const model = onnx.ModelProto.decode(await readFile(join(unet, "model.onnx")));
    const external = (model.graph?.initializer ?? []).filter(
      (t) => t.dataLocation === onnx.TensorProto.DataLocation.EXTERNAL,
    );
    assert.ok(external.length >= 2, "several initializers are external");
    const dataSize = (await stat(join(unet, "model.onnx_data"))).size;
    for (const tensor of external) {
      const entry = Object.fromEntries((tensor.externalData ?? []).map((e) => [e.key, e.value]));
      assert.equal(entry.location, "model.onnx_data");
      assert.ok(
        Number(entry.offset) + Number(entry.length) <= dataSize,
        `${tensor.name} lies inside the file`,
      );
    }
    assert.equal(Number(model.irVersion), 8);
    assert.equal(Number(model.opsetImport?.[0]?.version), 17);
  });

  it("fails to load without model.onnx_data and loads once it is beside model.onnx", async () => {
    const unet = join((await fixtureModels()).base, "unet");
    const alone = await mkdtemp(join(scratch, "unet-"));
    await copyFile(join(unet, "model.onnx"), join(alone, "model.onnx"));
    await assert.rejects(ort.InferenceSession.create(join(alone, "model.onnx")));
    await copyFile(join(unet, "model.onnx_data"), join(alone, "model.onnx_data"));
    const session = await ort.InferenceSession.create(join(alone, "model.onnx"));
    await session.release();
  });
});

describe("writeFixtureModels", () => {
  it("is deterministic: the same seed writes byte-identical files, another seed other weights", async () => {
    const variants: FixtureVariant[] = ["base", "refiner", "base-int32", "base-fp16", "bench"];
    const first = await writeFixtureModels(join(scratch, "a"), { seed: 7, variants });
    const second = await writeFixtureModels(join(scratch, "b"), { seed: 7, variants });
    const other = await writeFixtureModels(join(scratch, "c"), { seed: 8, variants: ["base"] });
    for (const variant of variants) {
      const files = await listFiles(first[variant]);
      assert.deepEqual(await listFiles(second[variant]), files);
      for (const file of files) {
        const a = await readFile(join(first[variant], file));
        assert.ok(a.equals(await readFile(join(second[variant], file))), `${variant}/${file} identical`);
      }
    }
    for (const file of await listFiles(first.base)) {
      const same = (await readFile(join(first.base, file))).equals(await readFile(join(other.base, file)));
      const isWeights = file.endsWith(".onnx") || file.endsWith(".onnx_data");
      assert.equal(same, !isWeights, `${file} ${isWeights ? "differs" : "is the same"} with another seed`);
    }
  });

  it("writes only the requested variants and returns their paths", async () => {
    const out = join(scratch, "only-refiner");
    const paths = await writeFixtureModels(out, { variants: ["refiner"] });
    assert.deepEqual(Object.keys(paths), ["refiner"]);
    assert.equal(paths.refiner, join(out, "refiner"));
    assert.deepEqual(await readdir(out), ["refiner"]);
  });

  it("offers the mean/log-variance VAE encoder output", async () => {
    const paths = await writeFixtureModels(join(scratch, "params"), {
      variants: ["base"],
      vaeEncoderOutput: "latent_parameters",
    });
    const session = await ort.InferenceSession.create(join(paths.base, "vae_encoder", "model.onnx"));
    try {
      assert.deepEqual(session.outputNames, ["latent_parameters"]);
      const image = Float32Array.from({ length: 3 * 32 * 32 }, (_, i) => Math.sin(i * 0.1));
      const { latent_parameters } = await session.run({
        sample: new ort.Tensor("float32", image, [1, 3, 32, 32]),
      });
      assert.deepEqual(latent_parameters.dims, [1, 8, 4, 4]);
      const values = latent_parameters.data as Float32Array;
      const logVariance = values.subarray(4 * 16);
      assert.ok(
        logVariance.every((v) => v >= -4 && v <= -2),
        "log-variance within [-4, -2]",
      );
      assert.ok(values.subarray(0, 4 * 16).some((v) => v !== 0));
    } finally {
      await session.release();
    }
  });

  it("rejects bad options with InvalidInputError before writing anything", async () => {
    const out = join(scratch, "rejected");
    await assert.rejects(writeFixtureModels(out, { seed: -1 }), InvalidInputError);
    await assert.rejects(writeFixtureModels(out, { seed: 1.5 }), InvalidInputError);
    await assert.rejects(
      writeFixtureModels(out, { variants: ["huge" as FixtureVariant] }),
      (error: unknown) => error instanceof InvalidInputError && /huge/.test(error.userMessage),
    );
    await assert.rejects(stat(out));
  });
});
