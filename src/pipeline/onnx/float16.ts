/**
 * IEEE-754 binary16 <-> binary32 conversion for float16 model inputs and outputs (onnxruntime-node
 * hands float16 tensors over as Uint16Array bit patterns; Node 20 has no Float16Array).
 *
 * float32 -> float16 rounds to nearest, ties to even, like a hardware cast: values past the
 * largest half (65504) round to ±Infinity from 65520 on, tiny values become subnormals or ±0,
 * the sign of zero is kept, and NaN stays NaN (payload kept where it fits, quiet bit set).
 * float16 -> float32 is exact.
 */

/** float32 values -> float16 bit patterns. Writes into `out` when given. */
export function float32ToFloat16Bits(values: Float32Array, out?: Uint16Array): Uint16Array {
  const result = out ?? new Uint16Array(values.length);
  if (result.length !== values.length) {
    throw new RangeError(`out holds ${result.length} values; ${values.length} needed`);
  }
  const bits = new Uint32Array(values.buffer, values.byteOffset, values.length);
  for (let i = 0; i < bits.length; i++) result[i] = float32BitsToFloat16Bits(bits[i]);
  return result;
}

/** float16 bit patterns -> float32 values (exact). Writes into `out` when given. */
export function float16BitsToFloat32(halves: Uint16Array, out?: Float32Array): Float32Array {
  const result = out ?? new Float32Array(halves.length);
  if (result.length !== halves.length) {
    throw new RangeError(`out holds ${result.length} values; ${halves.length} needed`);
  }
  const bits = new Uint32Array(result.buffer, result.byteOffset, result.length);
  for (let i = 0; i < halves.length; i++) bits[i] = float16BitsToFloat32Bits(halves[i]);
  return result;
}

/** One float32 bit pattern -> the nearest float16 bit pattern (ties to even). */
export function float32BitsToFloat16Bits(f32: number): number {
  const sign = (f32 >>> 16) & 0x8000;
  const exponent = (f32 >>> 23) & 0xff;
  const mantissa = f32 & 0x7fffff;

  if (exponent === 0xff) {
    if (mantissa === 0) return sign | 0x7c00;
    // NaN: keep the top payload bits and force the quiet bit so it never turns into Infinity.
    return sign | 0x7e00 | (mantissa >>> 13);
  }

  const halfExponent = exponent - 127 + 15;
  if (halfExponent >= 31) return sign | 0x7c00;

  if (halfExponent >= 1) {
    // Normal half: drop 13 mantissa bits with round-to-nearest-even. A carry out of the
    // mantissa moves into the exponent, and from the largest exponent to Infinity, as it should.
    const dropped = mantissa & 0x1fff;
    let half = (halfExponent << 10) | (mantissa >>> 13);
    if (dropped > 0x1000 || (dropped === 0x1000 && (half & 1) === 1)) half++;
    return sign | half;
  }

  // Below 2^-14 the result is subnormal (k * 2^-24) or zero. Values under 2^-25 always round to
  // zero; 2^-25 itself is a tie that goes to the even neighbour, zero.
  if (halfExponent < -10) return sign;
  const significand = mantissa | 0x800000; // 24 bits with the implicit one
  const shift = 14 - halfExponent; // 14 .. 24
  let half = significand >>> shift;
  const dropped = significand & ((1 << shift) - 1);
  const halfway = 1 << (shift - 1);
  if (dropped > halfway || (dropped === halfway && (half & 1) === 1)) half++;
  return sign | half;
}

/** One float16 bit pattern -> its exact float32 bit pattern. */
export function float16BitsToFloat32Bits(f16: number): number {
  const sign = (f16 & 0x8000) << 16;
  const exponent = (f16 >>> 10) & 0x1f;
  let mantissa = f16 & 0x3ff;

  if (exponent === 0x1f) return (sign | 0x7f800000 | (mantissa << 13)) >>> 0;
  if (exponent !== 0) return (sign | ((exponent + 112) << 23) | (mantissa << 13)) >>> 0;
  if (mantissa === 0) return sign >>> 0;
  // Subnormal half: normalise so the value becomes a normal float32.
  let f32Exponent = 113; // 2^-14, the exponent of the smallest normal half
  while ((mantissa & 0x400) === 0) {
    mantissa <<= 1;
    f32Exponent--;
  }
  return (sign | (f32Exponent << 23) | ((mantissa & 0x3ff) << 13)) >>> 0;
}
