/**
 * diffusers' own scheduler unit tests (tests/schedulers/test_scheduler_*.py), replayed on configs
 * other than SDXL's: 1100 or 1000 train steps, linear betas, linspace spacing, v-prediction, Euler
 * with Karras sigmas, DPM++ with a sigma_min final step, DDIM with clipping and set_alpha_to_one.
 * Each loop's |sample| sum and mean must pass the test's own tolerance and agree with the value the
 * reference port obtained (schedulers.json `verification`) to float32 accuracy.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, it } from "node:test";
import { TorchGenerator } from "../../src/pipeline/noise/index.js";
import {
  createScheduler,
  parseSchedulerConfig,
  type Scheduler,
} from "../../src/pipeline/schedulers/index.js";
import type { SchedulerName } from "../../src/pipeline/types.js";

interface VerificationRow {
  test: string;
  expected: unknown;
  obtained: unknown;
  tolerance: unknown;
}
const verification = (
  JSON.parse(readFileSync(new URL("../fixtures/reference/schedulers.json", import.meta.url), "utf8")) as {
    verification: VerificationRow[];
  }
).verification;

function row(test: string): { expected: number; obtained: number; tolerance: number } {
  const found = verification.find((r) => r.test === test);
  assert.ok(found, `verification row ${test}`);
  return {
    expected: found.expected as number,
    obtained: found.obtained as number,
    tolerance: found.tolerance as number,
  };
}

const fl = Math.fround;
const SHAPE = [4, 3, 8, 8];
const NUMEL = 768;

/** dummy_sample_deter / dummy_noise_deter: arange laid out (C, H, W, B), divided by numel, permuted to (B, C, H, W). */
function deterministic(flip: boolean): Float32Array {
  const out = new Float32Array(NUMEL);
  for (let b = 0; b < 4; b++)
    for (let c = 0; c < 3; c++)
      for (let h = 0; h < 8; h++)
        for (let w = 0; w < 8; w++) {
          const position = ((c * 8 + h) * 8 + w) * 4 + b;
          out[((b * 3 + c) * 8 + h) * 8 + w] = (flip ? NUMEL - 1 - position : position) / NUMEL;
        }
  return out;
}

/** dummy_model: sample * t / (t + 1) in float32. */
function dummyModel(sample: Float32Array, t: number): Float32Array {
  const tf = fl(t);
  const d = fl(tf + 1);
  return sample.map((x) => fl(x * tf) / d);
}

interface LoopOptions {
  /** The Euler-family tests overwrite the sample with scale_model_input's output. */
  scale: boolean;
  /** Multiply the starting sample by init_noise_sigma. */
  initSigma: boolean;
  /** Start at this index after add_noise(sample, dummy_noise_deter). */
  noisedFrom?: number;
}

function fullLoop(
  name: SchedulerName,
  json: Record<string, unknown>,
  steps: number,
  options: LoopOptions,
): Float32Array {
  const scheduler: Scheduler = createScheduler(name, parseSchedulerConfig(json), steps);
  const generator = new TorchGenerator(0n);
  let sample = deterministic(false);
  if (options.initSigma) {
    const sigma = fl(scheduler.initNoiseSigma);
    sample = sample.map((x) => x * sigma);
  }
  const from = options.noisedFrom ?? 0;
  if (options.noisedFrom !== undefined) scheduler.addNoise(sample, deterministic(true), from, sample);
  for (let i = from; i < steps; i++) {
    if (options.scale) scheduler.scaleModelInput(sample, i, sample);
    const output = dummyModel(sample, scheduler.timesteps[i]!);
    scheduler.step(output, i, sample, scheduler.needsNoise ? generator.randn(SHAPE) : undefined);
  }
  return sample;
}

function check(sample: Float32Array, test: string, statistic: "sum" | "mean"): void {
  let sum = 0;
  for (const v of sample) sum += Math.abs(v);
  const value = statistic === "sum" ? sum : sum / sample.length;
  const { expected, obtained, tolerance } = row(`${test} result_${statistic}`);
  assert.ok(
    Math.abs(value - expected) < tolerance,
    `${test} ${statistic}: ${value} vs diffusers' ${expected}`,
  );
  assert.ok(
    Math.abs(value - obtained) <= 1e-6 * Math.max(1, Math.abs(obtained)),
    `${test} ${statistic}: ${value} vs reference port ${obtained}`,
  );
}

const EULER = { num_train_timesteps: 1100, beta_start: 0.0001, beta_end: 0.02, beta_schedule: "linear" };
const DPM = {
  num_train_timesteps: 1000,
  beta_start: 0.0001,
  beta_end: 0.02,
  beta_schedule: "linear",
  solver_order: 2,
  prediction_type: "epsilon",
  thresholding: false,
  sample_max_value: 1.0,
  algorithm_type: "dpmsolver++",
  solver_type: "midpoint",
  lower_order_final: false,
  euler_at_final: false,
  variance_type: null,
  final_sigmas_type: "sigma_min",
};
const DDIM = {
  num_train_timesteps: 1000,
  beta_start: 0.0001,
  beta_end: 0.02,
  beta_schedule: "linear",
  clip_sample: true,
};
const eulerLoop = { scale: true, initSigma: true };
const plainLoop = { scale: false, initSigma: false };

describe("diffusers scheduler unit-test loops", () => {
  const cases: [string, () => Float32Array][] = [
    ["test_scheduler_euler::test_full_loop_no_noise", () => fullLoop("euler", EULER, 10, eulerLoop)],
    [
      "test_scheduler_euler::test_full_loop_with_v_prediction",
      () => fullLoop("euler", { ...EULER, prediction_type: "v_prediction" }, 10, eulerLoop),
    ],
    [
      "test_scheduler_euler::test_full_loop_device_karras_sigmas",
      () => fullLoop("euler", { ...EULER, use_karras_sigmas: true }, 10, eulerLoop),
    ],
    [
      "test_scheduler_euler::test_full_loop_with_noise",
      () => fullLoop("euler", EULER, 10, { ...eulerLoop, noisedFrom: 8 }),
    ],
    [
      "test_scheduler_euler_ancestral::test_full_loop_no_noise",
      () => fullLoop("euler-a", EULER, 10, eulerLoop),
    ],
    [
      "test_scheduler_euler_ancestral::test_full_loop_with_v_prediction",
      () => fullLoop("euler-a", { ...EULER, prediction_type: "v_prediction" }, 10, eulerLoop),
    ],
    [
      "test_scheduler_euler_ancestral::test_full_loop_with_noise",
      () => fullLoop("euler-a", EULER, 10, { ...eulerLoop, noisedFrom: 8 }),
    ],
    [
      "test_scheduler_dpm_multi::test_full_loop_with_karras_and_v_prediction",
      () =>
        fullLoop(
          "dpmpp-2m-karras",
          { ...DPM, prediction_type: "v_prediction", use_karras_sigmas: true },
          10,
          plainLoop,
        ),
    ],
    ["test_scheduler_ddim::test_full_loop_no_noise", () => fullLoop("ddim", DDIM, 10, plainLoop)],
    [
      "test_scheduler_ddim::test_full_loop_with_v_prediction",
      () => fullLoop("ddim", { ...DDIM, prediction_type: "v_prediction" }, 10, plainLoop),
    ],
    [
      "test_scheduler_ddim::test_full_loop_with_set_alpha_to_one",
      () => fullLoop("ddim", { ...DDIM, set_alpha_to_one: true, beta_start: 0.01 }, 10, plainLoop),
    ],
    [
      "test_scheduler_ddim::test_full_loop_with_no_set_alpha_to_one",
      () => fullLoop("ddim", { ...DDIM, set_alpha_to_one: false, beta_start: 0.01 }, 10, plainLoop),
    ],
    [
      "test_scheduler_ddim::test_full_loop_with_noise",
      () => fullLoop("ddim", DDIM, 10, { ...plainLoop, noisedFrom: 8 }),
    ],
  ];
  for (const [test, run] of cases) {
    it(test, () => {
      const sample = run();
      const hasSum = verification.some((r) => r.test === `${test} result_sum`);
      if (hasSum) check(sample, test, "sum");
      check(sample, test, "mean");
    });
  }

  it("test_scheduler_ddim::test_steps_offset: leading spacing with offset 1 gives 801, 601, 401, 201, 1", () => {
    const scheduler = createScheduler("ddim", parseSchedulerConfig({ ...DDIM, steps_offset: 1 }), 5);
    assert.deepEqual(Array.from(scheduler.timesteps), [801, 601, 401, 201, 1]);
  });
});
