/**
 * The tiny VAE (TAESDXL) decoder: the fixture network through onnxruntime against plain loops over
 * the same weights, the two export layouts' output ranges, the folder errors, and the pipeline's
 * decoded previews and draft images.
 */
import assert from "node:assert/strict";
import { cp, mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import sharp from "sharp";
import { loadConfig } from "../../src/config.js";
import { InvalidInputError, ModelFolderError } from "../../src/errors.js";
import {
  buildTinyVaeDecoder,
  type ConvWeights,
  type TinyVaeArchitecture,
  type TinyVaeWeights,
  tinyVaeWeights,
  writeTinyVaeFolder,
} from "../../src/fixtures/taesd.js";
import { readPngTextChunks } from "../../src/pipeline/image/png.js";
import { guidedPreviewRgb, guidedX0, latentToPreviewRgb } from "../../src/pipeline/image/preview.js";
import { loadPipeline, type SdxlPipeline } from "../../src/pipeline/index.js";
import { SessionClock } from "../../src/pipeline/onnx/session.js";
import { TinyVaeDecoder } from "../../src/pipeline/taesd.js";
import type { GenerateParams, Progress } from "../../src/pipeline/types.js";
import { pipelineOptionsOf, type SdxlEngineSpec } from "../../src/queue/engine.js";
import { sdxlEngineFor } from "../../src/queue/index.js";
import { fixtureModels } from "../helpers/fixtures.js";

// --- an independent reference: the decoder written as loops over CHW float64 arrays ----------

interface Planes {
  c: number;
  h: number;
  w: number;
  data: Float64Array;
}

function conv3x3(x: Planes, k: ConvWeights): Planes {
  const out = new Float64Array(k.out * x.h * x.w);
  for (let o = 0; o < k.out; o++) {
    for (let y = 0; y < x.h; y++) {
      for (let xx = 0; xx < x.w; xx++) {
        let sum = k.bias ? k.bias[o]! : 0;
        for (let i = 0; i < k.in; i++) {
          for (let dy = -1; dy <= 1; dy++) {
            const sy = y + dy;
            if (sy < 0 || sy >= x.h) continue;
            for (let dx = -1; dx <= 1; dx++) {
              const sx = xx + dx;
              if (sx < 0 || sx >= x.w) continue;
              sum +=
                k.weight[((o * k.in + i) * 3 + dy + 1) * 3 + dx + 1]! * x.data[(i * x.h + sy) * x.w + sx]!;
            }
          }
        }
        out[(o * x.h + y) * x.w + xx] = sum;
      }
    }
  }
  return { c: k.out, h: x.h, w: x.w, data: out };
}

const relu = (x: Planes): Planes => ({ ...x, data: x.data.map((v) => Math.max(v, 0)) });
const add = (a: Planes, b: Planes): Planes => ({ ...a, data: a.data.map((v, i) => v + b.data[i]!) });

function upsampleNearest2(x: Planes): Planes {
  const h = x.h * 2;
  const w = x.w * 2;
  const out = new Float64Array(x.c * h * w);
  for (let c = 0; c < x.c; c++)
    for (let y = 0; y < h; y++)
      for (let xx = 0; xx < w; xx++)
        out[(c * h + y) * w + xx] = x.data[(c * x.h + (y >> 1)) * x.w + (xx >> 1)]!;
  return { c: x.c, h, w, data: out };
}

function block(x: Planes, convs: ConvWeights[]): Planes {
  const branch = conv3x3(relu(conv3x3(relu(conv3x3(x, convs[0]!)), convs[1]!)), convs[2]!);
  return relu(add(branch, x));
}

/** TAESD's decoder in [0, 1] (the network itself, before any x·2 − 1). */
function referenceDecode(weights: TinyVaeWeights, latents: Float32Array, h: number, w: number): Float64Array {
  let x: Planes = { c: 4, h, w, data: Float64Array.from(latents, (v) => Math.tanh(v / 3) * 3) };
  x = relu(conv3x3(x, weights.first));
  for (const stage of weights.stages) {
    for (const convs of stage.blocks) x = block(x, convs);
    x = conv3x3(upsampleNearest2(x), stage.afterUpsample);
  }
  x = block(x, weights.lastBlock);
  return conv3x3(x, weights.last).data;
}

function maxRelativeError(actual: Float32Array, expected: Float64Array): number {
  assert.equal(actual.length, expected.length);
  let worst = 0;
  for (let i = 0; i < actual.length; i++) {
    worst = Math.max(worst, Math.abs(actual[i]! - expected[i]!) / Math.max(1, Math.abs(expected[i]!)));
  }
  return worst;
}

/** Latents like SDXL's (about unit variance, some beyond ±3 where the clamp matters), seeded. */
function latentsOf(h: number, w: number, seed: number): Float32Array {
  let state = seed;
  return Float32Array.from({ length: 4 * h * w }, () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return (state / 2 ** 32 - 0.5) * 9;
  });
}

const SMALL: TinyVaeArchitecture = { width: 8, blocksPerStage: 3 };
const load = (dir: string) => TinyVaeDecoder.load(dir, { device: "cpu" }, new SessionClock());

let scratch: string;
before(async () => {
  scratch = await mkdtemp(join(tmpdir(), "easel-taesd-"));
});
after(async () => {
  await rm(scratch, { recursive: true, force: true });
});

describe("the TAESD decoder fixture through onnxruntime", () => {
  it("equals plain loops over the same weights (tanh clamp, conv, ReLU, residual blocks, nearest upsampling) within 1e-5", async () => {
    const dir = join(scratch, "module");
    const weights = await writeTinyVaeFolder(dir, { architecture: SMALL, layout: "module", seed: 5 });
    const decoder = await load(dir);
    try {
      assert.equal(decoder.folder.outputRange, "unit");
      const latents = latentsOf(3, 5, 11);
      const raw = await decoder.decodeRaw(latents, 3, 5);
      assert.equal(raw.length, 3 * 24 * 40);
      const expected = referenceDecode(weights, latents, 3, 5);
      assert.ok(maxRelativeError(raw, expected) <= 1e-5, `max error ${maxRelativeError(raw, expected)}`);
      // The network does something: not a constant, and the clamp bounds what large latents do.
      assert.ok(Math.max(...raw) - Math.min(...raw) > 0.1);
    } finally {
      await decoder.release();
    }
  });

  it("reads [-1, 1] from the diffusers layout and [0, 1] from the module layout: both give the same pixels", async () => {
    const diffusersDir = join(scratch, "range-diffusers");
    const moduleDir = join(scratch, "range-module");
    const weights = await writeTinyVaeFolder(diffusersDir, {
      architecture: SMALL,
      layout: "diffusers",
      seed: 6,
    });
    await writeTinyVaeFolder(moduleDir, { architecture: SMALL, layout: "module", seed: 6 });
    const signed = await load(diffusersDir);
    const unit = await load(moduleDir);
    try {
      assert.equal(signed.folder.outputRange, "signed");
      assert.equal(signed.folder.scalingFactor, 1);
      assert.equal(unit.folder.outputRange, "unit");
      const latents = latentsOf(4, 4, 3);
      const reference = referenceDecode(weights, latents, 4, 4);
      const signedRaw = await signed.decodeRaw(latents, 4, 4);
      assert.ok(
        maxRelativeError(
          signedRaw,
          reference.map((v) => v * 2 - 1),
        ) <= 1e-5,
      );
      const a = await signed.decode(latents, 4, 4);
      const b = await unit.decode(latents, 4, 4);
      assert.equal(a.length, 32 * 32 * 3);
      assert.ok(
        Buffer.from(a).equals(Buffer.from(b)),
        "the same network gives the same pixels in either layout",
      );
      // Pixels are the [0, 1] value times 255: a mid-grey output is byte 128, not 191 or 64.
      const expectedBytes = Uint8Array.from({ length: 32 * 32 * 3 }, (_, i) => {
        const pixel = Math.floor(i / 3);
        const channel = i % 3;
        const v = Math.min(1, Math.max(0, reference[channel * 32 * 32 + pixel]!));
        return Math.round(v * 255);
      });
      let off = 0;
      for (let i = 0; i < a.length; i++) off = Math.max(off, Math.abs(a[i]! - expectedBytes[i]!));
      assert.ok(off <= 1, `bytes differ from clamp(x, 0, 1)·255 by up to ${off}`);
    } finally {
      await signed.release();
      await unit.release();
    }
  });

  it("feeds and reads a float16 export by its declared element types", async () => {
    const dir = join(scratch, "float16");
    await mkdir(dir, { recursive: true });
    const weights = tinyVaeWeights(SMALL, 8);
    await writeFile(
      join(dir, "taesdxl_decoder.onnx"),
      buildTinyVaeDecoder(weights, "module", "float16").encode().model,
    );
    const decoder = await load(dir);
    try {
      const latents = latentsOf(2, 2, 4);
      const raw = await decoder.decodeRaw(latents, 2, 2);
      // float16 input and output: half precision's ~1e-3 relative step, not float32's 1e-5.
      assert.ok(maxRelativeError(raw, referenceDecode(weights, latents, 2, 2)) < 5e-3);
    } finally {
      await decoder.release();
    }
  });

  it("divides the latents by a diffusers config's scaling_factor", async () => {
    const dir = join(scratch, "scaled");
    const weights = await writeTinyVaeFolder(dir, { architecture: SMALL, layout: "diffusers", seed: 7 });
    const configPath = join(dir, "vae_decoder", "config.json");
    const config = JSON.parse(await readFile(configPath, "utf8")) as Record<string, unknown>;
    await writeFile(configPath, JSON.stringify({ ...config, scaling_factor: 2 }));
    const decoder = await load(dir);
    try {
      const latents = latentsOf(2, 3, 9);
      const raw = await decoder.decodeRaw(latents, 2, 3);
      const halved = latents.map((v) => v / 2);
      assert.ok(
        maxRelativeError(
          raw,
          referenceDecode(weights, halved, 2, 3).map((v) => v * 2 - 1),
        ) <= 1e-5,
      );
    } finally {
      await decoder.release();
    }
  });
});

describe("a missing or broken TAESD folder", () => {
  const rejectsNaming = async (dir: string, path: string, problem: RegExp) => {
    await assert.rejects(load(dir), (error: unknown) => {
      assert.ok(error instanceof ModelFolderError, String(error));
      assert.ok(error.message.includes(path), error.message);
      assert.match(error.message, problem);
      // Chat users see the generic model message, never the path.
      assert.ok(!error.userMessage.includes(scratch));
      return true;
    });
  };

  it("names a folder that does not exist", async () => {
    const dir = join(scratch, "nowhere");
    await rejectsNaming(dir, dir, /does not exist/);
  });

  it("names a folder with no decoder in either layout", async () => {
    const dir = join(scratch, "empty");
    await mkdir(dir, { recursive: true });
    await rejectsNaming(dir, dir, /holds no TAESD decoder.*vae_decoder.*taesdxl_decoder\.onnx/);
  });

  it("names a decoder file that is not an ONNX model", async () => {
    const dir = join(scratch, "garbage");
    await mkdir(join(dir, "vae_decoder"), { recursive: true });
    await writeFile(join(dir, "vae_decoder", "model.onnx"), "not a model");
    await rejectsNaming(dir, join(dir, "vae_decoder", "model.onnx"), /could not be loaded/);
  });

  it("refuses the SDXL VAE (an AutoencoderKL config) by its config file", async () => {
    const models = await fixtureModels();
    const dir = join(scratch, "sdxl-vae");
    await cp(join(models.base, "vae_decoder"), join(dir, "vae_decoder"), { recursive: true });
    const configPath = join(dir, "vae_decoder", "config.json");
    await rejectsNaming(dir, configPath, /AutoencoderKL, not a tiny autoencoder/);
  });

  it("refuses a model with the wrong inputs by name (the SDXL UNet is no decoder)", async () => {
    const models = await fixtureModels();
    const dir = join(scratch, "unet-as-decoder");
    await mkdir(dir, { recursive: true });
    await cp(join(models.base, "unet"), join(dir, "vae_decoder"), { recursive: true });
    await rm(join(dir, "vae_decoder", "config.json"));
    await rejectsNaming(dir, join(dir, "vae_decoder", "model.onnx"), /a TAESD decoder has one of each/);
  });
});

// --- the pipeline: previews and drafts -----------------------------------------------------------

const params: GenerateParams = {
  prompt: "a red fox in the snow",
  width: 512,
  height: 768,
  seed: 21n,
  steps: 4,
  guidance: 5,
  scheduler: "euler",
  count: 1,
};

async function pixelsOf(image: Uint8Array, width?: number, height?: number): Promise<Buffer> {
  let s = sharp(image).removeAlpha();
  if (width && height) s = s.resize({ width, height, fit: "fill" });
  return s.raw().toBuffer();
}

function meanAbsoluteDifference(a: Buffer, b: Buffer): number {
  assert.equal(a.length, b.length);
  let sum = 0;
  for (let i = 0; i < a.length; i++) sum += Math.abs(a[i]! - b[i]!);
  return sum / a.length;
}

describe("SdxlPipeline with a tiny VAE", () => {
  let taesdDir: string;
  let models: Awaited<ReturnType<typeof fixtureModels>>;
  let plain: SdxlPipeline;
  let decoded: SdxlPipeline;

  before(async () => {
    models = await fixtureModels();
    taesdDir = join(scratch, "pipeline-taesd");
    await writeTinyVaeFolder(taesdDir, { architecture: { width: 8, blocksPerStage: 1 }, seed: 2 });
    plain = await loadPipeline({ modelDir: models.base, device: "cpu" });
    decoded = await loadPipeline({
      modelDir: models.base,
      device: "cpu",
      tinyVaeDir: taesdDir,
      tinyVaePreviews: "on",
    });
  });
  after(async () => {
    await plain?.dispose();
    await decoded?.dispose();
  });

  const previewsOf = async (pipeline: SdxlPipeline, request = params) => {
    const events: Progress[] = [];
    const result = await pipeline.generate(request, { onProgress: (p) => events.push(p), previewEvery: 2 });
    return { result, previews: events.filter((e) => e.preview).map((e) => e.preview!) };
  };

  it("decodes previews at the image's size (8x the latents), unlike the linear projection's", async () => {
    const linear = await previewsOf(plain);
    const tiny = await previewsOf(decoded);
    assert.equal(tiny.previews.length, 2);
    for (const preview of tiny.previews) {
      assert.equal(preview.mime, "image/jpeg");
      assert.deepEqual([preview.width, preview.height], [512, 768]);
      const meta = await sharp(preview.data).metadata();
      assert.deepEqual([meta.width, meta.height], [512, 768]);
    }
    assert.deepEqual([linear.previews[0]!.width, linear.previews[0]!.height], [85, 128]);
    // Same step, same latents, other decoder: the pictures differ clearly.
    const a = await pixelsOf(tiny.previews[1]!.data, 85, 128);
    const b = await pixelsOf(linear.previews[1]!.data);
    assert.ok(meanAbsoluteDifference(a, b) > 5, `mean difference ${meanAbsoluteDifference(a, b)}`);
    // Previews never change the result.
    assert.ok(Buffer.from(tiny.result.images[0]!.data).equals(Buffer.from(linear.result.images[0]!.data)));
  });

  it("keeps the linear preview on the CPU under auto, and uses the tiny VAE when asked", async () => {
    const auto = await loadPipeline({ modelDir: models.base, device: "cpu", tinyVaeDir: taesdDir });
    try {
      assert.equal(auto.decodedPreviews, false);
      assert.equal(auto.hasDraftDecoder, true);
      const { previews } = await previewsOf(auto, { ...params, steps: 2 });
      assert.deepEqual([previews[0]!.width, previews[0]!.height], [85, 128]);
    } finally {
      await auto.dispose();
    }
    assert.equal(decoded.decodedPreviews, true);
  });

  it("decodes a draft's final image with the tiny VAE: the decoder's pixels of the same latents, marked in the PNG", async () => {
    const full = await plain.generate(params);
    const draft = await decoded.generate({ ...params, draft: true });
    assert.ok(
      Buffer.from(draft.latents.buffer).equals(Buffer.from(full.latents.buffer)),
      "the same denoising",
    );
    const image = draft.images[0]!;
    assert.deepEqual([image.width, image.height], [512, 768]);
    const decoder = await load(taesdDir);
    try {
      const expected = await decoder.decode(draft.latents, 96, 64);
      assert.ok((await pixelsOf(image.data)).equals(Buffer.from(expected)), "PNG pixels are the tiny VAE's");
    } finally {
      await decoder.release();
    }
    const fullPixels = await pixelsOf(full.images[0]!.data);
    assert.ok(meanAbsoluteDifference(fullPixels, await pixelsOf(image.data)) > 5);
    const text = readPngTextChunks(image.data);
    assert.match(text.parameters ?? "", /VAE: TAESDXL/);
    assert.equal((JSON.parse(text.easel ?? "{}") as { draft?: boolean }).draft, true);
    assert.doesNotMatch(readPngTextChunks(full.images[0]!.data).parameters ?? "", /VAE:/);
  });

  it("refuses a draft where no tiny VAE is loaded, before any work", async () => {
    await assert.rejects(
      plain.generate({ ...params, draft: true }),
      (error: unknown) => error instanceof InvalidInputError && error.field === "draft",
    );
  });

  it("fails to load with the missing TAESD folder named", async () => {
    const missing = join(scratch, "no-taesd-here");
    await assert.rejects(
      loadPipeline({ modelDir: models.base, device: "cpu", tinyVaeDir: missing }),
      (error: unknown) => error instanceof ModelFolderError && error.message.includes(missing),
    );
  });
});

describe("the tiny VAE settings", () => {
  it("reach each device's pipeline from EASEL_TAESD_DIR and EASEL_TAESD_PREVIEWS", () => {
    const config = loadConfig({ EASEL_TAESD_DIR: "/models/taesdxl", EASEL_TAESD_PREVIEWS: "on" });
    assert.deepEqual(config.taesd, { dir: "/models/taesdxl", previews: "on" });
    const options = pipelineOptionsOf(sdxlEngineFor(config, "cuda:0") as SdxlEngineSpec);
    assert.equal(options.tinyVaeDir, "/models/taesdxl");
    assert.equal(options.tinyVaePreviews, "on");
    const plain = pipelineOptionsOf(sdxlEngineFor(loadConfig({}), "cpu") as SdxlEngineSpec);
    assert.equal("tinyVaeDir" in plain, false);
    assert.deepEqual(loadConfig({}).taesd, { dir: undefined, previews: "auto" });
    assert.throws(() => loadConfig({ EASEL_TAESD_PREVIEWS: "sometimes" }), /EASEL_TAESD_PREVIEWS/);
  });
});

describe("the predicted clean latents a decoded preview starts from", () => {
  it("are the x0 the linear preview projects: guidance applied, image 0 only", () => {
    const h = 3;
    const w = 4;
    const n = 2 * 4 * h * w; // two images
    const latents = latentsOf(h, w * 2, 1).subarray(0, n);
    const output = latentsOf(h, w * 4, 2).subarray(0, 2 * n);
    const source = { latents, output, guidance: 4.5, x0: { sample: 0.9, eps: -0.6 } };
    const x0 = guidedX0(source, h, w);
    assert.equal(x0.length, 4 * h * w);
    for (const i of [0, 5, 4 * h * w - 1]) {
      const e = output[i]! + 4.5 * (output[n + i]! - output[i]!);
      assert.ok(Math.abs(x0[i]! - (0.9 * latents[i]! - 0.6 * e)) < 1e-5);
    }
    const viaX0 = latentToPreviewRgb(x0, 0, h, w);
    const direct = guidedPreviewRgb(source, h, w);
    for (let i = 0; i < direct.length; i++) assert.ok(Math.abs(viaX0[i]! - direct[i]!) <= 1);
  });
});
