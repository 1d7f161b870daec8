/**
 * Euler (diffusers' EulerDiscreteScheduler, SDXL's default) and Euler ancestral
 * (EulerAncestralDiscreteScheduler). Both walk a sigma schedule interpolated from the training
 * sigmas at the inference timesteps; every tensor operation is one float32 rounding in diffusers'
 * order (s_churn = 0, so sigma_hat = sigma).
 */
import { InvalidInputError } from "../../errors.js";
import type { SchedulerName } from "../types.js";
import type { ResolvedSchedulerConfig } from "./config.js";
import { karrasSigmas, logSigmasFloat32, sigmaToTimestep } from "./karras.js";
import { interpIndexTable } from "./numerics.js";
import {
  checkGuidedStep,
  checkSameLength,
  checkStepIndex,
  type GuidedStep,
  guidedEps,
  type Scheduler,
} from "./scheduler.js";
import { eulerFamilyTimesteps } from "./spacing.js";
import type { TrainSchedule } from "./train-schedule.js";

const fl = Math.fround;

const EPSILON = 0;
const V_PREDICTION = 1;
const SAMPLE = 2;

/** The Euler family's set_timesteps: timesteps, then sigmas by np.interp (or Karras), final sigma appended. */
function eulerSchedule(config: ResolvedSchedulerConfig, steps: number, schedule: TrainSchedule) {
  let timesteps: Float64Array = eulerFamilyTimesteps(config, steps);
  let sigmas64: Float64Array = timesteps.map((t) => interpIndexTable(t, schedule.sigmas));
  if (config.useKarrasSigmas) {
    const sigmaMin = config.sigmaMin ?? sigmas64[steps - 1]!;
    const sigmaMax = config.sigmaMax ?? sigmas64[0]!;
    sigmas64 = karrasSigmas(sigmaMin, sigmaMax, steps);
    const logSigmas = logSigmasFloat32(schedule.sigmas);
    timesteps = sigmas64.map((sigma) => Math.fround(sigmaToTimestep(sigma, logSigmas)));
  }
  const sigmas = new Float32Array(steps + 1);
  sigmas.set(sigmas64);
  sigmas[steps] = config.finalSigmasType === "sigma_min" ? schedule.sigmas[0]! : 0;

  let maxSigma = 0;
  for (const sigma of sigmas) maxSigma = Math.max(maxSigma, sigma);
  const initNoiseSigma =
    config.timestepSpacing === "leading" ? fl(Math.sqrt(fl(fl(maxSigma * maxSigma) + 1))) : maxSigma;
  return { timesteps, sigmas, initNoiseSigma };
}

abstract class EulerFamilyScheduler implements Scheduler {
  abstract readonly name: SchedulerName;
  abstract readonly needsNoise: boolean;
  abstract needsNoiseAt(stepIndex: number): boolean;
  readonly timesteps: Float64Array;
  readonly sigmas: Float32Array;
  readonly initNoiseSigma: number;
  /** sqrt(sigma^2 + 1) per step: scale_model_input's divisor. */
  protected readonly divisors: Float32Array;
  protected readonly prediction: number;

  constructor(
    readonly config: ResolvedSchedulerConfig,
    steps: number,
    schedule: TrainSchedule,
  ) {
    const built = eulerSchedule(config, steps, schedule);
    this.timesteps = built.timesteps;
    this.sigmas = built.sigmas;
    this.initNoiseSigma = built.initNoiseSigma;
    this.divisors = new Float32Array(steps);
    for (let i = 0; i < steps; i++) {
      const sigma = this.sigmas[i]!;
      this.divisors[i] = Math.sqrt(fl(fl(sigma * sigma) + 1));
    }
    this.prediction =
      config.predictionType === "epsilon"
        ? EPSILON
        : config.predictionType === "v_prediction"
          ? V_PREDICTION
          : SAMPLE;
  }

  scaleModelInput(sample: Float32Array, stepIndex: number, out: Float32Array): void {
    checkStepIndex(stepIndex, this.timesteps.length);
    checkSameLength(sample, out);
    const divisor = this.divisors[stepIndex]!;
    for (let i = 0; i < sample.length; i++) out[i] = sample[i]! / divisor;
  }

  addNoise(clean: Float32Array, noise: Float32Array, stepIndex: number, out: Float32Array): void {
    checkStepIndex(stepIndex, this.timesteps.length);
    checkSameLength(clean, noise, out);
    const sigma = this.sigmas[stepIndex]!;
    for (let i = 0; i < clean.length; i++) out[i] = clean[i]! + fl(noise[i]! * sigma);
  }

  predictOriginal(sample: Float32Array, eps: Float32Array, stepIndex: number, out: Float32Array): void {
    checkStepIndex(stepIndex, this.timesteps.length);
    checkSameLength(sample, eps, out);
    const sigma = this.sigmas[stepIndex]!;
    const { vScale, vSkip } = this.vCoefficients(sigma);
    for (let i = 0; i < sample.length; i++) out[i] = this.x0(sample[i]!, eps[i]!, sigma, vScale, vSkip);
  }

  reset(): void {}

  step(eps: Float32Array, stepIndex: number, latents: Float32Array, noise?: Float32Array): void {
    this.stepGuided({ output: eps, guidance: undefined, latents, noise }, stepIndex);
  }

  abstract stepGuided(step: GuidedStep, stepIndex: number): void;

  previewCoefficients(stepIndex: number): { sample: number; eps: number } {
    const sigma = this.sigmas[stepIndex] ?? 0;
    if (this.prediction === EPSILON) return { sample: 1, eps: -sigma };
    const { vScale, vSkip } = this.vCoefficients(sigma);
    if (this.prediction === V_PREDICTION) return { sample: 1 / vSkip, eps: vScale };
    return { sample: 0, eps: 1 };
  }

  /** scale_model_input's divisor at the step after this one, when the fused step writes its input. */
  protected nextDivisor(step: GuidedStep, stepIndex: number): number {
    if (step.nextInput === undefined) return 1;
    checkStepIndex(stepIndex + 1, this.timesteps.length);
    return this.divisors[stepIndex + 1]!;
  }

  /** v-prediction's c_out = -sigma/sqrt(sigma^2+1) and c_skip's divisor sigma^2 + 1, in float32. */
  protected vCoefficients(sigma: number): { vScale: number; vSkip: number } {
    const vSkip = fl(fl(sigma * sigma) + 1);
    return { vScale: fl(-sigma / fl(Math.sqrt(vSkip))), vSkip };
  }

  /** pred_original_sample for one element. */
  protected x0(x: number, e: number, sigma: number, vScale: number, vSkip: number): number {
    if (this.prediction === EPSILON) return fl(x - fl(sigma * e));
    if (this.prediction === V_PREDICTION) return fl(fl(e * vScale) + fl(x / vSkip));
    return e;
  }
}

export class EulerScheduler extends EulerFamilyScheduler {
  readonly name = "euler" as const;
  readonly needsNoise = false;

  needsNoiseAt(): boolean {
    return false;
  }

  stepGuided(step: GuidedStep, stepIndex: number): void {
    checkStepIndex(stepIndex, this.timesteps.length);
    const secondCopy = checkGuidedStep(step);
    const divisor = this.nextDivisor(step, stepIndex);
    const { output, latents, nextInput } = step;
    const n = latents.length;
    const guided = step.guidance !== undefined;
    const g = fl(step.guidance ?? 0);
    const sigma = this.sigmas[stepIndex]!;
    const dt = fl(this.sigmas[stepIndex + 1]! - sigma);
    if (this.prediction === EPSILON && guided && nextInput !== undefined) {
      // SDXL's default (epsilon, guidance, mid-run): the same operations without per-value branches.
      for (let i = 0; i < n; i++) {
        const x = latents[i]!;
        const u = output[i]!;
        const e = fl(u + fl(g * fl(output[n + i]! - u)));
        const derivative = fl(fl(x - fl(x - fl(sigma * e))) / sigma);
        const y = fl(x + fl(derivative * dt));
        latents[i] = y;
        const scaled = y / divisor;
        nextInput[i] = scaled;
        nextInput[i + secondCopy] = scaled;
      }
      return;
    }
    const { vScale, vSkip } = this.vCoefficients(sigma);
    for (let i = 0; i < n; i++) {
      const x = latents[i]!;
      const e = guidedEps(output, n, i, g, guided);
      const derivative = fl(fl(x - this.x0(x, e, sigma, vScale, vSkip)) / sigma);
      const y = fl(x + fl(derivative * dt));
      latents[i] = y;
      if (nextInput !== undefined) {
        const scaled = y / divisor;
        nextInput[i] = scaled;
        nextInput[i + secondCopy] = scaled;
      }
    }
  }
}

export class EulerAncestralScheduler extends EulerFamilyScheduler {
  readonly name = "euler-a" as const;
  readonly needsNoise = true;

  /** Every step, the last included. */
  needsNoiseAt(): boolean {
    return true;
  }
  /** Per step: the noise added after the deterministic move, and the sigma that move goes to. */
  readonly sigmaUp: Float32Array;
  readonly sigmaDown: Float32Array;

  constructor(config: ResolvedSchedulerConfig, steps: number, schedule: TrainSchedule) {
    super(config, steps, schedule);
    this.sigmaUp = new Float32Array(steps);
    this.sigmaDown = new Float32Array(steps);
    for (let i = 0; i < steps; i++) {
      const from2 = fl(this.sigmas[i]! * this.sigmas[i]!);
      const to2 = fl(this.sigmas[i + 1]! * this.sigmas[i + 1]!);
      const up = fl(Math.sqrt(fl(fl(to2 * fl(from2 - to2)) / from2)));
      this.sigmaUp[i] = up;
      this.sigmaDown[i] = Math.sqrt(fl(to2 - fl(up * up)));
    }
  }

  stepGuided(step: GuidedStep, stepIndex: number): void {
    checkStepIndex(stepIndex, this.timesteps.length);
    const noise = step.noise;
    if (noise === undefined) {
      throw new InvalidInputError("Euler ancestral needs fresh noise at every step.", "noise");
    }
    const secondCopy = checkGuidedStep(step);
    const divisor = this.nextDivisor(step, stepIndex);
    const { output, latents, nextInput } = step;
    const n = latents.length;
    const guided = step.guidance !== undefined;
    const g = fl(step.guidance ?? 0);
    const sigma = this.sigmas[stepIndex]!;
    const up = this.sigmaUp[stepIndex]!;
    const dt = fl(this.sigmaDown[stepIndex]! - sigma);
    const { vScale, vSkip } = this.vCoefficients(sigma);
    for (let i = 0; i < n; i++) {
      const x = latents[i]!;
      const e = guidedEps(output, n, i, g, guided);
      const derivative = fl(fl(x - this.x0(x, e, sigma, vScale, vSkip)) / sigma);
      const y = fl(fl(x + fl(derivative * dt)) + fl(noise[i]! * up));
      latents[i] = y;
      if (nextInput !== undefined) {
        const scaled = y / divisor;
        nextInput[i] = scaled;
        nextInput[i + secondCopy] = scaled;
      }
    }
  }
}
