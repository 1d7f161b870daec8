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
  /** True for Euler ancestral: step() wants a fresh randn of the latent shape at every step, the last included. */
  readonly needsNoise: boolean;
  /** scale_model_input: out = sample / divisor(stepIndex) in float32; `out` may be `sample`. */
  scaleModelInput(sample: Float32Array, stepIndex: number, out: Float32Array): void;
  /** One denoising step, updating `latents` in place. */
  step(eps: Float32Array, stepIndex: number, latents: Float32Array, noise?: Float32Array): void;
  /** img2img: out = add_noise(clean, noise) at timesteps[stepIndex]; `out` may be `clean`. */
  addNoise(clean: Float32Array, noise: Float32Array, stepIndex: number, out: Float32Array): void;
  /** The model's estimate of the clean latents at this step (for previews); no state changes. */
  predictOriginal(sample: Float32Array, eps: Float32Array, stepIndex: number, out: Float32Array): void;
  /** Forgets multistep history, as a freshly built scheduler. */
  reset(): void;
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
