import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ConfigError, InvalidInputError } from "../../src/errors.js";
import {
  createScheduler,
  DdimScheduler,
  DpmSolverScheduler,
  EulerAncestralScheduler,
  img2imgStart,
  parseSchedulerConfig,
  resolveSchedulerConfig,
  type SchedulerConfig,
  SchedulerConfigError,
  SDXL_SCHEDULER_CONFIG,
  splitForRefiner,
  trainSchedule,
} from "../../src/pipeline/schedulers/index.js";
import type { SchedulerName } from "../../src/pipeline/types.js";
import { readReference, SCHEDULER_OF_REFERENCE } from "../helpers/reference.js";

// biome-ignore lint/suspicious/noExplicitAny: the reference files are read field by field below
const load = (file: string) => readReference<any>(file);
const schedulers = load("schedulers.json");
const conditioning = load("sdxl_conditioning.json");

const sdxlJson = schedulers.configs.sdxl_base as Record<string, unknown>;
const withSpacing = (spacing: string) => parseSchedulerConfig({ ...sdxlJson, timestep_spacing: spacing });

function assertBitEqual(actual: ArrayLike<number>, expected: readonly number[], label: string): void {
  assert.equal(actual.length, expected.length, `${label}: length`);
  for (let i = 0; i < expected.length; i++) {
    assert.ok(Object.is(actual[i], expected[i]), `${label}[${i}]: ${actual[i]} vs ${expected[i]}`);
  }
}

/** The float32 factor a scheduler applies in scale_model_input, read back through the public API. */
function scaleFactor(scheduler: ReturnType<typeof createScheduler>, step: number): number {
  const out = new Float32Array(1);
  scheduler.scaleModelInput(new Float32Array([1]), step, out);
  return out[0]!;
}

describe("scheduler config (diffusers from_config rules)", () => {
  it("SDXL_SCHEDULER_CONFIG is SDXL base 1.0's json", () => {
    assert.deepEqual(SDXL_SCHEDULER_CONFIG, parseSchedulerConfig(sdxlJson));
    assert.equal(SDXL_SCHEDULER_CONFIG.className, "EulerDiscreteScheduler");
    assert.equal(SDXL_SCHEDULER_CONFIG.timestepSpacing, "leading");
    assert.equal(SDXL_SCHEDULER_CONFIG.stepsOffset, 1);
  });

  it("resolves each class's effective settings as the reference cases record them", () => {
    const fields: Record<string, string> = {
      num_train_timesteps: "numTrainTimesteps",
      beta_start: "betaStart",
      beta_end: "betaEnd",
      beta_schedule: "betaSchedule",
      trained_betas: "trainedBetas",
      prediction_type: "predictionType",
      timestep_spacing: "timestepSpacing",
      steps_offset: "stepsOffset",
      rescale_betas_zero_snr: "rescaleBetasZeroSnr",
      use_karras_sigmas: "useKarrasSigmas",
      final_sigmas_type: "finalSigmasType",
      solver_type: "solverType",
      lower_order_final: "lowerOrderFinal",
      euler_at_final: "eulerAtFinal",
      clip_sample: "clipSample",
      clip_sample_range: "clipSampleRange",
      set_alpha_to_one: "setAlphaToOne",
    };
    for (const testCase of schedulers.cases) {
      const resolved = resolveSchedulerConfig(
        SCHEDULER_OF_REFERENCE[testCase.scheduler]!,
        withSpacing(testCase.timestep_spacing),
      ) as unknown as Record<string, unknown>;
      for (const [json, field] of Object.entries(fields)) {
        if (json in testCase.resolved_config) {
          assert.deepEqual(resolved[field], testCase.resolved_config[json], `${testCase.scheduler}: ${json}`);
        }
      }
    }
  });

  it("applies each class's own defaults to keys the json lacks", () => {
    const bare = parseSchedulerConfig({});
    assert.equal(resolveSchedulerConfig("euler", bare).timestepSpacing, "linspace");
    assert.equal(resolveSchedulerConfig("ddim", bare).timestepSpacing, "leading");
    assert.equal(resolveSchedulerConfig("ddim", bare).clipSample, true);
    assert.equal(resolveSchedulerConfig("ddim", bare).setAlphaToOne, true);
    assert.equal(resolveSchedulerConfig("euler", bare).betaSchedule, "linear");
    assert.equal(resolveSchedulerConfig("dpmpp-2m-karras", bare).useKarrasSigmas, true);
    assert.equal(resolveSchedulerConfig("dpmpp-2m-karras", bare).lowerOrderFinal, true);
  });

  it("treats keys listed in _use_default_values as absent", () => {
    const config = parseSchedulerConfig({
      ...sdxlJson,
      _use_default_values: ["timestep_spacing", "steps_offset"],
    });
    assert.equal(config.timestepSpacing, undefined);
    assert.equal(resolveSchedulerConfig("ddim", config).timestepSpacing, "leading");
    assert.equal(resolveSchedulerConfig("ddim", config).stepsOffset, 0);
    assert.equal(resolveSchedulerConfig("euler", config).timestepSpacing, "linspace");
  });

  const badConfigs: [string, Record<string, unknown>][] = [
    ["beta_schedule", { beta_schedule: "cubic" }],
    ["timestep_spacing", { timestep_spacing: "evenly" }],
    ["prediction_type", { prediction_type: "flow_prediction" }],
    ["num_train_timesteps", { num_train_timesteps: 999.5 }],
    ["num_train_timesteps", { num_train_timesteps: 1 }],
    ["beta_start", { beta_start: "0.001" }],
    ["beta_end", { beta_end: 1.5 }],
    ["steps_offset", { steps_offset: -1 }],
    ["trained_betas", { trained_betas: [0.1, 0.2] }],
    ["trained_betas", { trained_betas: "none" }],
    ["use_karras_sigmas", { use_karras_sigmas: "yes" }],
    ["final_sigmas_type", { final_sigmas_type: "one" }],
    ["sigma_min", { sigma_min: -1 }],
  ];
  for (const [key, patch] of badConfigs) {
    it(`rejects ${JSON.stringify(patch)} with a typed error naming ${key}`, () => {
      assert.throws(
        () => parseSchedulerConfig({ ...sdxlJson, ...patch }),
        (error: unknown) =>
          error instanceof SchedulerConfigError && error instanceof ConfigError && error.key === key,
      );
    });
  }

  it("rejects a json that is not an object", () => {
    for (const json of [null, [], "euler", 3])
      assert.throws(() => parseSchedulerConfig(json), SchedulerConfigError);
  });

  const unsupported: [SchedulerName, string, Record<string, unknown>][] = [
    ["euler", "interpolation_type", { interpolation_type: "log_linear" }],
    ["euler", "use_exponential_sigmas", { use_exponential_sigmas: true }],
    ["euler", "use_beta_sigmas", { use_beta_sigmas: true }],
    ["euler", "timestep_type", { timestep_type: "continuous", prediction_type: "v_prediction" }],
    ["euler-a", "prediction_type", { prediction_type: "sample" }],
    ["dpmpp-2m-karras", "thresholding", { thresholding: true }],
    ["dpmpp-2m-karras", "variance_type", { variance_type: "learned_range" }],
    ["dpmpp-2m-karras", "solver_type", { solver_type: "rk4" }],
    ["dpmpp-2m-karras", "use_flow_sigmas", { use_flow_sigmas: true }],
    ["ddim", "thresholding", { thresholding: true }],
    ["ddim", "prediction_type", { prediction_type: "original_sample" }],
  ];
  for (const [name, key, patch] of unsupported) {
    it(`${name} refuses ${JSON.stringify(patch)} naming ${key}, other classes ignore keys they do not take`, () => {
      const config = parseSchedulerConfig({ ...sdxlJson, ...patch });
      assert.throws(
        () => createScheduler(name, config, 20),
        (error: unknown) => error instanceof SchedulerConfigError && error.key === key,
      );
    });
  }

  it("ignores keys a class does not take (DDIM's thresholding for Euler, Euler's interpolation for DDIM)", () => {
    assert.doesNotThrow(() =>
      createScheduler("euler", parseSchedulerConfig({ ...sdxlJson, thresholding: true }), 20),
    );
    assert.doesNotThrow(() =>
      createScheduler("ddim", parseSchedulerConfig({ ...sdxlJson, interpolation_type: "log_linear" }), 20),
    );
  });

  it("rejects step counts outside 1..num_train_timesteps", () => {
    for (const steps of [0, -3, 2.5, 1001, Number.NaN]) {
      assert.throws(() => createScheduler("euler", SDXL_SCHEDULER_CONFIG, steps), InvalidInputError);
    }
  });
});

describe("training schedule (schedulers.json train_schedules.sdxl_base)", () => {
  it("betas, alphas_cumprod and sigmas are bit-exact", () => {
    const table = schedulers.train_schedules.sdxl_base;
    const schedule = trainSchedule(resolveSchedulerConfig("euler", SDXL_SCHEDULER_CONFIG), true);
    assertBitEqual(schedule.betas, table.betas, "betas");
    assertBitEqual(schedule.alphasCumprod, table.alphas_cumprod, "alphas_cumprod");
    assertBitEqual(schedule.sigmas, table.sigmas, "sigmas");
  });
});

describe("schedule tables (schedulers.json, 96 cases)", () => {
  for (const testCase of schedulers.cases) {
    const name = SCHEDULER_OF_REFERENCE[testCase.scheduler]!;
    it(`${name} ${testCase.timestep_spacing} ${testCase.steps} steps`, () => {
      const scheduler = createScheduler(name, withSpacing(testCase.timestep_spacing), testCase.steps);
      const label = `${name}/${testCase.timestep_spacing}/${testCase.steps}`;
      assertBitEqual(scheduler.timesteps, testCase.timesteps, `${label} timesteps`);
      if (testCase.sigmas) assertBitEqual(scheduler.sigmas!, testCase.sigmas, `${label} sigmas`);
      else assert.equal(scheduler.sigmas, undefined);
      assert.equal(
        Math.fround(scheduler.initNoiseSigma),
        testCase.init_noise_sigma,
        `${label} init_noise_sigma`,
      );
      testCase.scale_model_input_divisor.forEach((divisor: number, step: number) => {
        assert.equal(scaleFactor(scheduler, step), Math.fround(1 / divisor), `${label} divisor ${step}`);
      });
      if (scheduler instanceof EulerAncestralScheduler) {
        assertBitEqual(scheduler.sigmaUp, testCase.sigma_up, `${label} sigma_up`);
        assertBitEqual(scheduler.sigmaDown, testCase.sigma_down, `${label} sigma_down`);
      }
      if (scheduler instanceof DpmSolverScheduler) {
        assertBitEqual(scheduler.alphaT, testCase.alpha_t, `${label} alpha_t`);
        assertBitEqual(scheduler.sigmaT, testCase.sigma_t, `${label} sigma_t`);
        let history = 0;
        testCase.steps_table.forEach((row: Record<string, number>, step: number) => {
          const order = scheduler.orderAt(step, history);
          history = Math.min(history + 1, 2);
          const k = scheduler.coefficients(step, order);
          assert.equal(order, row["order"], `${label} order ${step}`);
          assert.equal(k.sampleCoef, row["sample_coef"], `${label} sample_coef ${step}`);
          assert.equal(k.x0Coef, row["x0_coef"], `${label} x0_coef ${step}`);
          assert.equal(k.invR0, row["inv_r0"], `${label} inv_r0 ${step}`);
          assert.equal(k.d1Coef, row["d1_coef"], `${label} d1_coef ${step}`);
        });
      }
      if (scheduler instanceof DdimScheduler) {
        assertBitEqual(scheduler.prevTimesteps, testCase.prev_timesteps, `${label} prev_timesteps`);
        assertBitEqual(scheduler.alphaProdT, testCase.alpha_prod_t, `${label} alpha_prod_t`);
        assertBitEqual(scheduler.alphaProdTPrev, testCase.alpha_prod_t_prev, `${label} alpha_prod_t_prev`);
      }
    });
  }
});

describe("base/refiner split (sdxl_conditioning.json base_refiner_split)", () => {
  for (const row of conditioning.base_refiner_split) {
    const name = SCHEDULER_OF_REFERENCE[row.scheduler]!;
    it(`${name} ${row.steps} steps at ${row.denoising_end}`, () => {
      const split = splitForRefiner(name, SDXL_SCHEDULER_CONFIG, row.steps, row.denoising_end);
      assert.equal(split.cutoff, row.discrete_timestep_cutoff);
      assert.equal(split.baseSteps, row.base_num_steps);
      assert.equal(split.refinerSteps, row.refiner_num_steps);
      assert.equal(split.refinerBeginIndex, row.refiner_t_start);
      const base = createScheduler(name, SDXL_SCHEDULER_CONFIG, row.steps);
      const refiner = createScheduler(name, SDXL_SCHEDULER_CONFIG, row.steps);
      assertBitEqual(base.timesteps, row.full_timesteps, "full timesteps");
      assertBitEqual(base.timesteps.subarray(0, split.baseSteps), row.base_timesteps, "base timesteps");
      assertBitEqual(
        refiner.timesteps.subarray(split.refinerBeginIndex),
        row.refiner_timesteps,
        "refiner timesteps",
      );
      if (row.sigma_at_handover !== undefined) {
        assert.equal(base.sigmas![split.baseSteps], row.sigma_at_handover);
        assert.equal(refiner.sigmas![split.refinerBeginIndex], row.refiner_first_sigma);
      }
    });
  }

  it("rejects switch points outside (0, 1)", () => {
    for (const fraction of [0, 1, -0.2, 1.5, Number.NaN]) {
      assert.throws(() => splitForRefiner("euler", SDXL_SCHEDULER_CONFIG, 20, fraction), InvalidInputError);
    }
  });
});

describe("img2img start and add_noise (sdxl_conditioning.json img2img_strength)", () => {
  for (const row of conditioning.img2img_strength) {
    const name = SCHEDULER_OF_REFERENCE[row.scheduler]!;
    it(`${name} ${row.num_inference_steps} steps at strength ${row.strength}`, () => {
      const { tStart, stepsRun } = img2imgStart(row.num_inference_steps, row.strength);
      assert.equal(tStart, row.t_start);
      assert.equal(stepsRun, row.steps_run);
      const scheduler = createScheduler(name, SDXL_SCHEDULER_CONFIG, row.num_inference_steps);
      assertBitEqual(scheduler.timesteps.subarray(tStart), row.timesteps, "timesteps");
      assert.equal(scheduler.timesteps[tStart], row.latent_timestep);
      // add_noise of a unit image with zero noise, and of zero image with unit noise, reads back the coefficients.
      const out = new Float32Array(2);
      scheduler.addNoise(new Float32Array([1, 0]), new Float32Array([0, 1]), tStart, out);
      const noise = row.add_noise;
      if (noise.sigma !== undefined && noise.alpha_t === undefined) {
        assert.deepEqual(Array.from(out), [1, noise.sigma]);
      } else if (noise.alpha_t !== undefined) {
        assert.deepEqual(Array.from(out), [noise.alpha_t, noise.sigma_t]);
        assert.equal(scheduler.sigmas![tStart], noise.sigma);
      } else {
        assert.deepEqual(Array.from(out), [noise.sqrt_alpha_prod, noise.sqrt_one_minus_alpha_prod]);
      }
    });
  }

  it("rejects strengths that leave no step and malformed values", () => {
    assert.throws(() => img2imgStart(20, 0.01), InvalidInputError);
    assert.throws(() => img2imgStart(20, 0), InvalidInputError);
    assert.throws(() => img2imgStart(20, 1.2), InvalidInputError);
    assert.throws(() => img2imgStart(0, 0.5), InvalidInputError);
    assert.deepEqual(img2imgStart(30, 0.75), { tStart: 8, stepsRun: 22 });
  });
});

describe("scheduler behaviour", () => {
  const size = 64;
  const ramp = (scale: number) =>
    Float32Array.from({ length: size }, (_, i) => Math.fround((i - size / 2) * scale));

  it("steps in place and scales into the output (which may be the input)", () => {
    for (const name of ["euler", "euler-a", "dpmpp-2m-karras", "ddim"] as const) {
      const scheduler = createScheduler(name, SDXL_SCHEDULER_CONFIG, 10);
      const latents = ramp(0.1);
      const separate = new Float32Array(size);
      scheduler.scaleModelInput(latents, 0, separate);
      const inPlace = latents.slice();
      scheduler.scaleModelInput(inPlace, 0, inPlace);
      assert.deepEqual(inPlace, separate, name);
      const before = latents.slice();
      scheduler.step(ramp(0.01), 0, latents, scheduler.needsNoise ? ramp(0.02) : undefined);
      assert.notDeepEqual(latents, before, name);
    }
  });

  it("Euler ancestral demands noise; others do not need it", () => {
    const ancestral = createScheduler("euler-a", SDXL_SCHEDULER_CONFIG, 10);
    assert.equal(ancestral.needsNoise, true);
    assert.throws(() => ancestral.step(ramp(0.01), 0, ramp(0.1)), InvalidInputError);
    for (const name of ["euler", "dpmpp-2m-karras", "ddim"] as const) {
      assert.equal(createScheduler(name, SDXL_SCHEDULER_CONFIG, 10).needsNoise, false);
    }
  });

  it("rejects step indices outside the schedule and mismatched tensors", () => {
    const scheduler = createScheduler("euler", SDXL_SCHEDULER_CONFIG, 10);
    assert.throws(() => scheduler.step(ramp(0.01), 10, ramp(0.1)), InvalidInputError);
    assert.throws(() => scheduler.step(ramp(0.01), -1, ramp(0.1)), InvalidInputError);
    assert.throws(() => scheduler.step(new Float32Array(3), 0, ramp(0.1)), InvalidInputError);
  });

  it("a fresh DPM++ scheduler started mid-schedule runs first order, a continuing one second order", () => {
    const eps = ramp(0.01);
    const fresh = createScheduler("dpmpp-2m-karras", SDXL_SCHEDULER_CONFIG, 10) as DpmSolverScheduler;
    const x = ramp(0.1);
    fresh.step(eps, 5, x);
    const k = fresh.coefficients(5, 1);
    const expected = ramp(0.1).map((v, i) => {
      const x0 = Math.fround(Math.fround(v - Math.fround(fresh.sigmaT[5]! * eps[i]!)) / fresh.alphaT[5]!);
      return Math.fround(k.sampleCoef * v) - Math.fround(k.x0Coef * x0);
    });
    assert.deepEqual(x, expected);
    const continuing = createScheduler("dpmpp-2m-karras", SDXL_SCHEDULER_CONFIG, 10) as DpmSolverScheduler;
    const secondOrder = ramp(0.1);
    continuing.step(eps, 4, secondOrder);
    const firstOrder = secondOrder.slice();
    continuing.step(eps, 5, secondOrder);
    createScheduler("dpmpp-2m-karras", SDXL_SCHEDULER_CONFIG, 10).step(eps, 5, firstOrder);
    assert.notDeepEqual(secondOrder, firstOrder);
    continuing.reset();
    const z = ramp(0.1);
    continuing.step(eps, 5, z);
    assert.deepEqual(z, expected);
  });

  it("DPM++'s last step returns the x0 prediction exactly (final sigma zero)", () => {
    const scheduler = createScheduler("dpmpp-2m-karras", SDXL_SCHEDULER_CONFIG, 10);
    const latents = ramp(0.05);
    const x0 = new Float32Array(size);
    scheduler.predictOriginal(latents, ramp(0.01), 9, x0);
    scheduler.step(ramp(0.01), 9, latents);
    assert.deepEqual(latents, x0);
  });

  it("predictOriginal gives Euler's x0 = x - sigma*eps without changing state", () => {
    const scheduler = createScheduler("euler", SDXL_SCHEDULER_CONFIG, 10);
    const out = new Float32Array(size);
    scheduler.predictOriginal(ramp(0.1), ramp(0.01), 3, out);
    const sigma = scheduler.sigmas![3]!;
    assert.deepEqual(
      out,
      ramp(0.1).map((x, i) => x - Math.fround(sigma * ramp(0.01)[i]!)),
    );
  });
});

describe("other diffusers configurations", () => {
  const config = (json: Record<string, unknown>): SchedulerConfig => parseSchedulerConfig(json);

  it("trailing spacing keeps exactly `steps` timesteps where numpy's arange adds one", () => {
    const scheduler = createScheduler("euler", config({ timestep_spacing: "trailing" }), 61);
    assert.equal(scheduler.timesteps.length, 61);
    assert.equal(scheduler.timesteps[0], 999);
    assert.ok(scheduler.timesteps.every((t) => t >= 0));
  });

  it("trailing spacing rounds halves to even (16 steps: 62.5 -> 62)", () => {
    const scheduler = createScheduler("ddim", config({ timestep_spacing: "trailing" }), 16);
    assert.equal(scheduler.timesteps[0], 999);
    assert.equal(scheduler.timesteps[15], 61);
    assert.equal(scheduler.timesteps[14], 124);
  });

  it("trained_betas equal to a linspace reproduce the linear schedule", () => {
    const linear = trainSchedule(resolveSchedulerConfig("euler", config({})), true);
    const trained = trainSchedule(
      resolveSchedulerConfig("euler", config({ trained_betas: Array.from(linear.betas) })),
      true,
    );
    assert.deepEqual(trained.alphasCumprod, linear.alphasCumprod);
  });

  it("squaredcos_cap_v2 betas follow Glide's cosine schedule, capped at 0.999", () => {
    const schedule = trainSchedule(
      resolveSchedulerConfig("ddim", config({ beta_schedule: "squaredcos_cap_v2" })),
      false,
    );
    assert.equal(schedule.betas[999], Math.fround(0.999));
    const alphaBar = (t: number) => Math.cos(((t + 0.008) / 1.008) * (Math.PI / 2)) ** 2;
    assert.equal(schedule.betas[10], Math.fround(1 - alphaBar(11 / 1000) / alphaBar(10 / 1000)));
    const dpm = createScheduler("dpmpp-2m-karras", config({ beta_schedule: "squaredcos_cap_v2" }), 20);
    assert.ok(dpm.timesteps.every((t, i) => Number.isInteger(t) && (i === 0 || t <= dpm.timesteps[i - 1]!)));
  });

  it("rescale_betas_zero_snr gives zero terminal SNR (the Euler family floors it at 2^-24)", () => {
    const json = {
      rescale_betas_zero_snr: true,
      beta_schedule: "scaled_linear",
      beta_start: 0.00085,
      beta_end: 0.012,
    };
    const ddim = trainSchedule(resolveSchedulerConfig("ddim", config(json)), false);
    assert.equal(ddim.alphasCumprod[999], 0);
    const euler = trainSchedule(resolveSchedulerConfig("euler", config(json)), true);
    assert.equal(euler.alphasCumprod[999], 2 ** -24);
    assert.ok(Math.abs(euler.alphasCumprod[0]! - ddim.alphasCumprod[0]!) < 1e-6);
    const scheduler = createScheduler("euler", config({ ...json, timestep_spacing: "trailing" }), 10);
    assert.ok(Math.abs(scheduler.sigmas![0]! - 4096) < 1);
  });

  it("DPM++ with final_sigmas_type sigma_min and no lower_order_final keeps a second-order last step", () => {
    const scheduler = createScheduler(
      "dpmpp-2m-karras",
      config({ final_sigmas_type: "sigma_min", lower_order_final: false }),
      10,
    ) as DpmSolverScheduler;
    assert.equal(scheduler.orderAt(9, 2), 2);
    assert.ok(scheduler.sigmas[10]! > 0);
    const zero = createScheduler("dpmpp-2m-karras", config({}), 10) as DpmSolverScheduler;
    assert.equal(zero.orderAt(9, 2), 1);
    assert.equal(zero.orderAt(0, 0), 1);
    assert.equal(zero.orderAt(5, 2), 2);
  });
});
