/** How far a float16 model's outputs are from the float32 model's: the figures the tests pin. */

/** ‖a − b‖₂ / ‖b‖₂, with `b` the reference. */
export function relativeL2(a: Float32Array, b: Float32Array): number {
  if (a.length !== b.length) throw new RangeError(`lengths differ: ${a.length} vs ${b.length}`);
  let error = 0;
  let norm = 0;
  for (let i = 0; i < a.length; i++) {
    const d = a[i]! - b[i]!;
    error += d * d;
    norm += b[i]! * b[i]!;
  }
  return Math.sqrt(error / norm);
}

/** max |a − b|; NaN anywhere gives NaN. */
export function maxAbsDifference(a: Float32Array, b: Float32Array): number {
  if (a.length !== b.length) throw new RangeError(`lengths differ: ${a.length} vs ${b.length}`);
  let max = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i]! - b[i]!);
    if (Number.isNaN(d)) return Number.NaN;
    if (d > max) max = d;
  }
  return max;
}

/** Peak signal-to-noise ratio of two 8-bit images in dB (Infinity when identical). */
export function psnr8(a: Uint8Array, b: Uint8Array): number {
  if (a.length !== b.length) throw new RangeError(`lengths differ: ${a.length} vs ${b.length}`);
  let squared = 0;
  for (let i = 0; i < a.length; i++) {
    const d = a[i]! - b[i]!;
    squared += d * d;
  }
  if (squared === 0) return Number.POSITIVE_INFINITY;
  return 10 * Math.log10((255 * 255) / (squared / a.length));
}
