/**
 * diffusers' SDXL inpainting loop for a 4-channel UNet, as pure functions over typed arrays: the
 * starting latents, and after each scheduler step
 *   init    = scheduler.add_noise(image_latents, noise, t_next)   (skipped after the last step)
 *   latents = (1 − mask)·init + mask·latents
 * so what the mask keeps follows the source's own noising trajectory and ends exactly on its
 * latents. Every operation is one float32 rounding, in diffusers' order.
 */
import { img2imgStart, type Scheduler } from "../schedulers/index.js";

const fl = Math.fround;

/** What the 4-channel path blends towards; all latents are [count, 4, h, w], the mask [h, w]. */
export interface LatentBlend {
  /** 1 = repaint, 0 = keep, per latent pixel (the same for every image and channel). */
  mask: Float32Array;
  /** The canvas image's clean latents (VAE-encoded, scaled). */
  imageLatents: Float32Array;
  /** The noise the run started from; diffusers re-noises image_latents with the same noise each step. */
  noise: Float32Array;
}

/**
 * The latents an inpainting run starts from and the step it starts at (diffusers' prepare_latents
 * and get_timesteps): at strength 1 pure noise times init_noise_sigma, from step 0 (the source
 * only enters through the blend); below it, the source's latents noised to the start step.
 */
export function inpaintStart(
  scheduler: Scheduler,
  steps: number,
  strength: number,
  imageLatents: Float32Array,
  noise: Float32Array,
): { latents: Float32Array; from: number } {
  const latents = new Float32Array(noise.length);
  if (strength >= 1) {
    const sigma = fl(scheduler.initNoiseSigma);
    for (let i = 0; i < noise.length; i++) latents[i] = fl(noise[i]! * sigma);
    return { latents, from: 0 };
  }
  const { tStart } = img2imgStart(steps, strength);
  scheduler.addNoise(imageLatents, noise, tStart, latents);
  return { latents, from: tStart };
}

/** latents = (1 − mask)·init + mask·latents, in place, the [h, w] mask repeated over images and channels. */
export function blendLatents(latents: Float32Array, init: Float32Array, mask: Float32Array): void {
  const plane = mask.length;
  if (latents.length % plane !== 0 || init.length !== latents.length) {
    throw new RangeError(
      `blend: ${latents.length} latents, ${init.length} init values and a mask of ${plane} do not match`,
    );
  }
  for (let i = 0; i < latents.length; i++) {
    const m = mask[i % plane]!;
    latents[i] = fl(fl(fl(1 - m) * init[i]!) + fl(m * latents[i]!));
  }
}

/**
 * The blend after step `stepIndex` of a run that ends before `end`: towards the source noised to
 * the next step, or towards its clean latents after the last step. `scratch` holds the noised
 * latents (one latents-sized buffer, reused across steps).
 */
export function blendAfterStep(
  blend: LatentBlend,
  scheduler: Scheduler,
  stepIndex: number,
  end: number,
  latents: Float32Array,
  scratch: Float32Array,
): void {
  if (stepIndex + 1 < end) {
    scheduler.addNoise(blend.imageLatents, blend.noise, stepIndex + 1, scratch);
    blendLatents(latents, scratch, blend.mask);
  } else {
    blendLatents(latents, blend.imageLatents, blend.mask);
  }
}
