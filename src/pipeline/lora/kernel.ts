/**
 * The merge product on onnxruntime's CPU matrix multiply (multithreaded, vectorised): the same
 * float32 W + factor·up·down as math.ts, but a rank-32 LoRA over every attention and feed-forward
 * layer of the SDXL UNet (≈ 70 G multiply-adds) takes seconds instead of minutes. Two one-node
 * Gemm graphs, built here, cover both stored layouts:
 * - [out, in, …]:  W + (factor·up)[out, r] · down[r, cols]            (Gemm, beta = 1)
 * - [in, out]:     W + down[r, in]ᵀ · (factor·up)[out, r]ᵀ          (Gemm, transA = transB = 1)
 */
import onnxProto from "onnx-proto";
import * as ort from "onnxruntime-node";
import type { LoraProduct } from "./math.js";
import type { WeightLayout } from "./targets.js";

const { onnx } = onnxProto;
const FLOAT = onnx.TensorProto.DataType.FLOAT;

function gemmModel(transposed: boolean): Uint8Array {
  const input = (name: string, dims: string[]) => ({
    name,
    type: { tensorType: { elemType: FLOAT, shape: { dim: dims.map((d) => ({ dimParam: d })) } } },
  });
  const [a, b, c] = transposed
    ? [input("a", ["r", "rows"]), input("b", ["cols", "r"]), input("c", ["rows", "cols"])]
    : [input("a", ["rows", "r"]), input("b", ["r", "cols"]), input("c", ["rows", "cols"])];
  const int = (name: string, i: number) => ({ name, type: onnx.AttributeProto.AttributeType.INT, i });
  return onnx.ModelProto.encode({
    irVersion: 8,
    opsetImport: [{ domain: "", version: 17 }],
    producerName: "easel-lora-merge",
    graph: {
      name: "lora_product",
      node: [
        {
          opType: "Gemm",
          name: "lora_product",
          input: ["a", "b", "c"],
          output: ["y"],
          attribute: transposed ? [int("transA", 1), int("transB", 1)] : [],
        },
      ],
      input: [a, b, c],
      output: [input("y", ["rows", "cols"])],
    },
  }).finish();
}

/** Gemm sessions for both layouts, created on first use; release() when the merge is done. */
export class LoraProductKernel {
  private sessions: Promise<[ort.InferenceSession, ort.InferenceSession]> | undefined;

  private ready(): Promise<[ort.InferenceSession, ort.InferenceSession]> {
    this.sessions ??= Promise.all([
      ort.InferenceSession.create(gemmModel(false)),
      ort.InferenceSession.create(gemmModel(true)),
    ]);
    return this.sessions;
  }

  /** W + factor·up·down in `layout`, as a new array (W is left as it was). */
  async add(weight: Float32Array, layout: WeightLayout, p: LoraProduct): Promise<Float32Array> {
    if (
      weight.length !== p.out * p.columns ||
      p.up.length !== p.out * p.rank ||
      p.down.length !== p.rank * p.columns
    ) {
      throw new RangeError(
        `LoRA factors [${p.out}, ${p.rank}]·[${p.rank}, ${p.columns}] do not fit a weight of ${weight.length}`,
      );
    }
    const [plain, transposed] = await this.ready();
    const scaledUp = new Float32Array(p.up.length);
    const f = Math.fround(p.factor);
    for (let i = 0; i < scaledUp.length; i++) scaledUp[i] = p.up[i]! * f;
    const up = new ort.Tensor("float32", scaledUp, [p.out, p.rank]);
    const down = new ort.Tensor("float32", p.down, [p.rank, p.columns]);
    const feeds =
      layout === "out-in"
        ? { a: up, b: down, c: new ort.Tensor("float32", weight, [p.out, p.columns]) }
        : { a: down, b: up, c: new ort.Tensor("float32", weight, [p.columns, p.out]) };
    const { y } = await (layout === "out-in" ? plain : transposed).run(feeds);
    return y!.data as Float32Array;
  }

  async release(): Promise<void> {
    const sessions = this.sessions;
    this.sessions = undefined;
    if (sessions) await Promise.all((await sessions).map((s) => s.release()));
  }
}
