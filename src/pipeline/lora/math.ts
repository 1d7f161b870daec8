/**
 * The merge arithmetic as a plain reference in float32 over typed arrays (merges run the same sum
 * on onnxruntime, kernel.ts; the tests hold both to independently computed values):
 * W' = W + (alpha / rank) · scale · up · down,
 * with up [out, rank] and down [rank, in·kh·kw] (a Conv LoRA's factors flattened the same way:
 * down [rank, in, kh, kw], up [out, rank, 1, 1]). The weight is updated in place in its stored
 * layout: as is ([out, in, …]) or transposed ([in, out], the exporter's MatMul weight). Neither
 * form builds ΔW as a separate matrix: each row of W takes rank scaled rows of one factor.
 */
import type { WeightLayout } from "./targets.js";

/** The factor a LoRA's product is multiplied by. */
export function loraFactor(alpha: number, rank: number, scale: number): number {
  return (alpha / rank) * scale;
}

export interface LoraProduct {
  /** [out, rank] */
  up: Float32Array;
  /** [rank, columns], columns = in·kh·kw */
  down: Float32Array;
  out: number;
  rank: number;
  columns: number;
  factor: number;
}

/** weight += factor · up · down, in `layout` (weight has out·columns values). */
export function addLoraProduct(weight: Float32Array, layout: WeightLayout, p: LoraProduct): void {
  const { up, down, out, rank, columns, factor } = p;
  if (weight.length !== out * columns || up.length !== out * rank || down.length !== rank * columns) {
    throw new RangeError(
      `LoRA factors [${out}, ${rank}]·[${rank}, ${columns}] do not fit a weight of ${weight.length}`,
    );
  }
  const f = Math.fround(factor);
  if (layout === "out-in") {
    for (let o = 0; o < out; o++) {
      const row = o * columns;
      for (let r = 0; r < rank; r++) {
        const c = Math.fround(up[o * rank + r]! * f);
        if (c === 0) continue;
        const from = r * columns;
        for (let j = 0; j < columns; j++) weight[row + j] += c * down[from + j]!;
      }
    }
    return;
  }
  // [in, out]: row i of W takes Σ_r down[r, i] · up[:, r]; up is transposed once so rows are contiguous.
  const upT = new Float32Array(rank * out);
  for (let o = 0; o < out; o++) for (let r = 0; r < rank; r++) upT[r * out + o] = up[o * rank + r]!;
  for (let i = 0; i < columns; i++) {
    const row = i * out;
    for (let r = 0; r < rank; r++) {
      const c = Math.fround(down[r * columns + i]! * f);
      if (c === 0) continue;
      const from = r * out;
      for (let o = 0; o < out; o++) weight[row + o] += c * upT[from + o]!;
    }
  }
}
