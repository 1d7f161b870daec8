/**
 * DDIM (diffusers' DDIMScheduler) with eta 0, the pipelines' default: deterministic, and the
 * previous timestep is always t - T // N whatever the spacing.
 */
import { InvalidInputError } from "../../errors.js";
import type { ResolvedSchedulerConfig } from "./config.js";
import { addScaledNoise, cleanEstimateCoefficients } from "./numerics.js";
import {
  checkGuidedStep,
  checkSameLength,
  checkStepIndex,
  type GuidedStep,
  guidedEps,
  type Scheduler,
} from "./scheduler.js";
import { ddimTimesteps } from "./spacing.js";
import type { TrainSchedule } from "./train-schedule.js";

const fl = Math.fround;

export class DdimScheduler implements Scheduler {
  readonly name = "ddim" as const;
  readonly needsNoise = false;
  readonly initNoiseSigma = 1;
  readonly sigmas = undefined;
  readonly timesteps: Float64Array;
  /** Per step: the timestep stepped to, and alphas_cumprod at t and there (the final alpha below 0). */
  readonly prevTimesteps: Float64Array;
  readonly alphaProdT: Float32Array;
  readonly alphaProdTPrev: Float32Array;
  private readonly sqrtAlpha: Float32Array;
  private readonly sqrtBeta: Float32Array;
  private readonly sqrtAlphaPrev: Float32Array;
  /** sqrt(1 - alpha_prev - std^2) with std = eta*sqrt(variance) = 0. */
  private readonly directionCoef: Float32Array;

  constructor(
    readonly config: ResolvedSchedulerConfig,
    steps: number,
    schedule: TrainSchedule,
  ) {
    const T = config.numTrainTimesteps;
    this.timesteps = ddimTimesteps(config, steps);
    const outside = this.timesteps.find((t) => t < 0 || t > T - 1);
    if (outside !== undefined) {
      throw new InvalidInputError(
        `DDIM with ${steps} steps reaches timestep ${outside}, outside the model's 0..${T - 1}.`,
        "steps",
      );
    }
    const finalAlpha = config.setAlphaToOne ? 1 : schedule.alphasCumprod[0]!;
    const ratio = Math.floor(T / steps);
    this.prevTimesteps = this.timesteps.map((t) => t - ratio);
    this.alphaProdT = new Float32Array(steps);
    this.alphaProdTPrev = new Float32Array(steps);
    this.sqrtAlpha = new Float32Array(steps);
    this.sqrtBeta = new Float32Array(steps);
    this.sqrtAlphaPrev = new Float32Array(steps);
    this.directionCoef = new Float32Array(steps);
    for (let i = 0; i < steps; i++) {
      const prev = this.prevTimesteps[i]!;
      const a = schedule.alphasCumprod[this.timesteps[i]!]!;
      const aPrev = prev >= 0 ? schedule.alphasCumprod[prev]! : finalAlpha;
      this.alphaProdT[i] = a;
      this.alphaProdTPrev[i] = aPrev;
      this.sqrtAlpha[i] = Math.sqrt(a);
      this.sqrtBeta[i] = Math.sqrt(fl(1 - a));
      this.sqrtAlphaPrev[i] = Math.sqrt(aPrev);
      this.directionCoef[i] = Math.sqrt(fl(1 - aPrev));
    }
  }

  needsNoiseAt(): boolean {
    return false;
  }

  scaleModelInput(sample: Float32Array, stepIndex: number, out: Float32Array): void {
    checkStepIndex(stepIndex, this.timesteps.length);
    checkSameLength(sample, out);
    if (out !== sample) out.set(sample);
  }

  step(eps: Float32Array, stepIndex: number, latents: Float32Array): void {
    this.stepGuided({ output: eps, guidance: undefined, latents }, stepIndex);
  }

  stepGuided(step: GuidedStep, stepIndex: number): void {
    checkStepIndex(stepIndex, this.timesteps.length);
    const secondCopy = checkGuidedStep(step);
    // scale_model_input is the identity here: the next input is the new latents themselves.
    if (step.nextInput !== undefined) checkStepIndex(stepIndex + 1, this.timesteps.length);
    const { output, latents, nextInput } = step;
    const n = latents.length;
    const guided = step.guidance !== undefined;
    const g = fl(step.guidance ?? 0);
    const sqrtAlpha = this.sqrtAlpha[stepIndex]!;
    const sqrtBeta = this.sqrtBeta[stepIndex]!;
    const sqrtAlphaPrev = this.sqrtAlphaPrev[stepIndex]!;
    const direction = this.directionCoef[stepIndex]!;
    const prediction = this.config.predictionType;
    const clip = this.config.clipSample;
    const range = fl(this.config.clipSampleRange);
    for (let i = 0; i < n; i++) {
      const x = latents[i]!;
      const e = guidedEps(output, n, i, g, guided);
      let x0: number;
      let predEps: number;
      if (prediction === "epsilon") {
        x0 = fl(fl(x - fl(sqrtBeta * e)) / sqrtAlpha);
        predEps = e;
      } else if (prediction === "v_prediction") {
        x0 = fl(fl(sqrtAlpha * x) - fl(sqrtBeta * e));
        predEps = fl(fl(sqrtAlpha * e) + fl(sqrtBeta * x));
      } else {
        x0 = e;
        predEps = fl(fl(x - fl(sqrtAlpha * x0)) / sqrtBeta);
      }
      if (clip) x0 = Math.min(range, Math.max(-range, x0));
      const y = fl(fl(sqrtAlphaPrev * x0) + fl(direction * predEps));
      latents[i] = y;
      if (nextInput !== undefined) {
        nextInput[i] = y;
        nextInput[i + secondCopy] = y;
      }
    }
  }

  previewCoefficients(stepIndex: number): { sample: number; eps: number } {
    return cleanEstimateCoefficients(
      this.config.predictionType,
      this.sqrtAlpha[stepIndex] ?? 1,
      this.sqrtBeta[stepIndex] ?? 0,
    );
  }

  addNoise(clean: Float32Array, noise: Float32Array, stepIndex: number, out: Float32Array): void {
    checkStepIndex(stepIndex, this.timesteps.length);
    checkSameLength(clean, noise, out);
    addScaledNoise(clean, noise, this.sqrtAlpha[stepIndex]!, this.sqrtBeta[stepIndex]!, out);
  }

  predictOriginal(sample: Float32Array, eps: Float32Array, stepIndex: number, out: Float32Array): void {
    checkStepIndex(stepIndex, this.timesteps.length);
    checkSameLength(sample, eps, out);
    const sqrtAlpha = this.sqrtAlpha[stepIndex]!;
    const sqrtBeta = this.sqrtBeta[stepIndex]!;
    const prediction = this.config.predictionType;
    const clip = this.config.clipSample;
    const range = fl(this.config.clipSampleRange);
    for (let i = 0; i < sample.length; i++) {
      const x = sample[i]!;
      const e = eps[i]!;
      let x0: number;
      if (prediction === "epsilon") x0 = fl(fl(x - fl(sqrtBeta * e)) / sqrtAlpha);
      else if (prediction === "v_prediction") x0 = fl(fl(sqrtAlpha * x) - fl(sqrtBeta * e));
      else x0 = e;
      out[i] = clip ? Math.min(range, Math.max(-range, x0)) : x0;
    }
  }

  reset(): void {}
}
