/**
 * After decoding: the original pixels go back wherever the soft mask keeps them, so what a canvas
 * action keeps is exactly what it was, and the feathered band blends the new pixels into it.
 */

/** out = m·generated + (1 − m)·original per pixel (m = soft mask, 1 = repainted), rounded to bytes. */
export function compositeKept(generated: Uint8Array, original: Uint8Array, soft: Float32Array): Uint8Array {
  if (generated.length !== original.length || generated.length !== soft.length * 3) {
    throw new RangeError("compositeKept: images and mask differ in size");
  }
  const out = new Uint8Array(generated.length);
  for (let p = 0; p < soft.length; p++) {
    const m = soft[p]!;
    for (let c = 0; c < 3; c++) {
      const i = p * 3 + c;
      out[i] =
        m >= 1
          ? generated[i]!
          : m <= 0
            ? original[i]!
            : Math.round(m * generated[i]! + (1 - m) * original[i]!);
    }
  }
  return out;
}
