/**
 * SDXL micro-conditioning and classifier-free-guidance batch layout (pure). Sizes are taken as
 * (width, height) and written height-first, as SDXL's tensors are.
 */

/** Base time ids: [orig_h, orig_w, crop_top, crop_left, target_h, target_w]; orig = target = image size. */
export function baseTimeIds(width: number, height: number): number[] {
  return [height, width, 0, 0, height, width];
}

export const REFINER_AESTHETIC_SCORE = 6.0;
export const REFINER_NEGATIVE_AESTHETIC_SCORE = 2.5;

/** Refiner time ids: [orig_h, orig_w, crop_top, crop_left, aesthetic_score]. */
export function refinerTimeIds(width: number, height: number, aestheticScore: number): number[] {
  return [height, width, 0, 0, aestheticScore];
}

/** Guidance runs only above 1, as diffusers' `do_classifier_free_guidance`. */
export function usesGuidance(guidance: number): boolean {
  return guidance > 1;
}

/**
 * Rows of a batched conditioning tensor: with guidance, `count` negative rows then `count`
 * positive rows (diffusers' block order); without it, the positive rows alone.
 */
export function stackRows(
  positive: Float32Array,
  negative: Float32Array | undefined,
  count: number,
): Float32Array {
  const rows = negative ? [negative, positive] : [positive];
  const out = new Float32Array(positive.length * count * rows.length);
  let offset = 0;
  for (const row of rows) {
    for (let i = 0; i < count; i++, offset += row.length) out.set(row, offset);
  }
  return out;
}

/** eps = uncond + g * (cond - uncond), rounded like diffusers' three float32 tensor ops. */
export function applyGuidance(
  uncond: Float32Array,
  cond: Float32Array,
  guidance: number,
  out: Float32Array,
): void {
  const g = Math.fround(guidance);
  for (let i = 0; i < out.length; i++) {
    const u = uncond[i]!;
    out[i] = u + Math.fround(g * Math.fround(cond[i]! - u));
  }
}
