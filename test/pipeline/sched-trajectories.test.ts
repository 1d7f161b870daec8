/**
 * Full SDXL sampling loops against diffusers (trajectories.json): a stand-in UNet,
 * eps = (x*t)/(t + k) + c in float32, drives every scheduler through text-to-image, the base +
 * refiner hand-over, img2img and generator-driven Euler-ancestral runs. Latents must match after
 * every step bit for bit.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { TorchGenerator } from "../../src/pipeline/noise/index.js";
import {
  createScheduler,
  parseSchedulerConfig,
  type Scheduler,
} from "../../src/pipeline/schedulers/index.js";
import { readReference, SCHEDULER_OF_REFERENCE, type StandIn, standInEps } from "../helpers/reference.js";

interface Trajectory {
  id: string;
  kind: "text2img" | "text2img_torch_generator" | "base_plus_refiner" | "img2img";
  scheduler: string;
  config: string;
  steps: number;
  guidance_scale: number;
  classifier_free_guidance: boolean;
  stand_in_model?: string;
  base_stand_in_model?: string;
  refiner_stand_in_model?: string;
  initial_noise?: string;
  initial_noise_values?: number[];
  generator?: { seed: number };
  timesteps?: number[];
  init_noise_sigma?: number;
  initial_latents?: number[];
  noise_per_step?: number[][];
  step0?: { model_input: number[]; eps: number[]; eps_uncond?: number[]; eps_cond?: number[] };
  latents_after_step?: number[][];
  base_timesteps?: number[];
  refiner_timesteps?: number[];
  refiner_begin_index?: number;
  base_latents_after_step?: number[][];
  refiner_latents_after_step?: number[][];
  image_latents?: string;
  add_noise_noise?: string;
  t_start?: number;
  latent_timestep?: number;
  noised_latents?: number[];
}

const reference = readReference<{
  configs: Record<string, Record<string, unknown>>;
  stand_in_models: Record<string, StandIn>;
  arrays: Record<string, number[]>;
  trajectories: Trajectory[];
}>("trajectories.json");

const SHAPE = [1, 4, 8, 8];
const fl = Math.fround;

/** Largest |a - e| / |e| over all compared values, reported when a run is not bit-exact. */
let worstRelative = 0;

function assertLatents(actual: Float32Array, expected: readonly number[], label: string): void {
  assert.equal(actual.length, expected.length, `${label}: length`);
  let differing = 0;
  for (let i = 0; i < expected.length; i++) {
    if (!Object.is(actual[i], expected[i])) {
      differing++;
      worstRelative = Math.max(worstRelative, Math.abs(actual[i]! - expected[i]!) / Math.abs(expected[i]!));
    }
  }
  assert.equal(
    differing,
    0,
    `${label}: ${differing} values differ (worst relative error so far ${worstRelative})`,
  );
}

/** The pipeline's guided noise prediction: eps_u + g*(eps_c - eps_u), or eps_c alone without guidance. */
function guidedEps(model: StandIn, x: Float32Array, t: number, run: Trajectory) {
  const cond = standInEps(model, x, t, model.cond);
  if (!run.classifier_free_guidance) return { eps: cond };
  const uncond = standInEps(model, x, t, model.uncond);
  const g = run.guidance_scale;
  return { eps: uncond.map((u, i) => u + fl(g * fl(cond[i]! - u))), cond, uncond };
}

interface Loop {
  scheduler: Scheduler;
  model: StandIn;
  latents: Float32Array;
  from: number;
  to: number;
  expected: number[][];
  /** Supplies Euler-ancestral noise for step i (0-based within this loop). */
  noise: (i: number) => Float32Array;
  label: string;
  run: Trajectory;
}

function denoise(loop: Loop): void {
  const { scheduler, latents } = loop;
  const modelInput = new Float32Array(latents.length);
  for (let i = loop.from; i < loop.to; i++) {
    scheduler.scaleModelInput(latents, i, modelInput);
    const { eps, cond, uncond } = guidedEps(loop.model, modelInput, scheduler.timesteps[i]!, loop.run);
    if (i === loop.from && loop.from === 0 && loop.run.step0) {
      const step0 = loop.run.step0;
      assertLatents(modelInput, step0.model_input, `${loop.label} step 0 model input`);
      assertLatents(eps, step0.eps, `${loop.label} step 0 eps`);
      if (step0.eps_cond) assertLatents(cond!, step0.eps_cond, `${loop.label} step 0 eps_cond`);
      if (step0.eps_uncond) assertLatents(uncond!, step0.eps_uncond, `${loop.label} step 0 eps_uncond`);
    }
    scheduler.step(eps, i, latents, scheduler.needsNoise ? loop.noise(i - loop.from) : undefined);
    assertLatents(latents, loop.expected[i - loop.from]!, `${loop.label} after step ${i}`);
  }
}

const fromList =
  (list: number[][] | undefined, offset = 0) =>
  (i: number) =>
    Float32Array.from(list![offset + i]!);

function initialLatents(scheduler: Scheduler, noise: Float32Array): Float32Array {
  const sigma = fl(scheduler.initNoiseSigma);
  return noise.map((v) => v * sigma);
}

describe("sampling trajectories (trajectories.json)", () => {
  for (const run of reference.trajectories) {
    it(`${run.id} (${run.kind})`, () => {
      const config = parseSchedulerConfig(reference.configs[run.config]);
      const name = SCHEDULER_OF_REFERENCE[run.scheduler]!;
      const scheduler = createScheduler(name, config, run.steps);

      if (run.kind === "text2img" || run.kind === "text2img_torch_generator") {
        assert.deepEqual(Array.from(scheduler.timesteps), run.timesteps);
        assert.equal(fl(scheduler.initNoiseSigma), run.init_noise_sigma);
        let noise: (i: number) => Float32Array;
        let initial: Float32Array;
        if (run.kind === "text2img") {
          initial = Float32Array.from(reference.arrays[run.initial_noise!]!);
          noise = fromList(run.noise_per_step);
        } else {
          // diffusers' draw order: the initial latents first, then one randn per ancestral step.
          const generator = new TorchGenerator(BigInt(run.generator!.seed));
          initial = generator.randn(SHAPE);
          assertLatents(initial, run.initial_noise_values!, `${run.id} initial noise`);
          noise = (i) => {
            const drawn = generator.randn(SHAPE);
            assertLatents(drawn, run.noise_per_step![i]!, `${run.id} noise ${i}`);
            return drawn;
          };
        }
        const latents = initialLatents(scheduler, initial);
        assertLatents(latents, run.initial_latents!, `${run.id} initial latents`);
        const model = reference.stand_in_models[run.stand_in_model!]!;
        denoise({
          scheduler,
          model,
          latents,
          from: 0,
          to: run.steps,
          expected: run.latents_after_step!,
          noise,
          label: run.id,
          run,
        });
      } else if (run.kind === "base_plus_refiner") {
        const latents = initialLatents(scheduler, Float32Array.from(reference.arrays[run.initial_noise!]!));
        assertLatents(latents, run.initial_latents!, `${run.id} initial latents`);
        const baseSteps = run.base_timesteps!.length;
        assert.deepEqual(Array.from(scheduler.timesteps.subarray(0, baseSteps)), run.base_timesteps);
        denoise({
          scheduler,
          model: reference.stand_in_models[run.base_stand_in_model!]!,
          latents,
          from: 0,
          to: baseSteps,
          expected: run.base_latents_after_step!,
          noise: fromList(run.noise_per_step),
          label: `${run.id} base`,
          run,
        });
        // The refiner builds its own scheduler from the same config; its DPM history starts empty.
        const refiner = createScheduler(name, config, run.steps);
        const begin = run.refiner_begin_index!;
        assert.deepEqual(Array.from(refiner.timesteps.subarray(begin)), run.refiner_timesteps);
        denoise({
          scheduler: refiner,
          model: reference.stand_in_models[run.refiner_stand_in_model!]!,
          latents,
          from: begin,
          to: run.steps,
          expected: run.refiner_latents_after_step!,
          noise: fromList(run.noise_per_step, baseSteps),
          label: `${run.id} refiner`,
          run,
        });
      } else {
        const tStart = run.t_start!;
        assert.equal(scheduler.timesteps[tStart], run.latent_timestep);
        const latents = new Float32Array(256);
        const clean = Float32Array.from(reference.arrays[run.image_latents!]!);
        scheduler.addNoise(
          clean,
          Float32Array.from(reference.arrays[run.add_noise_noise!]!),
          tStart,
          latents,
        );
        assertLatents(latents, run.noised_latents!, `${run.id} noised latents`);
        denoise({
          scheduler,
          model: reference.stand_in_models[run.stand_in_model!]!,
          latents,
          from: tStart,
          to: run.steps,
          expected: run.latents_after_step!,
          noise: () => {
            throw new Error("img2img runs here use no ancestral scheduler");
          },
          label: run.id,
          run,
        });
      }
    });
  }
});
