/**
 * The SDXL denoising loop over a range of a scheduler's steps: the UNet runs on the scaled
 * latents, then one fused pass guides its output, steps the scheduler in place and writes the
 * next step's scaled input straight into the UNet's input buffer. Ancestral noise comes from each
 * image's own generator; cancellation is checked and the event loop is given a turn between steps.
 */
import { CancelledError } from "../errors.js";
import { blendAfterStep, type LatentBlend } from "./canvas/blend.js";
import { encodePreview, guidedPreviewRgb, guidedX0 } from "./image/preview.js";
import type { TorchGenerator } from "./noise/index.js";
import type { Scheduler } from "./schedulers/index.js";
import { TINY_VAE_SCALE } from "./taesd.js";
import type { EncodedImage, GenerateHooks, Progress } from "./types.js";

export interface LatentGeometry {
  count: number;
  channels: number;
  height: number;
  width: number;
}

/**
 * Counts steps across the base and refiner stages and reports them through the hooks, in order.
 * A step with a preview is reported once its preview is encoded; the encode runs on libuv's
 * thread pool, so the loop never waits for it (later steps' reports queue behind it).
 */
export class ProgressReporter {
  private steps = 0;
  private readonly started = performance.now();
  private delivered: Promise<void> = Promise.resolve();
  /** Main-thread time spent starting previews (x0, projection), reported in the run's timings. */
  previewMs = 0;

  constructor(
    readonly totalSteps: number,
    private readonly hooks: GenerateHooks,
  ) {}

  get previewDue(): boolean {
    const every = this.hooks.previewEvery ?? 0;
    return every > 0 && this.hooks.onProgress !== undefined && (this.steps + 1) % every === 0;
  }

  stepDone(stage: Progress["stage"], preview?: Promise<EncodedImage>): void {
    this.steps += 1;
    const progress: Progress = {
      step: this.steps,
      totalSteps: this.totalSteps,
      elapsedMs: performance.now() - this.started,
      stage,
    };
    const onProgress = this.hooks.onProgress;
    if (!onProgress) return;
    this.delivered = this.delivered.then(async () => {
      // A preview that fails to encode is dropped; the step is still reported.
      const image = preview ? await preview.catch(() => undefined) : undefined;
      onProgress(image ? { ...progress, preview: image } : progress);
    });
  }

  /** Resolves when every step so far has been reported. */
  flush(): Promise<void> {
    return this.delivered;
  }
}

export function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw new CancelledError();
}

const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve));

/** The noise-predicting model (the UNet, in production) with its input buffer and guidance. */
export interface NoisePredictor {
  /** What the next `run` reads: the scaled latents, twice back to back with guidance. */
  readonly input: Float32Array;
  /** The classifier-free guidance scale; undefined without guidance. */
  readonly guidance: number | undefined;
  /** The raw output for `input`: [uncond; cond] predictions with guidance, else the prediction. */
  run(timestep: number): Promise<Float32Array>;
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
  /** Decodes previews from the predicted clean latents (the tiny VAE); absent = the linear projection. */
  previewDecoder?: PreviewDecoder;
  /** Canvas actions with a 4-channel UNet: keep what the mask keeps on the source's trajectory. */
  blend?: LatentBlend;
}

/** Image 0's predicted clean latents [1, 4, h, w] → interleaved RGB bytes at image size (8h × 8w). */
export type PreviewDecoder = (x0: Float32Array, h: number, w: number) => Promise<Uint8Array>;

export async function denoise(run: DenoiseRun): Promise<void> {
  const { scheduler, latents, geometry, progress, unet } = run;
  const imageSize = geometry.channels * geometry.height * geometry.width;
  const noise = scheduler.needsNoise ? new Float32Array(latents.length) : undefined;
  const imageShape = [1, geometry.channels, geometry.height, geometry.width];
  const blendScratch = run.blend ? new Float32Array(latents.length) : undefined;
  try {
    if (run.from < run.to) writeFirstInput(scheduler, latents, run.from, unet.input);
    for (let i = run.from; i < run.to; i++) {
      throwIfAborted(run.signal);
      const output = await unet.run(scheduler.timesteps[i]!);
      let preview: Promise<EncodedImage> | undefined;
      if (progress.previewDue) {
        const started = performance.now();
        preview = previewOf(scheduler, i, latents, output, unet.guidance, geometry, run.previewDecoder);
        progress.previewMs += performance.now() - started;
      }
      const noisy = noise !== undefined && scheduler.needsNoiseAt(i);
      if (noisy) {
        run.generators.forEach((generator, image) => {
          generator.randn(imageShape, noise.subarray(image * imageSize, (image + 1) * imageSize));
        });
      }
      // With a blend the next input is scaled after it, from the blended latents.
      const nextInput = i + 1 < run.to && !run.blend ? unet.input : undefined;
      scheduler.stepGuided(
        { output, guidance: unet.guidance, latents, noise: noisy ? noise : undefined, nextInput },
        i,
      );
      if (run.blend && blendScratch) {
        blendAfterStep(run.blend, scheduler, i, run.to, latents, blendScratch);
        if (i + 1 < run.to) writeFirstInput(scheduler, latents, i + 1, unet.input);
      }
      progress.stepDone(run.stage, preview);
      await nextTurn();
    }
  } finally {
    await progress.flush();
  }
  throwIfAborted(run.signal);
}

/** A step's model input from the latents (the first step's; the fused step writes later ones). */
function writeFirstInput(
  scheduler: Scheduler,
  latents: Float32Array,
  stepIndex: number,
  input: Float32Array,
) {
  const n = latents.length;
  scheduler.scaleModelInput(latents, stepIndex, input.subarray(0, n));
  if (input.length > n) input.copyWithin(n, 0, n);
}

/**
 * Image 0's predicted clean latents at step i, as a JPEG: projected to RGB without the VAE in one
 * pass, or, with a preview decoder, decoded at the image's size (x0 is taken now, before the step
 * changes the latents; the decode runs when the promise does).
 */
function previewOf(
  scheduler: Scheduler,
  i: number,
  latents: Float32Array,
  output: Float32Array,
  guidance: number | undefined,
  g: LatentGeometry,
  decoder: PreviewDecoder | undefined,
): Promise<EncodedImage> {
  const source = { latents, output, guidance, x0: scheduler.previewCoefficients(i) };
  if (decoder) {
    const x0 = guidedX0(source, g.height, g.width);
    const height = g.height * TINY_VAE_SCALE;
    const width = g.width * TINY_VAE_SCALE;
    return decoder(x0, g.height, g.width).then((rgb) =>
      encodePreview(rgb, height, width, Math.max(height, width)),
    );
  }
  const rgb = guidedPreviewRgb(source, g.height, g.width);
  return encodePreview(rgb, g.height, g.width);
}
