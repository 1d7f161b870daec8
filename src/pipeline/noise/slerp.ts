/**
 * Variation seeds: blend an image's noise towards a second seed's noise along the great circle
 * between them, so the blend keeps the norm (and so the "noisiness") of a pure sample.
 */
import { InvalidInputError } from "../../errors.js";

/** Above this normalised dot product the two noises are treated as parallel and mixed linearly. */
const PARALLEL_DOT = 0.9995;

/**
 * Spherical interpolation from `a` (t = 0) to `b` (t = 1), norms taken over the whole arrays.
 * t = 0 and t = 1 return exact copies. `out` may be `a` or `b`.
 */
export function slerpNoise(a: Float32Array, b: Float32Array, t: number, out?: Float32Array): Float32Array {
  if (a.length !== b.length) {
    throw new InvalidInputError(`Cannot blend noises of ${a.length} and ${b.length} values.`, "variation");
  }
  if (!Number.isFinite(t) || t < 0 || t > 1) {
    throw new InvalidInputError(`Variation strength must be between 0 and 1, got ${t}.`, "strength");
  }
  const target = out ?? new Float32Array(a.length);
  if (target.length !== a.length) {
    throw new InvalidInputError(`Blend output holds ${target.length} values, expected ${a.length}.`, "out");
  }
  if (t === 0 || t === 1) {
    const source = t === 0 ? a : b;
    if (target !== source) target.set(source);
    return target;
  }

  let dot = 0;
  let normA = 0;
  let normB = 0;
  for (let i = 0; i < a.length; i++) {
    const x = a[i]!;
    const y = b[i]!;
    dot += x * y;
    normA += x * x;
    normB += y * y;
  }
  const cosine = normA > 0 && normB > 0 ? dot / Math.sqrt(normA * normB) : 1;

  let weightA: number;
  let weightB: number;
  if (cosine > PARALLEL_DOT) {
    weightA = 1 - t;
    weightB = t;
  } else {
    const omega = Math.acos(Math.max(-1, cosine));
    const sinOmega = Math.sin(omega);
    weightA = Math.sin((1 - t) * omega) / sinOmega;
    weightB = Math.sin(t * omega) / sinOmega;
  }
  for (let i = 0; i < a.length; i++) target[i] = weightA * a[i]! + weightB * b[i]!;
  return target;
}
