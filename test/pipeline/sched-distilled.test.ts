/**
 * Schedules of distilled SDXL models against test/fixtures/distilled/distilled_schedules.json,
 * which generate.py beside it computes from diffusers' formulas in numpy: trailing spacing for
 * Euler and Euler ancestral (SDXL-Turbo, SDXL-Lightning, with the one-step "sample" prediction),
 * DDIM trailing (Hyper-SD) and LCM. Tables and every step of the sampling loops must match bit
 * for bit; the loops run through the production denoising loop with each seed's torch generator,
 * so the order of the noise draws is pinned too.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, it } from "node:test";
import { InvalidInputError } from "../../src/errors.js";
import { denoise, type NoisePredictor, ProgressReporter } from "../../src/pipeline/denoise.js";
import { TorchGenerator } from "../../src/pipeline/noise/index.js";
import {
  createScheduler,
  DdimScheduler,
  EulerAncestralScheduler,
  img2imgStart,
  LcmScheduler,
  parseSchedulerConfig,
  type Scheduler,
  type SchedulerConfig,
} from "../../src/pipeline/schedulers/index.js";
import type { SchedulerName } from "../../src/pipeline/types.js";
import { readReference, SCHEDULER_OF_REFERENCE, type StandIn, standInEps } from "../helpers/reference.js";

interface EulerTable {
  scheduler: string;
  steps: number;
  prediction_type: string;
  timesteps: number[];
  sigmas: number[];
  init_noise_sigma: number;
  scale_model_input_divisor: number[];
  sigma_up?: number[];
  sigma_down?: number[];
}

interface DdimTable {
  steps: number;
  timesteps: number[];
  prev_timesteps: number[];
  alpha_prod_t: number[];
  alpha_prod_t_prev: number[];
}

interface LcmTable {
  steps: number;
  original_inference_steps: number;
  timesteps: number[];
  c_skip: number[];
  c_out: number[];
}

interface Run {
  id: string;
  scheduler: string;
  prediction_type: string;
  steps: number;
  guidance_scale: number;
  classifier_free_guidance: boolean;
  timesteps: number[];
  init_noise_sigma: number;
  initial_latents: number[];
  noise_per_step: number[][];
  latents_after_step: number[][];
  denoised_after_step?: number[][];
}

interface Img2imgRun extends Run {
  strength: number;
  t_start: number;
  latent_timestep: number;
  noised_latents: number[];
}

interface Distilled {
  configs: Record<string, Record<string, unknown>>;
  tables: {
    euler_trailing: EulerTable[];
    euler_ancestral_trailing: EulerTable[];
    ddim_trailing: DdimTable[];
    lcm: LcmTable[];
  };
  trajectories: Run[];
  img2img: Img2imgRun[];
}

const distilled = JSON.parse(
  readFileSync(new URL("../fixtures/distilled/distilled_schedules.json", import.meta.url), "utf8"),
) as Distilled;
const trajectories = readReference<{
  stand_in_models: Record<string, StandIn>;
  arrays: Record<string, number[]>;
}>("trajectories.json");

const SHAPE = [1, 4, 8, 8];
const geometry = { count: 1, channels: 4, height: 8, width: 8 };
const sdxl = distilled.configs.sdxl_base!;
const model = trajectories.stand_in_models.standin_base!;
const fl = Math.fround;

const SCHEDULERS: Record<string, SchedulerName> = { ...SCHEDULER_OF_REFERENCE, lcm: "lcm" };

function config(overrides: Record<string, unknown> = {}, base = sdxl): SchedulerConfig {
  return parseSchedulerConfig({ ...base, ...overrides });
}

/** Every value must be the float32 diffusers holds; the message gives the largest deviation. */
function assertExact(actual: ArrayLike<number>, expected: readonly number[], label: string): void {
  assert.equal(actual.length, expected.length, `${label}: length`);
  let differing = 0;
  let worst = 0;
  for (let i = 0; i < expected.length; i++) {
    if (!Object.is(actual[i], expected[i])) {
      differing++;
      worst = Math.max(worst, Math.abs(actual[i]! - expected[i]!));
    }
  }
  assert.equal(differing, 0, `${label}: ${differing} values differ, max abs diff ${worst}`);
}

describe("distilled-model schedule tables (diffusers, trailing spacing and LCM)", () => {
  for (const [key, name] of [
    ["euler_trailing", "euler"],
    ["euler_ancestral_trailing", "euler-a"],
  ] as const) {
    for (const table of distilled.tables[key]) {
      it(`${name} trailing, ${table.steps} steps`, () => {
        const scheduler = createScheduler(name, config({ timestep_spacing: "trailing" }), table.steps);
        assertExact(scheduler.timesteps, table.timesteps, "timesteps");
        assertExact(scheduler.sigmas!, table.sigmas, "sigmas");
        // Trailing (like linspace) starts from sigma_max itself, not sqrt(sigma_max^2 + 1).
        assert.equal(scheduler.initNoiseSigma, table.init_noise_sigma);
        assert.equal(scheduler.initNoiseSigma, table.sigmas[0]);
        const scaled = new Float32Array(1);
        table.scale_model_input_divisor.forEach((divisor, i) => {
          scheduler.scaleModelInput(new Float32Array([1]), i, scaled);
          assert.equal(scaled[0], fl(1 / divisor), `scale_model_input at step ${i}`);
        });
        if (scheduler instanceof EulerAncestralScheduler) {
          assertExact(scheduler.sigmaUp, table.sigma_up!, "sigma_up");
          assertExact(scheduler.sigmaDown, table.sigma_down!, "sigma_down");
        }
      });
    }
  }

  it("SDXL-Turbo's schedule: [999], [999, 499], [999, 749, 499, 249] from its own config", () => {
    const turbo = config({}, distilled.configs.sdxl_turbo);
    for (const [steps, expected] of [
      [1, [999]],
      [2, [999, 499]],
      [4, [999, 749, 499, 249]],
    ] as const) {
      assert.deepEqual(Array.from(createScheduler("euler-a", turbo, steps).timesteps), expected);
    }
  });

  for (const table of distilled.tables.ddim_trailing) {
    it(`ddim trailing, ${table.steps} steps`, () => {
      const scheduler = createScheduler("ddim", config({ timestep_spacing: "trailing" }), table.steps);
      assert.ok(scheduler instanceof DdimScheduler);
      assertExact(scheduler.timesteps, table.timesteps, "timesteps");
      assertExact(scheduler.prevTimesteps, table.prev_timesteps, "prev_timesteps");
      assertExact(scheduler.alphaProdT, table.alpha_prod_t, "alpha_prod_t");
      assertExact(scheduler.alphaProdTPrev, table.alpha_prod_t_prev, "alpha_prod_t_prev");
      assert.equal(scheduler.initNoiseSigma, 1);
    });
  }

  for (const table of distilled.tables.lcm) {
    it(`lcm, ${table.steps} of ${table.original_inference_steps} original steps`, () => {
      const scheduler = createScheduler(
        "lcm",
        config({ original_inference_steps: table.original_inference_steps }),
        table.steps,
      );
      assert.ok(scheduler instanceof LcmScheduler);
      assertExact(scheduler.timesteps, table.timesteps, "timesteps");
      assertExact(scheduler.cSkip, table.c_skip, "c_skip");
      assertExact(scheduler.cOut, table.c_out, "c_out");
      assert.equal(scheduler.initNoiseSigma, 1);
      assert.equal(scheduler.sigmas, undefined);
      // Noise goes in after every step but the last.
      assert.deepEqual(
        table.timesteps.map((_, i) => scheduler.needsNoiseAt(i)),
        table.timesteps.map((_, i) => i < table.steps - 1),
      );
    });
  }

  it("lcm: 4 steps from 50 original steps are [999, 759, 499, 259]", () => {
    assert.deepEqual(Array.from(createScheduler("lcm", config(), 4).timesteps), [999, 759, 499, 259]);
  });

  it("lcm refuses more steps than its original_inference_steps", () => {
    assert.throws(() => createScheduler("lcm", config(), 51), InvalidInputError);
    assert.throws(
      () => createScheduler("lcm", config({ original_inference_steps: 8 }), 9),
      /at most 8 steps/,
    );
    assert.equal(createScheduler("lcm", config({ original_inference_steps: 8 }), 8).timesteps.length, 8);
  });

  it("lcm takes LCMScheduler's own defaults for keys the json lacks", () => {
    const bare = createScheduler("lcm", parseSchedulerConfig({}), 4);
    assert.equal(bare.config.betaSchedule, "scaled_linear");
    assert.equal(bare.config.betaStart, 0.00085);
    assert.equal(bare.config.setAlphaToOne, true);
    assert.equal(bare.config.clipSample, false);
    assert.equal(bare.config.originalInferenceSteps, 50);
    assert.equal(bare.config.timestepScaling, 10);
    assert.throws(() => parseSchedulerConfig({ original_inference_steps: 0 }), /original_inference_steps/);
    assert.throws(() => parseSchedulerConfig({ timestep_scaling: -1 }), /timestep_scaling/);
  });
});

/** The stand-in UNet on the loop's input buffer: [uncond; cond] with guidance, cond alone without. */
function standIn(guidance: number | undefined): NoisePredictor {
  const n = model.cond.length;
  const input = new Float32Array(guidance === undefined ? n : 2 * n);
  const output = new Float32Array(input.length);
  return {
    input,
    guidance,
    async run(t) {
      if (guidance === undefined) {
        output.set(standInEps(model, input.subarray(0, n), t, model.cond));
      } else {
        output.set(standInEps(model, input.subarray(0, n), t, model.uncond));
        output.set(standInEps(model, input.subarray(n), t, model.cond), n);
      }
      return output;
    },
  };
}

function schedulerOf(run: Run): Scheduler {
  const name = SCHEDULERS[run.scheduler]!;
  if (run.id.startsWith("turbo"))
    return createScheduler(name, config({}, distilled.configs.sdxl_turbo), run.steps);
  const overrides: Record<string, unknown> = { prediction_type: run.prediction_type };
  if (name !== "lcm") overrides.timestep_spacing = "trailing";
  return createScheduler(name, config(overrides), run.steps);
}

const seedOf = (run: Run) => /_seed(\d+)$/.exec(run.id)?.[1];

describe("distilled-model sampling loops (production denoising loop, stand-in UNet)", () => {
  for (const run of distilled.trajectories) {
    it(`${run.id}: every step bit for bit`, async () => {
      const scheduler = schedulerOf(run);
      assertExact(scheduler.timesteps, run.timesteps, "timesteps");
      assert.equal(fl(scheduler.initNoiseSigma), run.init_noise_sigma);
      const seed = seedOf(run);
      const generator = new TorchGenerator(BigInt(seed ?? 0));
      // The pipeline's start: the seed's first draw (or the fixed noise) times init_noise_sigma.
      const latents =
        seed !== undefined ? generator.randn(SHAPE) : Float32Array.from(trajectories.arrays.noise_a!);
      const sigma = fl(scheduler.initNoiseSigma);
      for (let i = 0; i < latents.length; i++) latents[i] = fl(latents[i]! * sigma);
      assertExact(latents, run.initial_latents, "initial latents");

      const seen: Float32Array[] = [];
      const progress = new ProgressReporter(run.steps, { onProgress: () => seen.push(latents.slice()) });
      await denoise({
        unet: standIn(run.classifier_free_guidance ? run.guidance_scale : undefined),
        scheduler,
        latents,
        geometry,
        generators: [generator],
        from: 0,
        to: run.steps,
        stage: "base",
        progress,
        signal: undefined,
      });
      assert.equal(seen.length, run.steps);
      for (const [i, step] of seen.entries())
        assertExact(step, run.latents_after_step[i]!, `after step ${i}`);
      if (seed !== undefined) {
        // The generator drew exactly the noise the steps took: its next draw is the reference's next one.
        const drawn = 1 + run.noise_per_step.length;
        const next = readTorchDraw(Number(seed), drawn);
        if (next) assertExact(generator.randn(SHAPE), next, `draw ${drawn} after the run`);
      }
    });
  }

  it("lcm: predictOriginal gives each step's denoised output", () => {
    for (const run of distilled.trajectories.filter((r) => r.scheduler === "lcm")) {
      const scheduler = schedulerOf(run);
      const guidance = run.classifier_free_guidance ? run.guidance_scale : undefined;
      const denoised = new Float32Array(256);
      let latents = Float32Array.from(run.initial_latents);
      for (let i = 0; i < run.steps; i++) {
        const t = run.timesteps[i]!;
        let eps = standInEps(model, latents, t, model.cond);
        if (guidance !== undefined) {
          const uncond = standInEps(model, latents, t, model.uncond);
          const g = fl(guidance);
          eps = uncond.map((u, j) => u + fl(g * fl(eps[j]! - u)));
        }
        scheduler.predictOriginal(latents, eps, i, denoised);
        assertExact(denoised, run.denoised_after_step![i]!, `${run.id} denoised ${i}`);
        latents = Float32Array.from(run.latents_after_step[i]!);
      }
    }
  });
});

describe("distilled-model img2img (LCM)", () => {
  for (const run of distilled.img2img) {
    it(`${run.id}: add_noise at the start timestep, then every step bit for bit`, async () => {
      const scheduler = createScheduler("lcm", config(), run.steps);
      const { tStart } = img2imgStart(run.steps, run.strength);
      assert.equal(tStart, run.t_start);
      assert.equal(scheduler.timesteps[tStart], run.latent_timestep);
      const latents = new Float32Array(256);
      scheduler.addNoise(
        Float32Array.from(trajectories.arrays.image_latents_a!),
        Float32Array.from(trajectories.arrays.add_noise_a!),
        tStart,
        latents,
      );
      assertExact(latents, run.noised_latents, "noised latents");
      const seen: Float32Array[] = [];
      const progress = new ProgressReporter(run.steps - tStart, {
        onProgress: () => seen.push(latents.slice()),
      });
      await denoise({
        unet: standIn(run.classifier_free_guidance ? run.guidance_scale : undefined),
        scheduler,
        latents,
        geometry,
        generators: [replay(run.noise_per_step)],
        from: tStart,
        to: run.steps,
        stage: "base",
        progress,
        signal: undefined,
      });
      for (const [i, step] of seen.entries())
        assertExact(step, run.latents_after_step[i]!, `after step ${i}`);
      assert.equal(seen.length, run.latents_after_step.length);
    });
  }
});

/** A generator that hands out recorded draws in order, and fails on one draw too many. */
function replay(draws: number[][]): TorchGenerator {
  let next = 0;
  const generator = {
    randn(_shape: readonly number[], out?: Float32Array) {
      const draw = draws[next++];
      if (!draw) throw new Error(`draw ${next} was not expected`);
      out?.set(draw);
      return out ?? Float32Array.from(draw);
    },
  };
  return generator as unknown as TorchGenerator;
}

/** Draw `index` of a seed's torch generator as trajectories.json records it (0 = the initial noise). */
function readTorchDraw(seed: number, index: number): number[] | undefined {
  const runs = readReference<{
    trajectories: {
      kind: string;
      scheduler: string;
      generator?: { seed: number };
      initial_noise_values?: number[];
      noise_per_step?: number[][];
    }[];
  }>("trajectories.json").trajectories;
  const run = runs.find(
    (r) =>
      r.kind === "text2img_torch_generator" &&
      r.scheduler === "euler_ancestral" &&
      r.generator?.seed === seed,
  );
  if (!run) return undefined;
  return index === 0 ? run.initial_noise_values : run.noise_per_step?.[index - 1];
}
