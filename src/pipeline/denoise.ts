/**
 * The SDXL denoising loop over a range of a scheduler's steps: scale the input, predict guided
 * noise, step the scheduler in place. Ancestral noise comes from each image's own generator;
 * cancellation is checked and the event loop is given a turn between steps.
 */
import { CancelledError } from "../errors.js";
import { encodePreview, latentToPreviewRgb } from "./image/preview.js";
import type { TorchGenerator } from "./noise/index.js";
import type { Scheduler } from "./schedulers/index.js";
import type { EncodedImage, GenerateHooks, Progress } from "./types.js";

export interface LatentGeometry {
  count: number;
  channels: number;
  height: number;
  width: number;
}

/** Counts steps across the base and refiner stages and reports them through the hooks. */
export class ProgressReporter {
  private done = 0;
  private readonly started = performance.now();
  /** Time spent building previews, reported in the run's timings. */
  previewMs = 0;

  constructor(
    readonly totalSteps: number,
    private readonly hooks: GenerateHooks,
  ) {}

  get previewDue(): boolean {
    const every = this.hooks.previewEvery ?? 0;
    return every > 0 && this.hooks.onProgress !== undefined && (this.done + 1) % every === 0;
  }

  report(stage: Progress["stage"], preview?: Progress["preview"]): void {
    this.done += 1;
    this.hooks.onProgress?.({
      step: this.done,
      totalSteps: this.totalSteps,
      elapsedMs: performance.now() - this.started,
      stage,
      ...(preview ? { preview } : {}),
    });
  }
}

export function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw new CancelledError();
}

const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve));

/** Guided noise prediction for the scheduler-scaled latents of all images (the UNet, in production). */
export interface NoisePredictor {
  predict(modelInput: Float32Array, timestep: number): Promise<Float32Array>;
}

export interface DenoiseRun {
  unet: NoisePredictor;
  scheduler: Scheduler;
  /** [count, 4, h, w], updated in place. */
  latents: Float32Array;
  geometry: LatentGeometry;
  /** One per image, continued for ancestral noise. */
  generators: readonly TorchGenerator[];
  from: number;
  to: number;
  stage: Progress["stage"];
  progress: ProgressReporter;
  signal: AbortSignal | undefined;
}

/**
 * A step with a preview reports once its preview is encoded. The encode runs on libuv's thread
 * pool while the next UNet run blocks this thread, so it costs the loop almost nothing; the
 * report waits at most one step and keeps the order of steps.
 */
export async function denoise(run: DenoiseRun): Promise<void> {
  const { scheduler, latents, geometry, progress } = run;
  const modelInput = new Float32Array(latents.length);
  const imageSize = geometry.channels * geometry.height * geometry.width;
  const noise = scheduler.needsNoise ? new Float32Array(latents.length) : undefined;
  const imageShape = [1, geometry.channels, geometry.height, geometry.width];
  let pendingReport: Promise<void> | undefined;
  const settlePendingReport = async () => {
    if (!pendingReport) return;
    const started = performance.now();
    await pendingReport;
    pendingReport = undefined;
    progress.previewMs += performance.now() - started;
  };
  try {
    for (let i = run.from; i < run.to; i++) {
      throwIfAborted(run.signal);
      scheduler.scaleModelInput(latents, i, modelInput);
      const eps = await run.unet.predict(modelInput, scheduler.timesteps[i]!);
      await settlePendingReport();
      let preview: Promise<EncodedImage> | undefined;
      if (progress.previewDue) {
        const started = performance.now();
        preview = previewOf(scheduler, i, latents, eps, geometry);
        progress.previewMs += performance.now() - started;
      }
      if (noise) {
        run.generators.forEach((generator, image) => {
          generator.randn(imageShape, noise.subarray(image * imageSize, (image + 1) * imageSize));
        });
      }
      scheduler.step(eps, i, latents, noise);
      if (preview) {
        // A preview that fails to encode is dropped; the step is still reported.
        pendingReport = preview.then(
          (image) => progress.report(run.stage, image),
          () => progress.report(run.stage),
        );
      } else {
        progress.report(run.stage);
      }
      await nextTurn();
    }
  } finally {
    await settlePendingReport();
  }
  throwIfAborted(run.signal);
}

/** Image 0's predicted clean latents at step i, projected to RGB without the VAE. */
function previewOf(
  scheduler: Scheduler,
  i: number,
  latents: Float32Array,
  eps: Float32Array,
  g: LatentGeometry,
) {
  const size = g.channels * g.height * g.width;
  const estimate = new Float32Array(size);
  scheduler.predictOriginal(latents.subarray(0, size), eps.subarray(0, size), i, estimate);
  return encodePreview(latentToPreviewRgb(estimate, 0, g.height, g.width), g.height, g.width);
}
