/**
 * Repaint masks as pure functions over typed arrays. A mask is one float32 value per pixel,
 * row-major, 1 = repaint, 0 = keep.
 *
 * - The hard mask says what the action repaints: rectangles, a user's mask image binarized at 0.5,
 *   or everything outside the placed source (zoom out, pan).
 * - The soft (feathered) mask adds a band reaching FEATHER_PX into what is kept, falling linearly
 *   from 1 at the hard mask's edge to 0 at FEATHER_PX away (Euclidean distance between pixel
 *   centres). The result is composited with it, so seams blend and everything farther than
 *   FEATHER_PX from the repainted area keeps its exact original pixels.
 * - The latent mask is the soft mask as diffusers' SDXL inpainting pipeline brings a mask to latent
 *   resolution for the 4-channel path: `mask_processor` binarizes (>= 0.5 -> 1), then
 *   `F.interpolate(mask, size=(h/8, w/8))` samples the nearest pixel, which for the 8x scale is the
 *   block's top-left one (source index floor(8·i)). The band's inner half (FEATHER_PX / 2, two
 *   latent pixels) is thus repainted in latent space too.
 */
import type { Rect } from "../types.js";

/** Width of the feathered band, in pixels: four latent pixels. */
export const FEATHER_PX = 32;

/** The latent grid's scale (the VAE's downsampling). */
const SCALE = 8;

/** 1 inside any of `rects` (clipped to the image), 0 elsewhere. */
export function rectsMask(width: number, height: number, rects: readonly Rect[]): Float32Array {
  const mask = new Float32Array(width * height);
  for (const rect of rects) {
    const x0 = Math.max(0, rect.x);
    const y0 = Math.max(0, rect.y);
    const x1 = Math.min(width, rect.x + rect.width);
    const y1 = Math.min(height, rect.y + rect.height);
    for (let y = y0; y < y1; y++) mask.fill(1, y * width + x0, y * width + Math.max(x0, x1));
  }
  return mask;
}

/** 1 outside `placement`, 0 inside: what zoom out and pan repaint. */
export function outsideMask(width: number, height: number, placement: Rect): Float32Array {
  const inside = rectsMask(width, height, [placement]);
  for (let i = 0; i < inside.length; i++) inside[i] = 1 - inside[i]!;
  return inside;
}

/** A grey mask image's values (0–255) binarized as diffusers' mask processor does: >= 0.5 repaints. */
export function binarizeGrey(grey: Uint8Array): Float32Array {
  const mask = new Float32Array(grey.length);
  for (let i = 0; i < grey.length; i++) mask[i] = grey[i]! / 255 >= 0.5 ? 1 : 0;
  return mask;
}

/** Whether a mask repaints any pixel. */
export function repaintsAnything(mask: Float32Array): boolean {
  return mask.some((value) => value >= 0.5);
}

/**
 * Squared Euclidean distance from each pixel to the nearest pixel where `hard` >= 0.5 (0 there),
 * by Felzenszwalb and Huttenlocher's two-pass transform (about 1e20 everywhere when the mask is empty).
 */
export function squaredDistanceToMask(hard: Float32Array, width: number, height: number): Float64Array {
  const FAR = 1e20;
  const distance = new Float64Array(width * height);
  for (let i = 0; i < distance.length; i++) distance[i] = hard[i]! >= 0.5 ? 0 : FAR;
  const n = Math.max(width, height);
  const f = new Float64Array(n);
  const d = new Float64Array(n);
  const v = new Int32Array(n);
  const z = new Float64Array(n + 1);
  for (let x = 0; x < width; x++) {
    for (let y = 0; y < height; y++) f[y] = distance[y * width + x]!;
    transform1d(f, height, d, v, z);
    for (let y = 0; y < height; y++) distance[y * width + x] = d[y]!;
  }
  for (let y = 0; y < height; y++) {
    const row = y * width;
    for (let x = 0; x < width; x++) f[x] = distance[row + x]!;
    transform1d(f, width, d, v, z);
    for (let x = 0; x < width; x++) distance[row + x] = d[x]!;
  }
  return distance;
}

/** The 1-D squared distance transform of sampled function f[0..n) (lower envelope of parabolas). */
function transform1d(f: Float64Array, n: number, d: Float64Array, v: Int32Array, z: Float64Array): void {
  let k = 0;
  v[0] = 0;
  z[0] = Number.NEGATIVE_INFINITY;
  z[1] = Number.POSITIVE_INFINITY;
  for (let q = 1; q < n; q++) {
    // z[0] is -Infinity, so k never drops below 0 (every f is finite).
    let s = intersection(f, q, v[k]!);
    while (s <= z[k]!) {
      k--;
      s = intersection(f, q, v[k]!);
    }
    k++;
    v[k] = q;
    z[k] = s;
    z[k + 1] = Number.POSITIVE_INFINITY;
  }
  k = 0;
  for (let q = 0; q < n; q++) {
    while (z[k + 1]! < q) k++;
    const p = v[k]!;
    d[q] = (q - p) * (q - p) + f[p]!;
  }
}

/** Where the parabolas rooted at q and p intersect. */
function intersection(f: Float64Array, q: number, p: number): number {
  return (f[q]! + q * q - (f[p]! + p * p)) / (2 * (q - p));
}

/**
 * The soft mask: 1 where `hard` repaints, then 1 − distance / feather up to `feather` pixels away,
 * 0 beyond. With feather 0 it is the hard mask binarized.
 */
export function featherMask(
  hard: Float32Array,
  width: number,
  height: number,
  feather = FEATHER_PX,
): Float32Array {
  const squared = squaredDistanceToMask(hard, width, height);
  const soft = new Float32Array(width * height);
  for (let i = 0; i < soft.length; i++) {
    const distance = Math.sqrt(squared[i]!);
    soft[i] = distance === 0 ? 1 : feather > 0 ? Math.max(0, 1 - distance / feather) : 0;
  }
  return soft;
}

/**
 * The mask at latent resolution, [h/8, w/8] of 0 and 1, as diffusers' 4-channel inpainting path
 * computes it: binarize at 0.5, then nearest-neighbour downsampling (each latent pixel takes its
 * 8x8 block's top-left pixel).
 */
export function latentMask(mask: Float32Array, width: number, height: number): Float32Array {
  const w = width / SCALE;
  const h = height / SCALE;
  const out = new Float32Array(w * h);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) out[y * w + x] = mask[y * SCALE * width + x * SCALE]! >= 0.5 ? 1 : 0;
  }
  return out;
}

/**
 * Where the result's pixels are exactly the source's (scaled): the placement less the feathered
 * band on each side that borders a repainted area (sides on the image's edge keep their pixels).
 * Used to check a result and to tell what a seam may have touched.
 */
export function keptRect(width: number, height: number, placement: Rect, feather = FEATHER_PX): Rect {
  const left = placement.x > 0 ? feather : 0;
  const top = placement.y > 0 ? feather : 0;
  const right = placement.x + placement.width < width ? feather : 0;
  const bottom = placement.y + placement.height < height ? feather : 0;
  return {
    x: placement.x + left,
    y: placement.y + top,
    width: Math.max(0, placement.width - left - right),
    height: Math.max(0, placement.height - top - bottom),
  };
}
