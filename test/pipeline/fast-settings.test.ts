/**
 * The pipeline's settings for distilled models on the fixture models: guidance at or below 1 runs
 * the UNet on the prompt's rows alone (half the batch) with exactly the prompt-only math, and the
 * LCM scheduler, trailing spacing and the "sample" prediction type run end to end.
 */
import assert from "node:assert/strict";
import { cp, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { InvalidInputError, ModelFolderError } from "../../src/errors.js";
import { SeededRandom } from "../../src/fixtures/random.js";
import { buildUnet } from "../../src/fixtures/unet.js";
import { readPngTextChunks } from "../../src/pipeline/image/png.js";
import { loadPipeline, type SdxlPipeline } from "../../src/pipeline/index.js";
import type { GenerateParams } from "../../src/pipeline/types.js";
import { fixtureModels } from "../helpers/fixtures.js";

const base: GenerateParams = {
  prompt: "a fox in the snow",
  width: 512,
  height: 512,
  seed: 11n,
  steps: 4,
  guidance: 0,
  scheduler: "lcm",
  count: 1,
};

const same = (a: Float32Array, b: Float32Array) =>
  Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));

describe("fast settings on the fixture models", () => {
  let pipeline: SdxlPipeline;

  before(async () => {
    const models = await fixtureModels();
    pipeline = await loadPipeline({ modelDir: models.base, refinerDir: models.refiner, device: "cpu" });
  });
  after(async () => {
    await pipeline?.dispose();
  });

  it("runs the UNet at the image count without guidance and at twice it with guidance", async () => {
    for (const [count, guidance, batch] of [
      [1, 0, 1],
      [1, 1, 1],
      [1, 5, 2],
      [2, 0, 2],
      [2, 1.5, 4],
    ] as const) {
      const result = await pipeline.generate({ ...base, count, guidance });
      assert.deepEqual(result.timings.unet, { runs: 4, batch }, `count ${count}, guidance ${guidance}`);
    }
  });

  it("treats every guidance up to 1 alike: the prompt's prediction alone", async () => {
    for (const scheduler of ["lcm", "euler"] as const) {
      const zero = await pipeline.generate({ ...base, scheduler, guidance: 0 });
      const half = await pipeline.generate({ ...base, scheduler, guidance: 0.5 });
      const one = await pipeline.generate({ ...base, scheduler, guidance: 1, negativePrompt: "blur" });
      assert.ok(same(zero.latents, half.latents), scheduler);
      assert.ok(same(zero.latents, one.latents), scheduler);
    }
  });

  it("gives guidance 0 the guided result when both halves see the prompt, from half the batch", async () => {
    // With the negative prompt equal to the prompt, uncond == cond and u + g(c - u) is c exactly,
    // whatever g: the guided runs agree bit for bit. The batch-1 run computes the same prediction;
    // ONNX Runtime's kernels may sum in another order for another batch size, so it agrees to
    // float32 rounding, not bit for bit.
    for (const scheduler of ["lcm", "euler", "ddim"] as const) {
      const alone = await pipeline.generate({ ...base, scheduler, guidance: 0 });
      const guided = await pipeline.generate({
        ...base,
        scheduler,
        guidance: 7,
        negativePrompt: base.prompt,
      });
      const guided2 = await pipeline.generate({
        ...base,
        scheduler,
        guidance: 2,
        negativePrompt: base.prompt,
      });
      assert.deepEqual(alone.timings.unet, { runs: 4, batch: 1 });
      assert.deepEqual(guided.timings.unet, { runs: 4, batch: 2 });
      assert.ok(same(guided.latents, guided2.latents), scheduler);
      let worst = 0;
      for (let i = 0; i < alone.latents.length; i++) {
        worst = Math.max(worst, Math.abs(alone.latents[i]! - guided.latents[i]!));
      }
      assert.ok(worst < 1e-4, `${scheduler}: max abs diff ${worst}`);
    }
  });

  it("runs LCM at 1 to 8 steps, deterministic per seed", async () => {
    for (const steps of [1, 2, 4, 8]) {
      const a = await pipeline.generate({ ...base, steps });
      const b = await pipeline.generate({ ...base, steps });
      const other = await pipeline.generate({ ...base, steps, seed: 12n });
      assert.ok(same(a.latents, b.latents), `${steps} steps`);
      assert.ok(!same(a.latents, other.latents), `${steps} steps, another seed`);
      assert.ok(a.latents.every(Number.isFinite));
      assert.equal(a.timings.unet?.runs, steps);
    }
  });

  it("hands LCM over to the refiner where diffusers splits its timesteps", async () => {
    // 8 steps: [999, 879, 759, 639, 499, 379, 259, 139]; the cutoff at 0.8 is 200.
    const stages: string[] = [];
    const params = { ...base, steps: 8, refiner: { switchAt: 0.8 } };
    const refined = await pipeline.generate(params, { onProgress: (p) => stages.push(p.stage) });
    const again = await pipeline.generate(params);
    assert.deepEqual(stages, [...Array(7).fill("base"), "refiner"]);
    assert.equal(refined.timings.unet?.runs, 8);
    assert.ok(same(refined.latents, again.latents));
    assert.ok(refined.latents.every(Number.isFinite));
  });

  it("applies a spacing override to Euler, Euler ancestral and DDIM, and none to LCM", async () => {
    for (const scheduler of ["euler", "euler-a", "ddim"] as const) {
      const folder = await pipeline.generate({ ...base, scheduler });
      const trailing = await pipeline.generate({ ...base, scheduler, spacing: "trailing" });
      const again = await pipeline.generate({ ...base, scheduler, spacing: "trailing" });
      assert.ok(!same(folder.latents, trailing.latents), scheduler);
      assert.ok(same(trailing.latents, again.latents), scheduler);
    }
    const lcm = await pipeline.generate(base);
    const lcmTrailing = await pipeline.generate({ ...base, spacing: "trailing" });
    assert.ok(same(lcm.latents, lcmTrailing.latents));
  });

  it("runs SDXL-Lightning's one step: Euler, trailing, the sample prediction", async () => {
    const params = {
      ...base,
      scheduler: "euler",
      steps: 1,
      spacing: "trailing",
      prediction: "sample",
    } as const;
    const sample = await pipeline.generate(params);
    const epsilon = await pipeline.generate({ ...params, prediction: "epsilon" });
    assert.equal(sample.timings.unet?.runs, 1);
    assert.ok(!same(sample.latents, epsilon.latents));
    assert.ok(sample.latents.every(Number.isFinite));
    // The overrides are part of the settings that re-create the image.
    const text = readPngTextChunks(sample.images[0]!.data);
    assert.match(
      text.parameters ?? "",
      /Sampler: Euler, Timestep spacing: trailing, Prediction type: sample, CFG scale: 0/,
    );
    const json = JSON.parse(text.easel ?? "{}") as { spacing?: string; prediction?: string };
    assert.equal(json.spacing, "trailing");
    assert.equal(json.prediction, "sample");
    const plain = readPngTextChunks((await pipeline.generate(base)).images[0]!.data);
    assert.doesNotMatch(plain.parameters ?? "", /Timestep spacing|Prediction type/);
    assert.match(plain.parameters ?? "", /Sampler: LCM/);
  });

  it("refuses what the schedulers cannot run, naming the setting", async () => {
    await assert.rejects(pipeline.generate({ ...base, steps: 51 }), (error: unknown) => {
      assert.ok(error instanceof InvalidInputError);
      assert.equal(error.field, "steps");
      assert.match(error.message, /at most 50 steps/);
      return true;
    });
    await assert.rejects(
      pipeline.generate({ ...base, scheduler: "euler-a", prediction: "sample" }),
      (error: unknown) => error instanceof InvalidInputError && error.field === "prediction",
    );
    await assert.rejects(
      pipeline.generate({ ...base, spacing: "evenly" as "trailing" }),
      (error: unknown) => error instanceof InvalidInputError && error.field === "spacing",
    );
  });
});

describe("a UNet that wants a guidance embedding (timestep_cond)", () => {
  let dir: string;
  before(async () => {
    const models = await fixtureModels();
    dir = await mkdtemp(join(tmpdir(), "easel-lcm-unet-"));
    await cp(models.base, dir, { recursive: true });
    // The fixture UNet with the extra input an LCM-distilled export has.
    const unet = buildUnet(
      { contextSize: 2048, timeIds: 6, timestep: "float-scalar", floatType: "float32" },
      new SeededRandom(1, "unet-base"),
    );
    unet.floatInput("timestep_cond", "float32", ["batch_size", 256]);
    const encoded = unet.encode({ location: "model.onnx_data", minBytes: 1024 });
    await writeFile(join(dir, "unet", "model.onnx"), encoded.model);
    if (encoded.externalData) await writeFile(join(dir, "unet", "model.onnx_data"), encoded.externalData);
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("is refused with the reason, naming the UNet file", async () => {
    const pipeline = await loadPipeline({ modelDir: dir, device: "cpu" });
    try {
      await assert.rejects(pipeline.generate(base), (error: unknown) => {
        assert.ok(error instanceof ModelFolderError);
        assert.match(error.message, /unet.*timestep_cond/s);
        return true;
      });
    } finally {
      await pipeline.dispose();
    }
  });
});
