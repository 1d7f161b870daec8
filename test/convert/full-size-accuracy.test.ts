/**
 * float16 vs float32 on SDXL's real layer types (the full-size fixture architecture at reduced
 * depth: ResNets with GroupNorm, attention, GEGLU, CLIP with its causal mask): the UNet's output
 * and the text encoders' outputs for the same inputs, converted by `easel convert`.
 */
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import * as ort from "onnxruntime-node";
import { REDUCED_SDXL_ARCHITECTURE, writeFullSizeModels } from "../../src/fixtures/full-size/index.js";
import { convertModelFolder, maxAbsDifference, relativeL2 } from "../../src/pipeline/convert/index.js";
import { ModelSession, SessionClock } from "../../src/pipeline/onnx/session.js";
import { floatOutput } from "../../src/pipeline/onnx/tensors.js";

function seeded(length: number, seed: number): Float32Array {
  let s = seed >>> 0 || 1;
  const u = () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>> 0) / 2 ** 32;
  };
  return Float32Array.from({ length }, () => (u() + u() + u() - 1.5) * 2);
}

describe("float16 accuracy on SDXL's layer types (reduced full-size fixtures)", () => {
  let scratch: string;
  let source: string;
  let converted: string;
  const clock = new SessionClock();
  const load = (path: string) => ModelSession.load(path, { device: "cpu" }, clock);

  before(async () => {
    scratch = await mkdtemp(join(tmpdir(), "easel-fp16-accuracy-"));
    source = (await writeFullSizeModels(join(scratch, "fp32"), { depth: "reduced", seed: 3 })).base;
    converted = join(scratch, "fp16");
    await convertModelFolder(source, converted, { dtype: "float16", toolVersion: "0" });
  });
  after(async () => {
    await rm(scratch, { recursive: true, force: true });
  });

  it("UNet: relative L2 under 5e-3 and max abs under 5e-2 at timesteps 999, 500.5 and 1", async (t) => {
    const a = REDUCED_SDXL_ARCHITECTURE.unet;
    const full = await load(join(source, "unet", "model.onnx"));
    const half = await load(join(converted, "unet", "model.onnx"));
    try {
      for (const timestep of [999, 500.5, 1]) {
        const feeds = () => ({
          sample: new ort.Tensor("float32", seeded(2 * 4 * 32 * 32, 5), [2, 4, 32, 32]),
          timestep: new ort.Tensor("float32", Float32Array.of(timestep), []),
          encoder_hidden_states: new ort.Tensor("float32", seeded(2 * 77 * a.crossAttentionDim, 6), [
            2,
            77,
            a.crossAttentionDim,
          ]),
          text_embeds: new ort.Tensor("float32", seeded(2 * a.pooledDim, 7), [2, a.pooledDim]),
          time_ids: new ort.Tensor(
            "float32",
            Float32Array.of(256, 256, 0, 0, 256, 256, 256, 256, 0, 0, 256, 256),
            [2, 6],
          ),
        });
        const x = floatOutput((await full.run(feeds(), ["out_sample"])).out_sample!, "out_sample");
        const y = floatOutput((await half.run(feeds(), ["out_sample"])).out_sample!, "out_sample");
        const rel = relativeL2(y, x);
        const max = maxAbsDifference(y, x);
        t.diagnostic(
          `timestep ${timestep}: relative L2 ${rel.toExponential(2)}, max abs ${max.toExponential(2)}`,
        );
        assert.ok(rel < 5e-3, `relative L2 ${rel}`);
        assert.ok(max < 5e-2, `max abs ${max}`);
      }
    } finally {
      await full.release();
      await half.release();
    }
  });

  it("text encoders: penultimate hidden states and text_embeds within 1e-2 relative L2", async (t) => {
    const ids = BigInt64Array.from({ length: 77 }, (_, i) =>
      BigInt(i === 0 ? 49406 : i < 9 ? 1000 + i * 911 : 49407),
    );
    for (const [component, layers, pooled] of [
      ["text_encoder", REDUCED_SDXL_ARCHITECTURE.textEncoder.layers, undefined],
      ["text_encoder_2", REDUCED_SDXL_ARCHITECTURE.textEncoder2.layers, "text_embeds"],
    ] as const) {
      const names = [`hidden_states.${layers - 1}`, ...(pooled ? [pooled] : [])];
      const full = await load(join(source, component, "model.onnx"));
      const half = await load(join(converted, component, "model.onnx"));
      try {
        const feeds = () => ({ input_ids: new ort.Tensor("int64", ids, [1, 77]) });
        const x = await full.run(feeds(), names);
        const y = await half.run(feeds(), names);
        for (const name of names) {
          const rel = relativeL2(floatOutput(y[name]!, name), floatOutput(x[name]!, name));
          const max = maxAbsDifference(floatOutput(y[name]!, name), floatOutput(x[name]!, name));
          t.diagnostic(
            `${component} ${name}: relative L2 ${rel.toExponential(2)}, max abs ${max.toExponential(2)}`,
          );
          assert.ok(rel < 1e-2, `${component} ${name}: ${rel}`);
        }
      } finally {
        await full.release();
        await half.release();
      }
    }
  });
});
