/**
 * LCM (diffusers' LCMScheduler), the multistep consistency sampler of latent consistency models
 * and LCM-LoRAs. Its timesteps are picked from the distillation schedule of
 * original_inference_steps evenly spaced training steps, whatever timestep_spacing says. Each step
 * predicts x0, applies the consistency boundary condition
 *   denoised = c_out(t)·x0 + c_skip(t)·x,  with s = t·timestep_scaling,
 *   c_skip = σ_d² / (s² + σ_d²),  c_out = s / sqrt(s² + σ_d²),  σ_d = 0.5,
 * and, on every step but the last, noises `denoised` afresh to the next timestep:
 *   x' = sqrt(ᾱ_prev)·denoised + sqrt(1 − ᾱ_prev)·z.
 * The last step returns `denoised` itself and draws no noise (diffusers draws none there either,
 * which keeps the seeded generators in step with diffusers'). Every operation is the float32 op
 * diffusers' 0-dim and elementwise torch tensors perform, in its order.
 */
import { InvalidInputError } from "../../errors.js";
import type { ResolvedSchedulerConfig } from "./config.js";
import { addScaledNoise, numpyLinspaceOpen } from "./numerics.js";
import {
  checkGuidedStep,
  checkSameLength,
  checkStepIndex,
  type GuidedStep,
  guidedEps,
  type Scheduler,
} from "./scheduler.js";
import type { TrainSchedule } from "./train-schedule.js";

const fl = Math.fround;

/** sigma_data of the consistency parameterisation, squared. */
const SIGMA_DATA_SQUARED = 0.25;

/**
 * set_timesteps(steps) at strength 1: the distillation schedule k-1, 2k-1, …, original·k − 1 with
 * k = T // original, reversed, sampled at floor(np.linspace(0, original, steps, endpoint=False)).
 */
export function lcmTimesteps(config: ResolvedSchedulerConfig, steps: number): Float64Array {
  const original = config.originalInferenceSteps;
  if (steps > original) {
    throw new InvalidInputError(
      `LCM runs at most ${original} steps (the model's original_inference_steps), got ${steps}.`,
      "steps",
    );
  }
  const k = Math.floor(config.numTrainTimesteps / original);
  return numpyLinspaceOpen(0, original, steps).map((position) => (original - Math.floor(position)) * k - 1);
}

/** c_skip and c_out at timestep t, as float32 0-dim tensor ops (int64 t times a float gives float32). */
export function lcmBoundaryScalings(t: number, timestepScaling: number): { cSkip: number; cOut: number } {
  const scaled = fl(fl(t) * fl(timestepScaling));
  const denominator = fl(fl(scaled * scaled) + SIGMA_DATA_SQUARED);
  return {
    cSkip: fl(SIGMA_DATA_SQUARED / denominator),
    cOut: fl(scaled / fl(Math.sqrt(denominator))),
  };
}

const EPSILON = 0;
const V_PREDICTION = 1;
const SAMPLE = 2;

export class LcmScheduler implements Scheduler {
  readonly name = "lcm" as const;
  readonly initNoiseSigma = 1;
  readonly sigmas = undefined;
  readonly timesteps: Float64Array;
  /** Noise is re-injected after every step but the last: a one-step run draws none. */
  readonly needsNoise: boolean;
  /** Per step, as float32: c_skip, c_out, sqrt(ᾱ_t), sqrt(1 − ᾱ_t) and the same at the next timestep. */
  readonly cSkip: Float32Array;
  readonly cOut: Float32Array;
  private readonly sqrtAlpha: Float32Array;
  private readonly sqrtBeta: Float32Array;
  private readonly sqrtAlphaNext: Float32Array;
  private readonly sqrtBetaNext: Float32Array;
  private readonly prediction: number;

  constructor(
    readonly config: ResolvedSchedulerConfig,
    steps: number,
    schedule: TrainSchedule,
  ) {
    this.timesteps = lcmTimesteps(config, steps);
    this.needsNoise = steps > 1;
    const finalAlpha = config.setAlphaToOne ? 1 : schedule.alphasCumprod[0]!;
    this.cSkip = new Float32Array(steps);
    this.cOut = new Float32Array(steps);
    this.sqrtAlpha = new Float32Array(steps);
    this.sqrtBeta = new Float32Array(steps);
    this.sqrtAlphaNext = new Float32Array(steps);
    this.sqrtBetaNext = new Float32Array(steps);
    for (let i = 0; i < steps; i++) {
      const t = this.timesteps[i]!;
      // The last step's "previous" timestep is its own (only read when noise is added, never there).
      const next = i + 1 < steps ? this.timesteps[i + 1]! : t;
      const a = schedule.alphasCumprod[t]!;
      const aNext = next >= 0 ? schedule.alphasCumprod[next]! : finalAlpha;
      this.sqrtAlpha[i] = Math.sqrt(a);
      this.sqrtBeta[i] = Math.sqrt(fl(1 - a));
      this.sqrtAlphaNext[i] = Math.sqrt(aNext);
      this.sqrtBetaNext[i] = Math.sqrt(fl(1 - aNext));
      const { cSkip, cOut } = lcmBoundaryScalings(t, config.timestepScaling);
      this.cSkip[i] = cSkip;
      this.cOut[i] = cOut;
    }
    this.prediction =
      config.predictionType === "epsilon"
        ? EPSILON
        : config.predictionType === "v_prediction"
          ? V_PREDICTION
          : SAMPLE;
  }

  needsNoiseAt(stepIndex: number): boolean {
    return stepIndex < this.timesteps.length - 1;
  }

  scaleModelInput(sample: Float32Array, stepIndex: number, out: Float32Array): void {
    checkStepIndex(stepIndex, this.timesteps.length);
    checkSameLength(sample, out);
    if (out !== sample) out.set(sample);
  }

  step(eps: Float32Array, stepIndex: number, latents: Float32Array, noise?: Float32Array): void {
    this.stepGuided({ output: eps, guidance: undefined, latents, noise }, stepIndex);
  }

  stepGuided(step: GuidedStep, stepIndex: number): void {
    checkStepIndex(stepIndex, this.timesteps.length);
    const noisy = this.needsNoiseAt(stepIndex);
    const noise = step.noise;
    if (noisy && noise === undefined) {
      throw new InvalidInputError("LCM needs fresh noise at every step but the last.", "noise");
    }
    const secondCopy = checkGuidedStep(step);
    // scale_model_input is the identity: the next input is the new latents themselves.
    if (step.nextInput !== undefined) checkStepIndex(stepIndex + 1, this.timesteps.length);
    const { output, latents, nextInput } = step;
    const n = latents.length;
    const guided = step.guidance !== undefined;
    const g = fl(step.guidance ?? 0);
    const cSkip = this.cSkip[stepIndex]!;
    const cOut = this.cOut[stepIndex]!;
    const sqrtAlphaNext = this.sqrtAlphaNext[stepIndex]!;
    const sqrtBetaNext = this.sqrtBetaNext[stepIndex]!;
    for (let i = 0; i < n; i++) {
      const x = latents[i]!;
      const e = guidedEps(output, n, i, g, guided);
      const denoised = fl(fl(cOut * this.x0(x, e, stepIndex)) + fl(cSkip * x));
      const y = noisy ? fl(fl(sqrtAlphaNext * denoised) + fl(sqrtBetaNext * noise![i]!)) : denoised;
      latents[i] = y;
      if (nextInput !== undefined) {
        nextInput[i] = y;
        nextInput[i + secondCopy] = y;
      }
    }
  }

  /** `denoised` ≈ sample·x + eps·e: the boundary condition folded into the x0 prediction. */
  previewCoefficients(stepIndex: number): { sample: number; eps: number } {
    const cSkip = this.cSkip[stepIndex] ?? 1;
    const cOut = this.cOut[stepIndex] ?? 0;
    const sqrtAlpha = this.sqrtAlpha[stepIndex] ?? 1;
    const sqrtBeta = this.sqrtBeta[stepIndex] ?? 0;
    if (this.prediction === EPSILON) {
      return { sample: cOut / sqrtAlpha + cSkip, eps: (-cOut * sqrtBeta) / sqrtAlpha };
    }
    if (this.prediction === V_PREDICTION) return { sample: cOut * sqrtAlpha + cSkip, eps: -cOut * sqrtBeta };
    return { sample: cSkip, eps: cOut };
  }

  /** DDPM's add_noise at timesteps[stepIndex] (img2img). */
  addNoise(clean: Float32Array, noise: Float32Array, stepIndex: number, out: Float32Array): void {
    checkStepIndex(stepIndex, this.timesteps.length);
    checkSameLength(clean, noise, out);
    addScaledNoise(clean, noise, this.sqrtAlpha[stepIndex]!, this.sqrtBeta[stepIndex]!, out);
  }

  /** The step's `denoised`: the consistency model's estimate of the clean latents. */
  predictOriginal(sample: Float32Array, eps: Float32Array, stepIndex: number, out: Float32Array): void {
    checkStepIndex(stepIndex, this.timesteps.length);
    checkSameLength(sample, eps, out);
    const cSkip = this.cSkip[stepIndex]!;
    const cOut = this.cOut[stepIndex]!;
    for (let i = 0; i < sample.length; i++) {
      const x = sample[i]!;
      out[i] = fl(fl(cOut * this.x0(x, eps[i]!, stepIndex)) + fl(cSkip * x));
    }
  }

  reset(): void {}

  /** predicted_original_sample for one element, clipped when the config asks. */
  private x0(x: number, e: number, stepIndex: number): number {
    const sqrtAlpha = this.sqrtAlpha[stepIndex]!;
    const sqrtBeta = this.sqrtBeta[stepIndex]!;
    let x0: number;
    if (this.prediction === EPSILON) x0 = fl(fl(x - fl(sqrtBeta * e)) / sqrtAlpha);
    else if (this.prediction === V_PREDICTION) x0 = fl(fl(sqrtAlpha * x) - fl(sqrtBeta * e));
    else x0 = e;
    if (!this.config.clipSample) return x0;
    const range = fl(this.config.clipSampleRange);
    return Math.min(range, Math.max(-range, x0));
  }
}
