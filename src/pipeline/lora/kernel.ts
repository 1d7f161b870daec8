/**
 * The merge product on onnxruntime's CPU kernels (multithreaded, vectorised): the same
 * W + Σ factor·up·down as math.ts, in float32, but a rank-32 LoRA over every attention and
 * feed-forward layer of the SDXL UNet (≈ 70 G multiply-adds) takes seconds instead of minutes.
 * Several LoRAs on one weight are one product: their scaled up factors side by side and their down
 * factors stacked, so the sum is formed in float32 and a float16 weight is rounded once. Graphs,
 * built here, for each stored layout and element type:
 * - [out, in, …]:  W + UP[out, R] · DOWN[R, cols]          (Gemm, beta = 1)
 * - [in, out]:     W + DOWN[R, in]ᵀ · UP[out, R]ᵀ          (Gemm, transA = transB = 1)
 * float16 weights are cast to float32 before the Gemm and back after it, inside the graph.
 */
import onnxProto from "onnx-proto";
import * as ort from "onnxruntime-node";
import type { WeightLayout } from "./targets.js";

const { onnx } = onnxProto;
const { FLOAT, FLOAT16 } = onnx.TensorProto.DataType;

export type WeightType = "float32" | "float16";

/** One LoRA's part of a weight's update: up [out, rank], down [rank, columns], and its factor. */
export interface LoraTerm {
  up: Float32Array;
  down: Float32Array;
  rank: number;
  factor: number;
}

function productModel(transposed: boolean, type: WeightType): Uint8Array {
  const value = (name: string, elemType: number, dims: string[]) => ({
    name,
    type: { tensorType: { elemType, shape: { dim: dims.map((d) => ({ dimParam: d })) } } },
  });
  const weightType = type === "float32" ? FLOAT : FLOAT16;
  const [a, b] = transposed
    ? [value("a", FLOAT, ["r", "rows"]), value("b", FLOAT, ["cols", "r"])]
    : [value("a", FLOAT, ["rows", "r"]), value("b", FLOAT, ["r", "cols"])];
  const int = (name: string, i: number) => ({ name, type: onnx.AttributeProto.AttributeType.INT, i });
  const gemm = {
    opType: "Gemm",
    name: "lora_product",
    input: ["a", "b", type === "float32" ? "w" : "w32"],
    output: [type === "float32" ? "y" : "y32"],
    attribute: transposed ? [int("transA", 1), int("transB", 1)] : [],
  };
  const casts =
    type === "float32"
      ? []
      : [
          { opType: "Cast", name: "widen", input: ["w"], output: ["w32"], attribute: [int("to", FLOAT)] },
          { opType: "Cast", name: "narrow", input: ["y32"], output: ["y"], attribute: [int("to", FLOAT16)] },
        ];
  return onnx.ModelProto.encode({
    irVersion: 8,
    opsetImport: [{ domain: "", version: 17 }],
    producerName: "easel-lora-merge",
    graph: {
      name: "lora_product",
      node: type === "float32" ? [gemm] : [casts[0]!, gemm, casts[1]!],
      input: [a, b, value("w", weightType, ["rows", "cols"])],
      output: [value("y", weightType, ["rows", "cols"])],
    },
  }).finish();
}

/** W + Σ factor·up·down on onnxruntime; sessions are made on first use, release() frees them. */
export class LoraProductKernel {
  private readonly sessions = new Map<string, Promise<ort.InferenceSession>>();

  private session(layout: WeightLayout, type: WeightType): Promise<ort.InferenceSession> {
    const key = `${layout}:${type}`;
    let session = this.sessions.get(key);
    if (!session) {
      session = ort.InferenceSession.create(productModel(layout === "in-out", type));
      this.sessions.set(key, session);
    }
    return session;
  }

  /**
   * The weight (its stored bytes, `out`·`columns` values of `type` in `layout`) with every term
   * added, as new bytes of the same type.
   */
  async apply(
    weight: Uint8Array,
    type: WeightType,
    layout: WeightLayout,
    shape: { out: number; columns: number },
    terms: readonly LoraTerm[],
  ): Promise<Uint8Array> {
    const { out, columns } = shape;
    const rank = terms.reduce((sum, t) => sum + t.rank, 0);
    const bytesPerValue = type === "float32" ? 4 : 2;
    if (weight.byteLength !== out * columns * bytesPerValue) {
      throw new RangeError(`a weight of ${weight.byteLength} bytes is not [${out}, ${columns}] ${type}`);
    }
    // UP = [f1·up1 | f2·up2 | …] (out × R), DOWN = [down1; down2; …] (R × columns).
    const up = new Float32Array(out * rank);
    const down = new Float32Array(rank * columns);
    let at = 0;
    for (const term of terms) {
      if (term.up.length !== out * term.rank || term.down.length !== term.rank * columns) {
        throw new RangeError(`LoRA factors of rank ${term.rank} do not fit a [${out}, ${columns}] weight`);
      }
      const f = Math.fround(term.factor);
      for (let o = 0; o < out; o++) {
        for (let r = 0; r < term.rank; r++) up[o * rank + at + r] = term.up[o * term.rank + r]! * f;
      }
      down.set(term.down, at * columns);
      at += term.rank;
    }
    const copy = new Uint8Array(weight); // aligned, and the caller's bytes stay as they were
    const rows = layout === "out-in" ? out : columns;
    const cols = layout === "out-in" ? columns : out;
    const w =
      type === "float32"
        ? new ort.Tensor("float32", new Float32Array(copy.buffer), [rows, cols])
        : new ort.Tensor("float16", new Uint16Array(copy.buffer), [rows, cols]);
    const upTensor = new ort.Tensor("float32", up, [out, rank]);
    const downTensor = new ort.Tensor("float32", down, [rank, columns]);
    const feeds = layout === "out-in" ? { a: upTensor, b: downTensor, w } : { a: downTensor, b: upTensor, w };
    const { y } = await (await this.session(layout, type)).run(feeds);
    const data = y!.data as Float32Array | Uint16Array;
    return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  }

  async release(): Promise<void> {
    const sessions = [...this.sessions.values()];
    this.sessions.clear();
    await Promise.all(sessions.map(async (s) => (await s).release()));
  }
}
