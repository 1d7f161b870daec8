import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { applyGuidance } from "../../src/pipeline/conditioning.js";
import { guidedPreviewRgb, latentToPreviewRgb } from "../../src/pipeline/image/preview.js";
import {
  createScheduler,
  parseSchedulerConfig,
  type Scheduler,
  SDXL_SCHEDULER_CONFIG_JSON,
} from "../../src/pipeline/schedulers/index.js";
import { SCHEDULER_NAMES } from "../../src/pipeline/types.js";

const STEPS = 8;
/** Two images of [4, 12, 10]: the batch layout ([uncond images; cond images]) matters. */
const COUNT = 2;
const PLANE = 12 * 10;
const N = COUNT * 4 * PLANE;

/** Deterministic values spread over several magnitudes, including exact ties and zeros. */
function values(count: number, seed: number, scale: number): Float32Array {
  let state = seed >>> 0;
  return Float32Array.from({ length: count }, (_, i) => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    if (i % 97 === 0) return 0;
    return ((state / 2 ** 32) * 2 - 1) * scale * (1 + (i % 7));
  });
}

function scheduler(name: (typeof SCHEDULER_NAMES)[number], prediction: string): Scheduler {
  const config = parseSchedulerConfig({ ...SDXL_SCHEDULER_CONFIG_JSON, prediction_type: prediction });
  return createScheduler(name, config, STEPS);
}

const sameBits = (a: Float32Array, b: Float32Array) =>
  a.length === b.length && a.every((v, i) => Object.is(v, b[i]));

describe("fused guidance + step + next scale_model_input", () => {
  for (const name of SCHEDULER_NAMES) {
    // Euler ancestral does not support sample prediction (diffusers raises too).
    const predictions =
      name === "euler-a" ? ["epsilon", "v_prediction"] : ["epsilon", "v_prediction", "sample"];
    for (const prediction of predictions) {
      for (const guidance of [undefined, 7.3]) {
        it(`${name}, ${prediction}, guidance ${guidance ?? "off"}: the separate operations' float32 bits at every step`, () => {
          const separate = scheduler(name, prediction);
          const fused = scheduler(name, prediction);
          const copies = guidance === undefined ? 1 : 2;
          const reference = values(N, 1, separate.initNoiseSigma);
          const latents = reference.slice();
          const input = new Float32Array(copies * N);
          const modelInput = new Float32Array(N);
          const eps = new Float32Array(N);
          fused.scaleModelInput(latents, 0, input.subarray(0, N));
          input.copyWithin(N, 0, N);
          for (let i = 0; i < STEPS; i++) {
            separate.scaleModelInput(reference, i, modelInput);
            for (let c = 0; c < copies; c++) {
              assert.ok(
                sameBits(input.subarray(c * N, (c + 1) * N), modelInput),
                `step ${i} input copy ${c}`,
              );
            }
            const output = values(copies * N, 100 + i, 1.5);
            const noise = separate.needsNoise ? values(N, 200 + i, 1) : undefined;
            if (guidance === undefined) eps.set(output);
            else applyGuidance(output.subarray(0, N), output.subarray(N), guidance, eps);
            separate.step(eps, i, reference, noise);
            const nextInput = i + 1 < STEPS ? input : undefined;
            fused.stepGuided({ output, guidance, latents, noise, nextInput }, i);
            assert.ok(sameBits(latents, reference), `step ${i} latents`);
          }
        });
      }
    }
  }

  it("refuses an output of the wrong size and a next input past the last step", () => {
    const euler = scheduler("euler", "epsilon");
    const latents = values(N, 1, 1);
    assert.throws(() => euler.stepGuided({ output: new Float32Array(N), guidance: 5, latents }, 0), /values/);
    assert.throws(() =>
      euler.stepGuided(
        { output: new Float32Array(N), guidance: undefined, latents, nextInput: new Float32Array(N) },
        STEPS - 1,
      ),
    );
  });
});

describe("one-pass preview", () => {
  for (const name of SCHEDULER_NAMES) {
    it(`${name}: the bytes of latentToPreviewRgb(predictOriginal(guided eps)), within one level`, () => {
      const s = scheduler(name, "epsilon");
      const latents = values(N, 3, 2);
      const output = values(2 * N, 4, 1);
      const eps = new Float32Array(N);
      applyGuidance(output.subarray(0, N), output.subarray(N), 5, eps);
      const x0 = new Float32Array(N);
      s.predictOriginal(latents, eps, 3, x0);
      const expected = latentToPreviewRgb(x0, 0, 12, 10);
      const actual = guidedPreviewRgb({ latents, output, guidance: 5, x0: s.previewCoefficients(3) }, 12, 10);
      let differing = 0;
      for (let i = 0; i < expected.length; i++) {
        assert.ok(Math.abs(actual[i]! - expected[i]!) <= 1, `byte ${i}: ${actual[i]} vs ${expected[i]}`);
        if (actual[i] !== expected[i]) differing++;
      }
      assert.ok(differing < expected.length / 20, `${differing} bytes differ by one`);
    });
  }
});
