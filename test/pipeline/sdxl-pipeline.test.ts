/** The SDXL pipeline end to end on generated fixture models: determinism, conditioning, stages, errors. */
import assert from "node:assert/strict";
import { cp, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { CancelledError, InvalidInputError, ModelFolderError } from "../../src/errors.js";
import { readPngTextChunks } from "../../src/pipeline/image/png.js";
import { loadPipeline, type SdxlPipeline } from "../../src/pipeline/index.js";
import type { GenerateParams, Progress } from "../../src/pipeline/types.js";
import { fixtureModels } from "../helpers/fixtures.js";

const base: GenerateParams = {
  prompt: "a lighthouse at dusk",
  width: 512,
  height: 512,
  seed: 7n,
  steps: 4,
  guidance: 5,
  scheduler: "euler",
  count: 1,
};

const same = (a: Float32Array, b: Float32Array) =>
  Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));

describe("SdxlPipeline on the fixture models", () => {
  let models: Awaited<ReturnType<typeof fixtureModels>>;
  let pipeline: SdxlPipeline;

  before(async () => {
    models = await fixtureModels();
    pipeline = await loadPipeline({ modelDir: models.base, refinerDir: models.refiner, device: "cpu" });
  });
  after(async () => {
    await pipeline?.dispose();
  });

  it("gives identical PNG bytes for the same seed and different ones for another seed", async () => {
    const first = await pipeline.generate(base);
    const again = await pipeline.generate(base);
    const other = await pipeline.generate({ ...base, seed: 8n });
    assert.equal(first.images.length, 1);
    assert.equal(first.images[0]!.width, 512);
    assert.equal(first.images[0]!.height, 512);
    assert.ok(Buffer.from(first.images[0]!.data).equals(Buffer.from(again.images[0]!.data)));
    assert.ok(!Buffer.from(first.images[0]!.data).equals(Buffer.from(other.images[0]!.data)));
    assert.equal(first.latents.length, 4 * 64 * 64);
    assert.ok(first.latents.every(Number.isFinite));
  });

  it("writes the prompt and settings into the PNG text metadata", async () => {
    const result = await pipeline.generate({ ...base, negativePrompt: "fog" });
    const text = readPngTextChunks(result.images[0]!.data);
    assert.match(text.parameters ?? "", /a lighthouse at dusk/);
    assert.match(text.parameters ?? "", /Negative prompt: fog/);
    assert.match(text.parameters ?? "", /Seed: 7/);
  });

  it("lets a negative prompt change the image, and ignores it when guidance is off", async () => {
    const plain = await pipeline.generate(base);
    const negative = await pipeline.generate({ ...base, negativePrompt: "fog, rain" });
    assert.ok(!same(plain.latents, negative.latents));
    const unguided = await pipeline.generate({ ...base, guidance: 1 });
    const unguidedNegative = await pipeline.generate({ ...base, guidance: 1, negativePrompt: "fog, rain" });
    assert.ok(same(unguided.latents, unguidedNegative.latents));
    assert.ok(!same(plain.latents, unguided.latents));
  });

  it("gives image i of a batch the seed + i, identical to running that seed alone", async () => {
    const batch = await pipeline.generate({ ...base, count: 2 });
    assert.deepEqual(
      batch.images.map((image) => image.seed),
      [7n, 8n],
    );
    const second = await pipeline.generate({ ...base, seed: 8n });
    const size = 4 * 64 * 64;
    assert.ok(same(batch.latents.subarray(size), second.latents));
  });

  it("runs every scheduler deterministically", async () => {
    for (const scheduler of ["euler", "euler-a", "dpmpp-2m-karras", "ddim"] as const) {
      const a = await pipeline.generate({ ...base, scheduler });
      const b = await pipeline.generate({ ...base, scheduler });
      assert.ok(same(a.latents, b.latents), scheduler);
      assert.ok(a.latents.every(Number.isFinite), scheduler);
    }
  });

  it("reports progress for every step, with previews at the requested cadence", async () => {
    const events: Progress[] = [];
    await pipeline.generate({ ...base, steps: 6 }, { onProgress: (p) => events.push(p), previewEvery: 2 });
    assert.deepEqual(
      events.map((e) => e.step),
      [1, 2, 3, 4, 5, 6],
    );
    assert.ok(events.every((e) => e.totalSteps === 6 && e.stage === "base"));
    assert.deepEqual(
      events.filter((e) => e.preview).map((e) => e.step),
      [2, 4, 6],
    );
    const preview = events[1]!.preview!;
    assert.equal(preview.mime, "image/jpeg");
    assert.equal(Math.max(preview.width, preview.height), 128);
  });

  it("stops at the next step when cancelled", async () => {
    const controller = new AbortController();
    const steps: number[] = [];
    await assert.rejects(
      pipeline.generate(
        { ...base, steps: 10 },
        {
          signal: controller.signal,
          onProgress: (p) => {
            steps.push(p.step);
            if (p.step === 2) controller.abort();
          },
        },
      ),
      CancelledError,
    );
    assert.deepEqual(steps, [1, 2]);
  });

  it("hands over to the refiner at the switch point: different from base-only, deterministic", async () => {
    const events: Progress[] = [];
    const params = { ...base, steps: 10, refiner: { switchAt: 0.8 } };
    const refined = await pipeline.generate(params, { onProgress: (p) => events.push(p) });
    const again = await pipeline.generate(params);
    const baseOnly = await pipeline.generate({ ...base, steps: 10 });
    assert.ok(same(refined.latents, again.latents));
    assert.ok(!same(refined.latents, baseOnly.latents));
    assert.deepEqual(
      events.map((e) => e.stage),
      [...Array(8).fill("base"), ...Array(2).fill("refiner")],
    );
  });

  it("keeps exactly the seed's image at variation strength 0 and the subseed's at 1", async () => {
    const seedRun = await pipeline.generate(base);
    const subseedRun = await pipeline.generate({ ...base, seed: 99n });
    const zero = await pipeline.generate({ ...base, variation: { subseed: 99n, strength: 0 } });
    const one = await pipeline.generate({ ...base, variation: { subseed: 99n, strength: 1 } });
    const half = await pipeline.generate({ ...base, variation: { subseed: 99n, strength: 0.5 } });
    assert.ok(same(zero.latents, seedRun.latents));
    assert.ok(same(one.latents, subseedRun.latents));
    assert.ok(!same(half.latents, seedRun.latents) && !same(half.latents, subseedRun.latents));
  });

  it("refines an existing image at its own size, or upscaled, deterministically", async () => {
    const source = (await pipeline.generate(base)).images[0]!.data;
    const params = { ...base, source: { image: source, strength: 0.3, upscale: 1 as const } };
    const a = await pipeline.generate(params);
    const b = await pipeline.generate(params);
    assert.equal(a.images[0]!.width, 512);
    assert.ok(Buffer.from(a.images[0]!.data).equals(Buffer.from(b.images[0]!.data)));
    const events: Progress[] = [];
    const upscaled = await pipeline.generate(
      { ...base, steps: 10, source: { image: source, strength: 0.3, upscale: 1.5 } },
      { onProgress: (p) => events.push(p) },
    );
    assert.equal(upscaled.images[0]!.width, 768);
    assert.equal(upscaled.images[0]!.height, 768);
    assert.equal(events.length, 3, "strength 0.3 of 10 steps runs the last 3");
  });

  it("refines an image with the refiner when asked, and with the base otherwise", async () => {
    const source = (await pipeline.generate(base)).images[0]!.data;
    const params = { ...base, steps: 10, source: { image: source, strength: 0.3, upscale: 1 as const } };
    const stages: string[] = [];
    const withRefiner = await pipeline.generate(
      { ...params, refiner: { switchAt: 0.8 } },
      { onProgress: (p) => stages.push(p.stage) },
    );
    const withBase = await pipeline.generate(params);
    assert.deepEqual(stages, ["refiner", "refiner", "refiner"]);
    assert.ok(!same(withRefiner.latents, withBase.latents));
    const text = readPngTextChunks(withRefiner.images[0]!.data);
    assert.match(text.parameters ?? "", /Refiner: refiner/);
    assert.doesNotMatch(text.parameters ?? "", /Refiner switch at/);
  });

  it("refuses bad input with typed errors before any work", async () => {
    const bad: [Partial<GenerateParams>, string][] = [
      [{ width: 1020 }, "width"],
      [{ height: 256 }, "height"],
      [{ width: 4096 }, "width"],
      [{ steps: 0 }, "steps"],
      [{ steps: 151 }, "steps"],
      [{ guidance: -1 }, "guidance"],
      [{ guidance: 31 }, "guidance"],
      [{ guidance: Number.NaN }, "guidance"],
      [{ count: 0 }, "count"],
      [{ count: 5 }, "count"],
      [{ prompt: "   " }, "prompt"],
      [{ prompt: "\u200B\u200D\uFEFF" }, "prompt"],
      [{ prompt: "a".repeat(1001) }, "prompt"],
      [{ prompt: `(cat:${"9".repeat(41)})` }, "prompt"],
      [{ prompt: `${"(".repeat(400)}cat${")".repeat(400)}` }, "prompt"],
      [{ negativePrompt: "(fog:99)" }, "negative"],
      [{ scheduler: "plms" as never }, "scheduler"],
      [{ refiner: { switchAt: 1 } }, "refiner"],
      [{ variation: { subseed: 1n, strength: 2 } }, "variation"],
      [{ seed: -1n }, "seed"],
    ];
    for (const [change, field] of bad) {
      await assert.rejects(
        pipeline.generate({ ...base, ...change }),
        (error: unknown) => {
          assert.ok(error instanceof InvalidInputError, `${field}: ${String(error)}`);
          assert.equal(error.field, field);
          return true;
        },
        `${field} ${JSON.stringify(change, (_k, v) => (typeof v === "bigint" ? String(v) : v))} should be refused`,
      );
    }
    await assert.rejects(
      pipeline.generate({
        ...base,
        source: { image: new TextEncoder().encode("not an image"), strength: 0.3, upscale: 1 },
      }),
      InvalidInputError,
    );
    await assert.rejects(
      pipeline.generate({ ...base, source: { image: new Uint8Array(8), strength: 1.5, upscale: 1 } }),
      InvalidInputError,
    );
  });

  it("runs the int32-ids / int64-timestep and float16 exports", async () => {
    for (const variant of ["base-int32", "base-fp16"] as const) {
      const other = await loadPipeline({ modelDir: models[variant], device: "cpu" });
      try {
        const result = await other.generate(base);
        assert.equal(result.images[0]!.width, 512);
        assert.ok(result.latents.every(Number.isFinite), variant);
      } finally {
        await other.dispose();
      }
    }
  });

  it("asks for the refiner only where one is configured", async () => {
    const baseOnly = await loadPipeline({ modelDir: models.base, device: "cpu" });
    try {
      await assert.rejects(
        baseOnly.generate({ ...base, refiner: { switchAt: 0.8 } }),
        /refiner is not configured/,
      );
    } finally {
      await baseOnly.dispose();
    }
  });
});

describe("loading model folders", () => {
  let scratch: string;
  before(async () => {
    scratch = await mkdtemp(join(tmpdir(), "easel-folders-"));
  });
  after(async () => {
    await rm(scratch, { recursive: true, force: true });
  });

  it("names the missing folder or file", async () => {
    await assert.rejects(
      loadPipeline({ modelDir: join(scratch, "nowhere"), device: "cpu" }),
      (error: unknown) => {
        return (
          error instanceof ModelFolderError &&
          error.message.includes("nowhere") &&
          !error.userMessage.includes(scratch)
        );
      },
    );
    const models = await fixtureModels();
    const copy = join(scratch, "no-unet");
    await cp(models.base, copy, { recursive: true });
    await rm(join(copy, "unet"), { recursive: true });
    await assert.rejects(
      loadPipeline({ modelDir: copy, device: "cpu" }),
      /unet.model\.onnx: is missing \(expected the UNet\)/,
    );
  });

  it("reports a bad scheduler config as the model folder's problem: the file and key for the operator only", async () => {
    const models = await fixtureModels();
    const copy = join(scratch, "bad-scheduler");
    await cp(models.base, copy, { recursive: true });
    const path = join(copy, "scheduler", "scheduler_config.json");
    const config = JSON.parse(await readFile(path, "utf8")) as Record<string, unknown>;
    await writeFile(path, JSON.stringify({ ...config, prediction_type: "banana" }));
    await assert.rejects(loadPipeline({ modelDir: copy, device: "cpu" }), (error: unknown) => {
      assert.ok(error instanceof ModelFolderError, String(error));
      assert.ok(error.message.startsWith(path), error.message);
      assert.match(error.message, /prediction_type/);
      assert.doesNotMatch(error.userMessage, /prediction_type|banana|scheduler_config|\//);
      return true;
    });
  });

  it("refuses a folder that is not an SDXL pipeline", async () => {
    const models = await fixtureModels();
    const copy = join(scratch, "sd15");
    await cp(models.base, copy, { recursive: true });
    const index = JSON.parse(await readFile(join(copy, "model_index.json"), "utf8")) as Record<
      string,
      unknown
    >;
    await writeFile(
      join(copy, "model_index.json"),
      JSON.stringify({ ...index, _class_name: "StableDiffusionPipeline" }),
    );
    await assert.rejects(loadPipeline({ modelDir: copy, device: "cpu" }), /not an SDXL pipeline/);
    await writeFile(join(copy, "model_index.json"), "{ not json");
    await assert.rejects(
      loadPipeline({ modelDir: copy, device: "cpu" }),
      /model_index\.json: is not valid JSON/,
    );
  });

  it("reports a UNet whose external weights are missing", async () => {
    const models = await fixtureModels();
    const copy = join(scratch, "no-weights");
    await cp(models.base, copy, { recursive: true });
    await rm(join(copy, "unet", "model.onnx_data"));
    await assert.rejects(
      loadPipeline({ modelDir: copy, device: "cpu" }),
      /unet.model\.onnx: could not be loaded/,
    );
  });
});
