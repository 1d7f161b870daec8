/**
 * `easel convert --dtype float16` on the fixture folders: what the folder holds (types, counts,
 * the record, the untouched source), that the SDXL pipeline runs it, and how close its outputs
 * stay to float32 — the UNet's and the text encoders' outputs and the final image.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { mkdtemp, readdir, readFile, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { after, before, describe, it } from "node:test";
import onnxProto from "onnx-proto";
import * as ort from "onnxruntime-node";
import sharp from "sharp";
import { ModelFolderError } from "../../src/errors.js";
import {
  CONVERSION_RECORD,
  type ConversionRecord,
  convertModelFolder,
  maxAbsDifference,
  psnr8,
  relativeL2,
} from "../../src/pipeline/convert/index.js";
import { loadPipeline } from "../../src/pipeline/index.js";
import { readModelWeights } from "../../src/pipeline/onnx/parameters.js";
import { ModelSession, SessionClock } from "../../src/pipeline/onnx/session.js";
import { floatOutput } from "../../src/pipeline/onnx/tensors.js";
import type { GenerateParams } from "../../src/pipeline/types.js";
import { runCli } from "../helpers/cli.js";
import { fixtureModels } from "../helpers/fixtures.js";

const { onnx } = onnxProto;
const FLOAT16 = onnx.TensorProto.DataType.FLOAT16;
const FLOAT = onnx.TensorProto.DataType.FLOAT;

async function treeHash(dir: string): Promise<string> {
  const hash = createHash("sha256");
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  for (const entry of entries.filter((e) => e.isFile()).sort((a, b) => a.name.localeCompare(b.name))) {
    const path = join(entry.parentPath, entry.name);
    hash.update(relative(dir, path));
    hash.update(await readFile(path));
  }
  return hash.digest("hex");
}

async function initializerTypes(modelPath: string): Promise<Map<string, number>> {
  const model = onnx.ModelProto.decode(await readFile(modelPath));
  return new Map((model.graph?.initializer ?? []).map((t) => [t.name ?? "", t.dataType ?? 0]));
}

const params: GenerateParams = {
  prompt: "a lighthouse at dusk",
  negativePrompt: "fog",
  width: 512,
  height: 512,
  seed: 7n,
  steps: 8,
  guidance: 5,
  scheduler: "euler",
  count: 1,
};

async function rgbOf(png: Uint8Array): Promise<Uint8Array> {
  return new Uint8Array(await sharp(png).removeAlpha().raw().toBuffer());
}

/** A seeded, normal-ish float32 array (sum of uniforms). */
function seeded(length: number, seed: number, scale = 1): Float32Array {
  let s = seed >>> 0 || 1;
  const u = () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>> 0) / 2 ** 32;
  };
  return Float32Array.from({ length }, () => scale * (u() + u() + u() - 1.5) * 2);
}

describe("easel convert --dtype float16 on the fixture folders", () => {
  let scratch: string;
  let models: Awaited<ReturnType<typeof fixtureModels>>;
  let converted: string;
  let record: ConversionRecord;
  let sourceHash: string;

  before(async () => {
    scratch = await mkdtemp(join(tmpdir(), "easel-convert-"));
    models = await fixtureModels();
    sourceHash = await treeHash(models.base);
    converted = join(scratch, "base-fp16");
    record = await convertModelFolder(models.base, converted, {
      dtype: "float16",
      toolVersion: "9.9.9",
      now: new Date("2026-01-02T03:04:05Z"),
    });
  });
  after(async () => {
    await rm(scratch, { recursive: true, force: true });
  });

  it("leaves the source folder byte for byte as it was, and no temporary folder behind", async () => {
    assert.equal(await treeHash(models.base), sourceHash);
    assert.deepEqual((await readdir(scratch)).sort(), ["base-fp16"]);
  });

  it("stores the UNet's and text encoders' float weights as float16, keeping only the timestep embedding's in float32", async () => {
    for (const component of ["text_encoder", "text_encoder_2"]) {
      const types = await initializerTypes(join(converted, component, "model.onnx"));
      const floats = [...types.values()].filter((t) => t === FLOAT || t === FLOAT16);
      assert.ok(floats.length > 0);
      assert.ok(
        floats.every((t) => t === FLOAT16),
        `${component} still has float32 weights`,
      );
    }
    const unet = await readModelWeights(join(converted, "unet", "model.onnx"));
    // The fixture UNet's one float32 weight: the 16 timestep frequencies the Sin/Cos take.
    assert.deepEqual(Object.keys(unet.parametersByType).sort(), ["float16", "float32"]);
    assert.equal(unet.parametersByType.float32, 16);
    const vae = await initializerTypes(join(converted, "vae_decoder", "model.onnx"));
    assert.ok(
      [...vae.values()].every((t) => t !== FLOAT16),
      "the VAE must stay float32",
    );
  });

  it("keeps every component's parameter count, halves the float16 weights' bytes and writes the UNet's as external data", async () => {
    for (const component of ["text_encoder", "text_encoder_2", "unet", "vae_decoder", "vae_encoder"]) {
      const before = await readModelWeights(join(models.base, component, "model.onnx"));
      const after = await readModelWeights(join(converted, component, "model.onnx"));
      assert.equal(after.parameters, before.parameters, component);
    }
    const unetBefore = await stat(join(models.base, "unet", "model.onnx_data"));
    const unetAfter = await readModelWeights(join(converted, "unet", "model.onnx"));
    assert.equal(unetAfter.external.length, 1);
    assert.equal(unetAfter.external[0]!.actualBytes, unetAfter.external[0]!.requiredBytes);
    const ratio = unetAfter.external[0]!.actualBytes! / unetBefore.size;
    assert.ok(ratio > 0.45 && ratio < 0.55, `unet external data ratio ${ratio}`);
  });

  it("records its source, dtype, date and tool version beside model_index.json", async () => {
    const written = JSON.parse(
      await readFile(join(converted, CONVERSION_RECORD), "utf8"),
    ) as ConversionRecord;
    assert.deepEqual(written, JSON.parse(JSON.stringify(record)));
    assert.equal(written.source, models.base);
    assert.equal(written.dtype, "float16");
    assert.equal(written.io, "float32");
    assert.equal(written.date, "2026-01-02T03:04:05.000Z");
    assert.equal(written.toolVersion, "9.9.9");
    assert.match(written.vae, /^float32/);
    assert.deepEqual(written.float32Operators, ["Sin", "Cos", "Exp", "Range", "CumSum", "ArgMax", "ArgMin"]);
    assert.deepEqual(written.components.find((c) => c.name === "unet")?.float32Nodes, {
      Reshape: 1,
      Mul: 1,
      Sin: 1,
      Cos: 1,
    });
  });

  it("keeps float32 inputs and outputs by default (keep-IO), with float16 on request", async () => {
    const clock = new SessionClock();
    const keepIo = await ModelSession.load(join(converted, "unet", "model.onnx"), { device: "cpu" }, clock);
    assert.equal(keepIo.input("sample").type, "float32");
    assert.equal(keepIo.input("timestep").type, "float32");
    assert.equal(keepIo.output("out_sample").type, "float32");
    await keepIo.release();
    const halfIo = join(scratch, "base-fp16-io");
    await convertModelFolder(models.base, halfIo, { dtype: "float16", io: "float16", toolVersion: "0" });
    const session = await ModelSession.load(join(halfIo, "unet", "model.onnx"), { device: "cpu" }, clock);
    assert.equal(session.input("sample").type, "float16");
    assert.equal(session.output("out_sample").type, "float16");
    await session.release();
    const pipeline = await loadPipeline({ modelDir: halfIo, device: "cpu" });
    try {
      const result = await pipeline.generate({ ...params, steps: 3 });
      assert.ok(result.latents.every(Number.isFinite));
    } finally {
      await pipeline.dispose();
    }
    await rm(halfIo, { recursive: true });
  });

  it("UNet: float16 stays within 1e-2 relative L2 of float32 (float16 SDXL's ~1e-3 order) for the same inputs", async (t) => {
    const clock = new SessionClock();
    const full = await ModelSession.load(join(models.base, "unet", "model.onnx"), { device: "cpu" }, clock);
    const half = await ModelSession.load(join(converted, "unet", "model.onnx"), { device: "cpu" }, clock);
    try {
      for (const timestep of [999, 500.5, 1]) {
        const feeds = () => ({
          sample: new ort.Tensor("float32", seeded(2 * 4 * 64 * 64, 11), [2, 4, 64, 64]),
          timestep: new ort.Tensor("float32", Float32Array.of(timestep), []),
          encoder_hidden_states: new ort.Tensor("float32", seeded(2 * 77 * 2048, 12), [2, 77, 2048]),
          text_embeds: new ort.Tensor("float32", seeded(2 * 1280, 13), [2, 1280]),
          time_ids: new ort.Tensor(
            "float32",
            Float32Array.of(1024, 1024, 0, 0, 1024, 1024, 1024, 1024, 0, 0, 1024, 1024),
            [2, 6],
          ),
        });
        const a = floatOutput((await full.run(feeds(), ["out_sample"])).out_sample!, "out_sample");
        const b = floatOutput((await half.run(feeds(), ["out_sample"])).out_sample!, "out_sample");
        const rel = relativeL2(b, a);
        const max = maxAbsDifference(b, a);
        t.diagnostic(
          `timestep ${timestep}: relative L2 ${rel.toExponential(2)}, max abs ${max.toExponential(2)}`,
        );
        assert.ok(rel < 1e-2, `relative L2 ${rel}`);
        assert.ok(max < 3e-2, `max abs ${max}`);
      }
    } finally {
      await full.release();
      await half.release();
    }
  });

  // The tiny encoders stack 12 and 32 squashing layers without norms or residuals; each one
  // amplifies the rounding a little (2.9e-4 at the embeddings, 1.6e-2 after 32 layers), so the
  // deep one's bound is wider here. The real layers are pinned at 1e-2 in full-size-accuracy.test.ts.
  it("text encoders: float16 hidden states and pooled output stay close to float32", async (t) => {
    const clock = new SessionClock();
    const ids = BigInt64Array.from({ length: 2 * 77 }, (_, i) =>
      BigInt(i % 77 === 0 ? 49406 : i % 77 < 12 ? 320 + ((i * 37) % 4000) : 49407),
    );
    for (const [component, names, bound] of [
      ["text_encoder", ["hidden_states.11", "pooler_output"], 1e-2],
      ["text_encoder_2", ["hidden_states.31", "text_embeds"], 3e-2],
    ] as const) {
      const full = await ModelSession.load(
        join(models.base, component, "model.onnx"),
        { device: "cpu" },
        clock,
      );
      const half = await ModelSession.load(
        join(converted, component, "model.onnx"),
        { device: "cpu" },
        clock,
      );
      try {
        const feeds = () => ({ input_ids: new ort.Tensor("int64", ids, [2, 77]) });
        const a = await full.run(feeds(), [...names]);
        const b = await half.run(feeds(), [...names]);
        for (const name of names) {
          const rel = relativeL2(floatOutput(b[name]!, name), floatOutput(a[name]!, name));
          const max = maxAbsDifference(floatOutput(b[name]!, name), floatOutput(a[name]!, name));
          t.diagnostic(
            `${component} ${name}: relative L2 ${rel.toExponential(2)}, max abs ${max.toExponential(2)}`,
          );
          assert.ok(rel < bound, `${component} ${name}: relative L2 ${rel}`);
        }
      } finally {
        await full.release();
        await half.release();
      }
    }
  });

  it("runs through the SDXL pipeline, and its image is within 35 dB PSNR of the float32 folder's", async (t) => {
    const full = await loadPipeline({ modelDir: models.base, device: "cpu" });
    const half = await loadPipeline({ modelDir: converted, device: "cpu" });
    try {
      const a = await full.generate(params);
      const b = await half.generate(params);
      const rel = relativeL2(b.latents, a.latents);
      const db = psnr8(await rgbOf(b.images[0]!.data), await rgbOf(a.images[0]!.data));
      t.diagnostic(`final latents relative L2 ${rel.toExponential(2)}; image PSNR ${db.toFixed(1)} dB`);
      assert.ok(b.latents.every(Number.isFinite));
      assert.ok(rel < 1e-2, `latents relative L2 ${rel}`);
      assert.ok(db > 35, `PSNR ${db} dB`);
      // A different seed is far further away: the figures above measure float16, not chance.
      const other = await full.generate({ ...params, seed: 8n });
      assert.ok(psnr8(await rgbOf(other.images[0]!.data), await rgbOf(a.images[0]!.data)) < db - 10);
    } finally {
      await full.dispose();
      await half.dispose();
    }
  });

  it("converts an fp16-safe VAE in place of the model's own when one is given", async () => {
    // The tiny fixture VAE stands in for an fp16-safe export (its values stay far from 65504).
    const out = join(scratch, "fp16-vae");
    const written = await convertModelFolder(models.base, out, {
      dtype: "float16",
      fp16SafeVae: models.refiner,
      toolVersion: "0",
    });
    assert.match(written.vae, /^float16, from the fp16-safe VAE in /);
    for (const component of ["vae_decoder", "vae_encoder"]) {
      const types = [...(await initializerTypes(join(out, component, "model.onnx"))).values()];
      assert.ok(types.includes(FLOAT16) && !types.includes(FLOAT), component);
    }
    const pipeline = await loadPipeline({ modelDir: out, device: "cpu" });
    try {
      const result = await pipeline.generate({ ...params, steps: 2 });
      assert.ok(result.latents.every(Number.isFinite));
    } finally {
      await pipeline.dispose();
    }
    await assert.rejects(
      convertModelFolder(models.base, join(scratch, "no-vae"), {
        dtype: "float16",
        fp16SafeVae: scratch,
        toolVersion: "0",
      }),
      /has no vae_decoder\/model\.onnx/,
    );
    await rm(out, { recursive: true });
  });

  it("refuses an existing destination and leaves nothing behind when a source file is truncated", async () => {
    await assert.rejects(
      convertModelFolder(models.base, converted, { dtype: "float16", toolVersion: "0" }),
      /already exists/,
    );
    const broken = join(scratch, "broken");
    const { cp, truncate } = await import("node:fs/promises");
    await cp(models.base, broken, { recursive: true });
    await truncate(join(broken, "unet", "model.onnx_data"), 1000);
    await assert.rejects(
      convertModelFolder(broken, join(scratch, "broken-fp16"), { dtype: "float16", toolVersion: "0" }),
      (error: unknown) => error instanceof ModelFolderError && /model\.onnx_data/.test(error.message),
    );
    assert.deepEqual((await readdir(scratch)).sort(), ["base-fp16", "broken"]);
    await rm(broken, { recursive: true });
  });

  it("easel convert prints each component and the setting, and rejects a dtype it does not write", async () => {
    const out = join(scratch, "cli-fp16");
    const run = await runCli(["convert", "--dtype", "float16", models.refiner, out]);
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, /unet\s+float16/);
    assert.match(run.stdout, /vae_decoder\s+float32/);
    assert.match(run.stdout, new RegExp(`EASEL_MODEL_DIR=${out}`));
    const bad = await runCli(["convert", "--dtype", "bfloat16", models.base, join(scratch, "nope")]);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /--dtype must be float16/);
    await rm(out, { recursive: true });
  });
});
