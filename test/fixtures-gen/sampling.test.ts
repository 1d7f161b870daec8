import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import * as ort from "onnxruntime-node";
import { fixtureModels } from "../helpers/fixtures.js";

interface SchedulerCase {
  scheduler: string;
  timestep_spacing: string;
  steps: number;
  timesteps: number[];
  sigmas: number[];
}

const reference = JSON.parse(
  readFileSync(new URL("../fixtures/reference/schedulers.json", import.meta.url), "utf8"),
) as { cases: SchedulerCase[] };
const euler30 = reference.cases.find(
  (c) => c.scheduler === "euler" && c.timestep_spacing === "leading" && c.steps === 30,
);

const open = async (folder: string, name: string) =>
  ort.InferenceSession.create(join(folder, name, "model.onnx"), { intraOpNumThreads: 1 });

function ids(pad: number): ort.Tensor {
  const values = new BigInt64Array(77).fill(BigInt(pad));
  [49406, 320, 1125, 539, 320, 2368, 49407].forEach((id, i) => {
    values[i] = BigInt(id);
  });
  return new ort.Tensor("int64", values, [1, 77]);
}

/** Deterministic standard normals (a fixed LCG + Box-Muller; the pipeline's noise is tested elsewhere). */
function normals(count: number): Float32Array {
  let state = 12345;
  const uniform = () => {
    state = (Math.imul(state, 1103515245) + 12345) >>> 0;
    return (state + 1) / 4294967297;
  };
  return Float32Array.from(
    { length: count },
    () => Math.sqrt(-2 * Math.log(uniform())) * Math.cos(2 * Math.PI * uniform()),
  );
}

describe("fixture models in a sampling loop", () => {
  it("30 Euler steps with guidance 7.5 stay finite and decode to an image that is neither black nor white", async () => {
    assert.ok(euler30, "reference has the Euler/leading/30 case");
    const folder = (await fixtureModels()).base;
    const [encoder1, encoder2, unet, decoder] = await Promise.all(
      ["text_encoder", "text_encoder_2", "unet", "vae_decoder"].map((name) => open(folder, name)),
    );
    try {
      // SDXL conditioning: penultimate hidden states concatenated, pooled text_embeds; zeros for the negative.
      const h1 = (await encoder1.run({ input_ids: ids(49407) }))["hidden_states.11"].data as Float32Array;
      const out2 = await encoder2.run({ input_ids: ids(0) });
      const h2 = out2["hidden_states.31"].data as Float32Array;
      const context = new Float32Array(2 * 77 * 2048);
      for (let t = 0; t < 77; t++) {
        context.set(h1.subarray(t * 768, (t + 1) * 768), (77 + t) * 2048);
        context.set(h2.subarray(t * 1280, (t + 1) * 1280), (77 + t) * 2048 + 768);
      }
      const pooled = new Float32Array(2 * 1280);
      pooled.set(out2.text_embeds.data as Float32Array, 1280);
      const timeIds = Float32Array.from([128, 128, 0, 0, 128, 128, 128, 128, 0, 0, 128, 128]);

      const [h, w] = [16, 16];
      const size = 4 * h * w;
      const { sigmas, timesteps } = euler30;
      const latents = normals(size).map((v) => v * sigmas[0]);
      for (let i = 0; i < timesteps.length; i++) {
        const divisor = Math.sqrt(sigmas[i] ** 2 + 1);
        const scaled = new Float32Array(2 * size);
        for (let k = 0; k < size; k++) scaled[k] = scaled[size + k] = latents[k] / divisor;
        const { out_sample } = await unet.run({
          sample: new ort.Tensor("float32", scaled, [2, 4, h, w]),
          timestep: new ort.Tensor("float32", Float32Array.of(timesteps[i]), []),
          encoder_hidden_states: new ort.Tensor("float32", context, [2, 77, 2048]),
          text_embeds: new ort.Tensor("float32", pooled, [2, 1280]),
          time_ids: new ort.Tensor("float32", timeIds, [2, 6]),
        });
        const eps = out_sample.data as Float32Array;
        for (let k = 0; k < size; k++) {
          const guided = eps[k] + 7.5 * (eps[size + k] - eps[k]);
          latents[k] += (sigmas[i + 1] - sigmas[i]) * guided;
        }
        assert.ok(latents.every(Number.isFinite), `latents finite after step ${i}`);
      }
      const rms = Math.sqrt(latents.reduce((sum, v) => sum + v * v, 0) / size);
      assert.ok(rms < sigmas[0] / 2, `the loop removed noise (rms ${rms} from ${sigmas[0]})`);

      const decoded = await decoder.run({
        latent_sample: new ort.Tensor(
          "float32",
          latents.map((v) => v / 0.13025),
          [1, 4, h, w],
        ),
      });
      const pixels = Array.from(decoded.sample.data as Float32Array, (v) =>
        Math.round(Math.min(1, Math.max(0, v / 2 + 0.5)) * 255),
      );
      assert.equal(pixels.length, 3 * 8 * h * 8 * w);
      const mean = pixels.reduce((a, b) => a + b, 0) / pixels.length;
      const clipped = pixels.filter((p) => p === 0 || p === 255).length;
      assert.ok(mean > 40 && mean < 215, `mean pixel ${mean}`);
      assert.ok(clipped < pixels.length * 0.05, `${clipped} pixels at 0 or 255`);
      assert.ok(new Set(pixels).size > 64, "the image has detail");
    } finally {
      await Promise.all([encoder1, encoder2, unet, decoder].map((s) => s.release()));
    }
  });
});
