import assert from "node:assert/strict";
import { mkdtemp, readdir, readFile, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import * as ort from "onnxruntime-node";
import {
  buildFullSizeTextEncoder,
  buildFullSizeUnet,
  buildFullSizeVaeDecoder,
  buildFullSizeVaeEncoder,
  CLIP_VIT_L_TEXT,
  OPENCLIP_BIGG_TEXT,
  REDUCED_SDXL_ARCHITECTURE,
  SDXL_BASE_UNET,
  SDXL_VAE,
  writeFullSizeModels,
} from "../../src/fixtures/full-size/index.js";
import { loadPipeline } from "../../src/pipeline/index.js";
import { float16BitsToFloat32, float32ToFloat16Bits } from "../../src/pipeline/onnx/float16.js";
import type { GenerateParams } from "../../src/pipeline/types.js";

let scratch: string;
let folders: { base: string; refiner?: string };
before(async () => {
  scratch = await mkdtemp(join(tmpdir(), "easel-full-size-"));
  folders = await writeFullSizeModels(scratch, { depth: "reduced", refiner: true, seed: 7 });
});
after(async () => {
  await rm(scratch, { recursive: true, force: true });
});

describe("full-size SDXL architecture (graphs built, weights not written)", () => {
  const f32 = { type: "float32" } as const;

  it("the UNet has diffusers' UNet2DConditionModel parameter count for SDXL base", () => {
    assert.equal(buildFullSizeUnet(SDXL_BASE_UNET, f32).parameterCount(), 2_567_463_684);
  });

  it("the text encoders have transformers' CLIPTextModel / CLIPTextModelWithProjection counts", () => {
    assert.equal(buildFullSizeTextEncoder(CLIP_VIT_L_TEXT, f32).parameterCount(), 123_060_480);
    assert.equal(buildFullSizeTextEncoder(OPENCLIP_BIGG_TEXT, f32).parameterCount(), 694_659_840);
  });

  it("the VAE halves add up to AutoencoderKL's count for SDXL's VAE", () => {
    const decoder = buildFullSizeVaeDecoder(SDXL_VAE, f32).parameterCount();
    const encoder = buildFullSizeVaeEncoder(SDXL_VAE, { ...f32, output: "latent_sample" }).parameterCount();
    assert.equal(decoder + encoder, 83_653_863);
  });

  it("float16 storage halves the weights' bytes without changing the count", () => {
    const half = buildFullSizeUnet(SDXL_BASE_UNET, { type: "float16" });
    assert.equal(half.parameterCount(), 2_567_463_684);
    assert.equal(half.parameterBytes(), 2 * 2_567_463_684);
  });
});

describe("full-size architecture at reduced depth, written and run", () => {
  it("writes the export layout with every model's weights in model.onnx_data", async () => {
    assert.deepEqual((await readdir(folders.base)).sort(), [
      "model_index.json",
      "scheduler",
      "text_encoder",
      "text_encoder_2",
      "tokenizer",
      "tokenizer_2",
      "unet",
      "vae_decoder",
      "vae_encoder",
    ]);
    assert.ok(!(await readdir(folders.refiner!)).includes("text_encoder"));
    for (const name of ["text_encoder", "text_encoder_2", "unet", "vae_decoder", "vae_encoder"]) {
      const graph = await stat(join(folders.base, name, "model.onnx"));
      const weights = await stat(join(folders.base, name, "model.onnx_data"));
      assert.ok(weights.size > 20 * graph.size, `${name}: weights ${weights.size} B, graph ${graph.size} B`);
    }
  });

  it("is byte-identical for the same seed", async () => {
    const again = await writeFullSizeModels(join(scratch, "again"), { depth: "reduced", seed: 7 });
    for (const file of ["unet/model.onnx", "unet/model.onnx_data", "text_encoder_2/model.onnx_data"]) {
      assert.ok(
        (await readFile(join(folders.base, file))).equals(await readFile(join(again.base, file))),
        file,
      );
    }
  });

  it("loads in ONNX Runtime with the export's tensor names", async () => {
    const unet = await ort.InferenceSession.create(join(folders.base, "unet", "model.onnx"));
    try {
      assert.deepEqual(unet.inputNames, [
        "sample",
        "timestep",
        "encoder_hidden_states",
        "text_embeds",
        "time_ids",
      ]);
      assert.deepEqual(unet.outputNames, ["out_sample"]);
    } finally {
      await unet.release();
    }
    const encoder2 = await ort.InferenceSession.create(join(folders.base, "text_encoder_2", "model.onnx"));
    try {
      assert.deepEqual(encoder2.outputNames.slice(0, 3), [
        "text_embeds",
        "last_hidden_state",
        "hidden_states.0",
      ]);
      assert.equal(encoder2.outputNames.length, 2 + 3);
    } finally {
      await encoder2.release();
    }
  });

  it("a 64x64-latent run (512x512, 3 steps, CFG) is finite and the same for the same seed", async () => {
    const pipeline = await loadPipeline({ modelDir: folders.base, device: "cpu" });
    try {
      const params: GenerateParams = {
        prompt: "a lighthouse at dusk",
        negativePrompt: "blurry",
        width: 512,
        height: 512,
        seed: 5n,
        steps: 3,
        guidance: 6,
        scheduler: "euler",
        count: 1,
      };
      const first = await pipeline.generate(params);
      const second = await pipeline.generate(params);
      const other = await pipeline.generate({ ...params, seed: 6n });
      assert.equal(first.latents.length, 4 * 64 * 64);
      assert.ok(first.latents.every(Number.isFinite), "latents are finite");
      const spread = Math.max(...first.latents) - Math.min(...first.latents);
      assert.ok(spread > 0.1, `latents vary (spread ${spread})`);
      assert.deepEqual(second.latents, first.latents);
      assert.ok(Buffer.from(second.images[0]!.data).equals(Buffer.from(first.images[0]!.data)));
      assert.notDeepEqual(other.latents, first.latents);
    } finally {
      await pipeline.dispose();
    }
  });

  it("float16 weights and I/O: the UNet takes and returns float16 and stays finite", async () => {
    const half = await writeFullSizeModels(join(scratch, "fp16"), {
      depth: "reduced",
      dtype: "float16",
      seed: 7,
    });
    const unet = await ort.InferenceSession.create(join(half.base, "unet", "model.onnx"));
    try {
      const f16 = (values: number[] | Float32Array, dims: number[]) =>
        new ort.Tensor("float16", float32ToFloat16Bits(Float32Array.from(values)), dims);
      const { crossAttentionDim: context, pooledDim: pooled } = REDUCED_SDXL_ARCHITECTURE.unet;
      const latent = Float32Array.from({ length: 2 * 4 * 8 * 8 }, (_, i) => Math.sin(i));
      const { out_sample } = await unet.run({
        sample: f16(latent, [2, 4, 8, 8]),
        timestep: f16([500], []),
        encoder_hidden_states: f16(new Float32Array(2 * 77 * context).fill(0.1), [2, 77, context]),
        text_embeds: f16(new Float32Array(2 * pooled).fill(0.2), [2, pooled]),
        time_ids: f16([512, 512, 0, 0, 512, 512, 512, 512, 0, 0, 512, 512], [2, 6]),
      });
      assert.equal(out_sample!.type, "float16");
      const values = float16BitsToFloat32(out_sample!.data as Uint16Array);
      assert.ok(values.every(Number.isFinite));
      assert.ok(Math.max(...values) - Math.min(...values) > 0.01);
    } finally {
      await unet.release();
    }
  });

  it("the refiner folder runs as the second stage", async () => {
    const pipeline = await loadPipeline({
      modelDir: folders.base,
      refinerDir: folders.refiner,
      device: "cpu",
    });
    try {
      const result = await pipeline.generate({
        prompt: "a lighthouse at dusk",
        width: 512,
        height: 512,
        seed: 5n,
        steps: 4,
        guidance: 6,
        scheduler: "euler",
        count: 1,
        refiner: { switchAt: 0.5 },
      });
      assert.ok(result.latents.every(Number.isFinite));
    } finally {
      await pipeline.dispose();
    }
  });
});
