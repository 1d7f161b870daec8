/**
 * Live previews without the VAE: a linear projection of the 4 latent channels to RGB, computed at
 * latent resolution (1/8 of the image) and upscaled only for display.
 *
 * The factors are the SDXL latent-to-RGB approximation ComfyUI ships for its "latent2rgb" preview
 * (comfy/latent_formats.py, class SDXL: a 4x3 matrix plus an RGB bias). They apply to latents in
 * the UNet's (scaled) latent space and give RGB in about [-1, 1], mapped to bytes as
 * clamp((v + 1) / 2, 0, 1) * 255, rounded. Feed them the predicted clean latents (x0) of a step
 * for a recognisable preview; the noisy latents themselves look like noise early on.
 */

import sharp from "sharp";
import type { EncodedImage } from "../types.js";

/** Rows: latent channel 0..3; columns: R, G, B. */
export const SDXL_LATENT_RGB_FACTORS: readonly (readonly [number, number, number])[] = [
  [0.3651, 0.4232, 0.4341],
  [-0.2533, -0.0042, 0.1068],
  [0.1076, 0.1111, -0.0362],
  [-0.3165, -0.2492, -0.2188],
];
export const SDXL_LATENT_RGB_BIAS: readonly [number, number, number] = [0.1084, -0.0175, -0.0011];

/** Longer side of a preview image, in pixels. */
/** Longer side of a preview. 128 px is a 1024x1024 image's latent resolution: no resampling there,
 * and a preview costs about a millisecond, well under 1% of a denoising step at the default cadence. */
export const DEFAULT_PREVIEW_SIZE = 128;
/** JPEG rather than WebP: a third of the encode time at this size, and every chat client shows it. */
export const PREVIEW_JPEG_QUALITY = 75;

const LATENT_CHANNELS = 4;

// Folded into byte space: byte = clamp(((v + 1) / 2) * 255) = clamp(v * 127.5 + 127.5).
const F = SDXL_LATENT_RGB_FACTORS.map((row) => row.map((factor) => factor * 127.5));
const B = SDXL_LATENT_RGB_BIAS.map((bias) => bias * 127.5 + 127.5);
const [R0, G0, B0] = F[0];
const [R1, G1, B1] = F[1];
const [R2, G2, B2] = F[2];
const [R3, G3, B3] = F[3];
const [RB, GB, BB] = B;

/**
 * Round to nearest and clamp to a byte; Uint8ClampedArray would do it too, but not into `out`.
 * On (0, 255) truncating value + 0.5 is Math.round, without its slow path.
 */
function toByte(value: number): number {
  return value <= 0 ? 0 : value >= 255 ? 255 : (value + 0.5) | 0;
}

/**
 * Image `index` of a [batch, 4, h, w] latent tensor -> interleaved RGB uint8 (h x w x 3).
 * One pass, no allocation when `out` (h * w * 3 bytes) is given. NaN values give black.
 */
export function latentToPreviewRgb(
  latents: Float32Array,
  index: number,
  h: number,
  w: number,
  out?: Uint8Array,
): Uint8Array {
  const plane = h * w;
  const start = index * LATENT_CHANNELS * plane;
  if (index < 0 || !Number.isInteger(index) || start + LATENT_CHANNELS * plane > latents.length) {
    throw new RangeError(`latents hold no image ${index} of shape [4, ${h}, ${w}]`);
  }
  const rgb = out ?? new Uint8Array(plane * 3);
  if (rgb.length !== plane * 3) throw new RangeError(`out holds ${rgb.length} bytes; ${plane * 3} needed`);
  const c1 = start + plane;
  const c2 = c1 + plane;
  const c3 = c2 + plane;
  for (let i = 0, o = 0; i < plane; i++, o += 3) {
    const l0 = latents[start + i];
    const l1 = latents[c1 + i];
    const l2 = latents[c2 + i];
    const l3 = latents[c3 + i];
    rgb[o] = toByte(RB + l0 * R0 + l1 * R1 + l2 * R2 + l3 * R3);
    rgb[o + 1] = toByte(GB + l0 * G0 + l1 * G1 + l2 * G2 + l3 * G3);
    rgb[o + 2] = toByte(BB + l0 * B0 + l1 * B1 + l2 * B2 + l3 * B3);
  }
  return rgb;
}

/** What a step's preview is made from: the latents before the step and the UNet's raw output. */
export interface PreviewSource {
  /** [batch, 4, h, w]; image 0 is previewed. */
  latents: Float32Array;
  /** The UNet output: [uncond; cond] (each batch x 4 x h x w) with guidance, else the prediction. */
  output: Float32Array;
  guidance: number | undefined;
  /** x0 ≈ sample·x + eps·e at this step (Scheduler.previewCoefficients). */
  x0: { sample: number; eps: number };
}

/**
 * Image 0's predicted clean latents, projected to RGB, in one pass and without intermediate
 * arrays: guidance, x0 and the projection per pixel (float64 arithmetic; a preview need not be
 * bit-exact). The same bytes as latentToPreviewRgb of that x0, up to float32 rounding.
 */
export function guidedPreviewRgb(source: PreviewSource, h: number, w: number, out?: Uint8Array): Uint8Array {
  const plane = h * w;
  const n = source.latents.length;
  const guided = source.guidance !== undefined;
  if (n < LATENT_CHANNELS * plane || source.output.length !== (guided ? 2 * n : n)) {
    throw new RangeError(`latents and model output do not hold an image of shape [4, ${h}, ${w}]`);
  }
  const rgb = out ?? new Uint8Array(plane * 3);
  if (rgb.length !== plane * 3) throw new RangeError(`out holds ${rgb.length} bytes; ${plane * 3} needed`);
  const { latents: x, output } = source;
  const g = source.guidance ?? 0;
  const a = source.x0.sample;
  const b = source.x0.eps;
  const cond = guided ? n : 0;
  const x0 = (i: number): number => {
    const u = output[i]!;
    const e = guided ? u + g * (output[cond + i]! - u) : u;
    return a * x[i]! + b * e;
  };
  for (let i = 0, o = 0; i < plane; i++, o += 3) {
    const l0 = x0(i);
    const l1 = x0(plane + i);
    const l2 = x0(2 * plane + i);
    const l3 = x0(3 * plane + i);
    rgb[o] = toByte(RB + l0 * R0 + l1 * R1 + l2 * R2 + l3 * R3);
    rgb[o + 1] = toByte(GB + l0 * G0 + l1 * G1 + l2 * G2 + l3 * G3);
    rgb[o + 2] = toByte(BB + l0 * B0 + l1 * B1 + l2 * B2 + l3 * B3);
  }
  return rgb;
}

/**
 * Image 0's predicted clean latents [4, h, w] (guidance and x0 as in guidedPreviewRgb), for a
 * preview decoder that needs them as latents (the tiny VAE). A copy: the loop's buffers move on.
 */
export function guidedX0(source: PreviewSource, h: number, w: number): Float32Array {
  const size = LATENT_CHANNELS * h * w;
  const n = source.latents.length;
  const guided = source.guidance !== undefined;
  if (n < size || source.output.length !== (guided ? 2 * n : n)) {
    throw new RangeError(`latents and model output do not hold an image of shape [4, ${h}, ${w}]`);
  }
  const { latents: x, output } = source;
  const g = source.guidance ?? 0;
  const a = source.x0.sample;
  const b = source.x0.eps;
  const out = new Float32Array(size);
  for (let i = 0; i < size; i++) {
    const u = output[i]!;
    const e = guided ? u + g * (output[n + i]! - u) : u;
    out[i] = a * x[i]! + b * e;
  }
  return out;
}

/** The preview's size: longer side `size`, aspect kept, at least 1 px. */
export function previewSize(h: number, w: number, size: number): { width: number; height: number } {
  if (w >= h) return { width: size, height: Math.max(1, Math.round((h * size) / w)) };
  return { width: Math.max(1, Math.round((w * size) / h)), height: size };
}

/** RGB at latent resolution -> a JPEG whose longer side is `size` px (smooth resize when it differs). */
export async function encodePreview(
  rgb: Uint8Array,
  h: number,
  w: number,
  size = DEFAULT_PREVIEW_SIZE,
): Promise<EncodedImage> {
  if (rgb.length !== h * w * 3) throw new RangeError(`rgb holds ${rgb.length} bytes; ${h * w * 3} needed`);
  const { width, height } = previewSize(h, w, size);
  let image = sharp(rgb, { raw: { width: w, height: h, channels: 3 } });
  if (width !== w || height !== h) image = image.resize({ width, height, fit: "fill", kernel: "cubic" });
  const data = await image.jpeg({ quality: PREVIEW_JPEG_QUALITY }).toBuffer();
  return {
    mime: "image/jpeg",
    data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength),
    width,
    height,
  };
}
