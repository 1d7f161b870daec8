/**
 * What the denoising loop needs from a scheduler. Steps are addressed by their index into
 * `timesteps`, so a scheduler can start anywhere (img2img, the refiner's half of a split).
 * All tensors are flat float32 arrays of one shape, typically [B, 4, h, w]; the math is elementwise,
 * so the batch size does not matter.
 */
import { InvalidInputError } from "../../errors.js";
import type { SchedulerName } from "../types.js";
import type { ResolvedSchedulerConfig } from "./config.js";

export interface Scheduler {
  readonly name: SchedulerName;
  readonly config: ResolvedSchedulerConfig;
  /** What the UNet receives at each step (the Euler family's may be fractional with linspace spacing). */
  readonly timesteps: Float64Array;
  /** Sigma per step plus the final one (length steps + 1); undefined for DDIM. */
  readonly sigmas: Float32Array | undefined;
  /** The factor text-to-image multiplies the initial noise by. */
  readonly initNoiseSigma: number;
  /** True when some step wants a fresh randn of the latent shape (Euler ancestral, LCM). */
  readonly needsNoise: boolean;
  /**
   * Whether step(stepIndex) takes fresh noise: every step for Euler ancestral, every step but the
   * last for LCM. Callers draw from their generators exactly then, in diffusers' order.
   */
  needsNoiseAt(stepIndex: number): boolean;
  /** scale_model_input: out = sample / divisor(stepIndex) in float32; `out` may be `sample`. */
  scaleModelInput(sample: Float32Array, stepIndex: number, out: Float32Array): void;
  /** One denoising step, updating `latents` in place. */
  step(eps: Float32Array, stepIndex: number, latents: Float32Array, noise?: Float32Array): void;
  /**
   * One pass over the latents doing what the loop does between two UNet runs: classifier-free
   * guidance on the raw UNet output, the step, and the next step's scale_model_input. Each value
   * is the same float32 result as applyGuidance, step and scaleModelInput called in turn.
   */
  stepGuided(step: GuidedStep, stepIndex: number): void;
  /** x0 ≈ sample·x + eps·e at this step: cheap coefficients for live previews (not bit-exact). */
  previewCoefficients(stepIndex: number): { sample: number; eps: number };
  /** img2img: out = add_noise(clean, noise) at timesteps[stepIndex]; `out` may be `clean`. */
  addNoise(clean: Float32Array, noise: Float32Array, stepIndex: number, out: Float32Array): void;
  /** The model's estimate of the clean latents at this step (for previews); no state changes. */
  predictOriginal(sample: Float32Array, eps: Float32Array, stepIndex: number, out: Float32Array): void;
  /** Forgets multistep history, as a freshly built scheduler. */
  reset(): void;
}

/** The inputs and outputs of one fused step (see Scheduler.stepGuided). */
export interface GuidedStep {
  /** The UNet's output: the noise prediction, or with guidance [uncond; cond] (twice as long). */
  output: Float32Array;
  /** The guidance scale, or undefined when `output` is the prediction itself. */
  guidance: number | undefined;
  /** [B, 4, h, w], updated in place. */
  latents: Float32Array;
  /** The fresh noise of a step that takes it (see Scheduler.needsNoiseAt). */
  noise?: Float32Array;
  /**
   * When given, receives scale_model_input(latents after this step, stepIndex + 1), once or twice
   * back to back (the UNet's [uncond; cond] batch reads the same latents twice).
   */
  nextInput?: Float32Array;
}

const fl = Math.fround;

/**
 * Element i of the guided noise prediction: uncond + g·(cond − uncond), each operation rounded to
 * float32 as applyGuidance does; the prediction itself without guidance. Small enough to inline.
 */
export function guidedEps(output: Float32Array, n: number, i: number, g: number, guided: boolean): number {
  const u = output[i]!;
  return guided ? fl(u + fl(g * fl(output[n + i]! - u))) : u;
}

/** Checks a fused step's shapes; returns the offset of nextInput's second copy (0 when single). */
export function checkGuidedStep(step: GuidedStep): number {
  const n = step.latents.length;
  const expected = step.guidance === undefined ? n : 2 * n;
  if (step.output.length !== expected) {
    throw new InvalidInputError(
      `The model output holds ${step.output.length} values; ${expected} expected for these latents.`,
      "latents",
    );
  }
  if (step.noise !== undefined) checkSameLength(step.latents, step.noise);
  const next = step.nextInput;
  if (next !== undefined && next.length !== n && next.length !== 2 * n) {
    throw new InvalidInputError(`The next model input must hold ${n} or ${2 * n} values.`, "latents");
  }
  return next !== undefined && next.length === 2 * n ? n : 0;
}

export function checkStepIndex(stepIndex: number, steps: number): void {
  if (!Number.isInteger(stepIndex) || stepIndex < 0 || stepIndex >= steps) {
    throw new InvalidInputError(
      `Step index ${stepIndex} is outside the schedule of ${steps} steps.`,
      "stepIndex",
    );
  }
}

export function checkSameLength(reference: Float32Array, ...others: (Float32Array | undefined)[]): void {
  for (const other of others) {
    if (other !== undefined && other.length !== reference.length) {
      throw new InvalidInputError(
        `Scheduler tensors must have the same size (${reference.length} vs ${other.length}).`,
        "latents",
      );
    }
  }
}
