/**
 * The numpy and torch operations the diffusers schedulers are built from, with the exact rounding
 * each one has, so that tables come out bit for bit:
 * - torch float32 tensor ops: one IEEE float32 rounding per operation (Math.fround);
 * - torch.linspace(float32) on CPU: one rounding per element (fused multiply-add), the second half
 *   counted back from the end;
 * - torch.cumprod(float32): float64 accumulator, each output rounded to float32;
 * - numpy: float64 throughout, np.round half to even, np.interp and float np.arange as numpy computes them.
 */

import { fma32 } from "../noise/fma32.js";

const fl = Math.fround;

/** numpy's round: to nearest, halves to even. */
export function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return r - x === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/**
 * torch.linspace(start, end, n, dtype=float32) on CPU. step = (end - start)/(n - 1) in float32;
 * element i is start + step*i below n/2 and end - step*(n-1-i) above, each one fused multiply-add.
 */
export function torchLinspaceFloat32(start: number, end: number, n: number): Float32Array {
  const out = new Float32Array(n);
  const s = fl(start);
  const e = fl(end);
  if (n === 1) {
    out[0] = s;
    return out;
  }
  const step = fl(fl(e - s) / (n - 1));
  const half = Math.floor(n / 2);
  for (let i = 0; i < n; i++) out[i] = i < half ? fma32(step, i, s) : fma32(-step, n - 1 - i, e);
  return out;
}

/** torch.cumprod on a float32 tensor: float64 running product, float32 outputs. */
export function cumprodFloat32(values: Float32Array): Float32Array {
  const out = new Float32Array(values.length);
  let product = 1;
  for (let i = 0; i < values.length; i++) {
    product *= values[i]!;
    out[i] = product;
  }
  return out;
}

/** np.linspace(start, stop, n) in float64: start + i*step, the last element exactly stop. */
export function numpyLinspace(start: number, stop: number, n: number): Float64Array {
  const out = new Float64Array(n);
  if (n === 1) {
    out[0] = start;
    return out;
  }
  const step = (stop - start) / (n - 1);
  for (let i = 0; i < n; i++) out[i] = i * step + start;
  out[n - 1] = stop;
  return out;
}

/** np.linspace(start, stop, n, endpoint=False) in float64: start + i*((stop - start)/n). */
export function numpyLinspaceOpen(start: number, stop: number, n: number): Float64Array {
  const out = new Float64Array(n);
  const step = (stop - start) / n;
  for (let i = 0; i < n; i++) out[i] = i * step + start;
  return out;
}

/**
 * np.arange(start, stop, step) for float arguments: ceil((stop - start)/step) elements, element i
 * = start + i*delta with delta = (start + step) - start, as numpy fills it.
 */
export function numpyArange(start: number, stop: number, step: number): Float64Array {
  const length = Math.max(0, Math.ceil((stop - start) / step));
  const out = new Float64Array(length);
  const delta = start + step - start;
  for (let i = 0; i < length; i++) out[i] = start + i * delta;
  return out;
}

/** np.interp(x, [0, 1, ..., n-1], table) for one x, in float64. */
export function interpIndexTable(x: number, table: ArrayLike<number>): number {
  const last = table.length - 1;
  if (Number.isNaN(x)) return x;
  if (x < 0) return table[0]!;
  if (x >= last) return table[last]!;
  const j = Math.floor(x);
  if (j === x) return table[j]!;
  const slope = table[j + 1]! - table[j]!;
  return slope * (x - j) + table[j]!;
}

/** DDPM's add_noise: out = a·clean + s·noise in float32, each product rounded as torch rounds it. */
export function addScaledNoise(
  clean: Float32Array,
  noise: Float32Array,
  a: number,
  s: number,
  out: Float32Array,
): void {
  for (let i = 0; i < clean.length; i++) out[i] = fl(a * clean[i]!) + fl(s * noise[i]!);
}

/**
 * The clean-latent estimate as `sample·k + output·k'` for a prediction type at signal scale `a`
 * and noise scale `s` (x_t = a·x0 + s·ε): what a latent preview needs.
 */
export function cleanEstimateCoefficients(
  prediction: string | undefined,
  a: number,
  s: number,
): { sample: number; eps: number } {
  if (prediction === "epsilon") return { sample: 1 / a, eps: -s / a };
  if (prediction === "v_prediction") return { sample: a, eps: -s };
  return { sample: 0, eps: 1 };
}
