/**
 * float32 weights -> float16 weights, the way established converters (onnxconverter-common,
 * onnxruntime's float16 tool) store them: round to nearest, ties to even, with finite values
 * past the largest half clamped to ±65504 instead of becoming ±Infinity (a weight of -3.4e38,
 * such as CLIP's causal-mask fill, must stay a huge negative number, not turn a sum into NaN).
 * Subnormal halves are rounded exactly (below 2^-25 a value becomes a zero of its sign); ±Infinity
 * stays infinite and NaN stays NaN.
 */
import { float32BitsToFloat16Bits } from "../onnx/float16.js";

/** The largest finite float16, 65504, as a bit pattern. */
export const FLOAT16_MAX_BITS = 0x7bff;

/** One float32 bit pattern -> its float16 weight bit pattern (clamped at ±65504). */
export function float32BitsToFloat16WeightBits(f32: number): number {
  const exponent = (f32 >>> 23) & 0xff;
  const half = float32BitsToFloat16Bits(f32);
  // Finite input that rounded to Infinity: clamp to the largest finite half of the same sign.
  if (exponent !== 0xff && (half & 0x7fff) === 0x7c00) return (half & 0x8000) | FLOAT16_MAX_BITS;
  return half;
}

/** float32 values (as raw little-endian bit patterns) -> float16 weight bit patterns in `out`. */
export function float32ToFloat16Weights(bits: Uint32Array, out: Uint16Array): Uint16Array {
  if (out.length < bits.length) throw new RangeError(`out holds ${out.length} values; ${bits.length} needed`);
  for (let i = 0; i < bits.length; i++) out[i] = float32BitsToFloat16WeightBits(bits[i]!);
  return out;
}

/** Little-endian float32 bytes -> little-endian float16 bytes (a fresh, aligned buffer). */
export function float32BytesToFloat16Bytes(bytes: Uint8Array): Uint8Array {
  if (bytes.byteLength % 4 !== 0)
    throw new RangeError(`${bytes.byteLength} bytes is not a whole number of float32s`);
  // Copy into an aligned buffer: protobuf fields and file reads may start at any offset.
  const aligned = new Uint32Array(bytes.byteLength / 4);
  new Uint8Array(aligned.buffer).set(bytes);
  const halves = float32ToFloat16Weights(aligned, new Uint16Array(aligned.length));
  return new Uint8Array(halves.buffer);
}

/** Plain numbers (a tensor's float_data) -> little-endian float16 bytes. */
export function numbersToFloat16Bytes(values: ArrayLike<number>): Uint8Array {
  const floats = Float32Array.from(values);
  return float32BytesToFloat16Bytes(new Uint8Array(floats.buffer));
}
