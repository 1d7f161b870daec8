/**
 * The production denoising loop (scale, guided prediction, scheduler step, ancestral noise from
 * each image's generator, refiner hand-over) driven by the reference's stand-in UNet, against
 * diffusers' recorded trajectories.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { denoise, type NoisePredictor, ProgressReporter } from "../../src/pipeline/denoise.js";
import { TorchGenerator } from "../../src/pipeline/noise/index.js";
import {
  createScheduler,
  parseSchedulerConfig,
  splitForRefiner,
} from "../../src/pipeline/schedulers/index.js";
import { readReference, SCHEDULER_OF_REFERENCE, type StandIn, standInEps } from "../helpers/reference.js";

interface Trajectory {
  id: string;
  kind: string;
  scheduler: string;
  config: string;
  steps: number;
  guidance_scale: number;
  classifier_free_guidance: boolean;
  stand_in_model?: string;
  base_stand_in_model?: string;
  refiner_stand_in_model?: string;
  generator?: { seed: number | string };
  initial_noise?: string;
  initial_noise_values?: number[];
  timesteps?: number[];
  noise_per_step?: number[][];
  latents_after_step?: number[][];
  denoising_end?: number;
  base_latents_after_step?: number[][];
  refiner_latents_after_step?: number[][];
}

const reference = readReference<{
  configs: Record<string, unknown>;
  stand_in_models: Record<string, StandIn>;
  arrays: Record<string, number[]>;
  trajectories: Trajectory[];
}>("trajectories.json");

const SHAPE = [1, 4, 8, 8];
const geometry = { count: 1, channels: 4, height: 8, width: 8 };

/**
 * The reference's stand-in UNet on the loop's input buffer: [uncond; cond] on the same latents
 * with guidance, which the loop's fused step applies (the production guidance code).
 */
function standIn(model: StandIn, guidance: number | undefined): NoisePredictor {
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

/** Replays recorded per-step noise where a trajectory gives it explicitly. */
function recordedNoise(steps: number[][]): TorchGenerator {
  let next = 0;
  const replay = {
    randn(_shape: readonly number[], out?: Float32Array) {
      const values = Float32Array.from(steps[next++]!);
      if (out) out.set(values);
      return out ?? values;
    },
  };
  return replay as unknown as TorchGenerator;
}

/** Bit-exact: every value is the float32 diffusers holds (the bar is 1e-4 relative). */
function assertClose(actual: Float32Array, expected: number[], label: string): void {
  let differing = 0;
  for (let i = 0; i < expected.length; i++) if (actual[i] !== expected[i]) differing++;
  assert.equal(differing, 0, `${label}: ${differing} of ${expected.length} values differ`);
}

async function runStage(
  trajectory: Trajectory,
  model: StandIn,
  latents: Float32Array,
  range: [number, number],
  generator: TorchGenerator,
  expected: number[][],
  stage: "base" | "refiner",
): Promise<void> {
  const config = parseSchedulerConfig(reference.configs[trajectory.config]);
  const scheduler = createScheduler(SCHEDULER_OF_REFERENCE[trajectory.scheduler]!, config, trajectory.steps);
  const guidance = trajectory.classifier_free_guidance ? trajectory.guidance_scale : undefined;
  const seen: Float32Array[] = [];
  const progress = new ProgressReporter(range[1] - range[0], {
    onProgress: () => seen.push(latents.slice()),
  });
  await denoise({
    unet: standIn(model, guidance),
    scheduler,
    latents,
    geometry,
    generators: [generator],
    from: range[0],
    to: range[1],
    stage,
    progress,
    signal: undefined,
  });
  assert.equal(seen.length, expected.length);
  for (const [i, step] of seen.entries())
    assertClose(step, expected[i]!, `${trajectory.id} ${stage} step ${i}`);
}

describe("denoising loop against diffusers' trajectories", () => {
  for (const trajectory of reference.trajectories.filter((t) => t.kind === "text2img_torch_generator")) {
    it(`${trajectory.id}: seeded noise, guidance and every step`, async () => {
      const generator = new TorchGenerator(BigInt(trajectory.generator!.seed));
      const scheduler = createScheduler(
        SCHEDULER_OF_REFERENCE[trajectory.scheduler]!,
        parseSchedulerConfig(reference.configs[trajectory.config]),
        trajectory.steps,
      );
      const latents = generator.randn(SHAPE);
      assertClose(latents, trajectory.initial_noise_values!, "initial noise");
      const sigma = Math.fround(scheduler.initNoiseSigma);
      for (let i = 0; i < latents.length; i++) latents[i] = Math.fround(latents[i]! * sigma);
      const model = reference.stand_in_models[trajectory.stand_in_model!]!;
      await runStage(
        trajectory,
        model,
        latents,
        [0, trajectory.steps],
        generator,
        trajectory.latents_after_step!,
        "base",
      );
    });
  }

  for (const trajectory of reference.trajectories.filter((t) => t.kind === "base_plus_refiner")) {
    it(`${trajectory.id}: base hands its latents to the refiner at ${trajectory.denoising_end}`, async () => {
      const name = SCHEDULER_OF_REFERENCE[trajectory.scheduler]!;
      const config = parseSchedulerConfig(reference.configs[trajectory.config]);
      const split = splitForRefiner(name, config, trajectory.steps, trajectory.denoising_end!);
      const scheduler = createScheduler(name, config, trajectory.steps);
      const latents = Float32Array.from(reference.arrays[trajectory.initial_noise!]!);
      const sigma = Math.fround(scheduler.initNoiseSigma);
      for (let i = 0; i < latents.length; i++) latents[i] = Math.fround(latents[i]! * sigma);
      const noise = trajectory.noise_per_step ?? [];
      const generator = recordedNoise(noise);
      const base = reference.stand_in_models[trajectory.base_stand_in_model!]!;
      const refiner = reference.stand_in_models[trajectory.refiner_stand_in_model!]!;
      await runStage(
        trajectory,
        base,
        latents,
        [0, split.baseSteps],
        generator,
        trajectory.base_latents_after_step!,
        "base",
      );
      await runStage(
        trajectory,
        refiner,
        latents,
        [split.refinerBeginIndex, trajectory.steps],
        generator,
        trajectory.refiner_latents_after_step!,
        "refiner",
      );
    });
  }
});
