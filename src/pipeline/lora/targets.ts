/**
 * Where LoRA-able weights are in an exported ONNX graph. The PyTorch exporter keeps module paths
 * in node names ("/down_blocks.1/attentions.0/transformer_blocks.0/attn1/to_q/MatMul") while it
 * folds and renames the weights, so a module is found by its node and the weight through the
 * node's inputs: a MatMul's second input ([in, out], the Linear weight transposed), a Gemm's
 * (transB=1: [out, in]; transB=0: [in, out]), a Conv's ([out, in, kh, kw]). A Cast between an
 * initializer and its node (float16 storage computed in float32) is followed, and so is the
 * Transpose of older exports that keep a MatMul's weight as the Linear's own [out, in].
 */
import onnxProto, { type onnx as OnnxTypes } from "onnx-proto";

const { onnx } = onnxProto;
const DataType = onnx.TensorProto.DataType;

export type WeightLayout = "in-out" | "out-in";

export interface WeightTarget {
  /** The module path, e.g. "down_blocks.1.attentions.0.transformer_blocks.0.attn1.to_q". */
  module: string;
  op: "MatMul" | "Gemm" | "Conv";
  /** The initializer holding the weight. */
  initializer: string;
  /** How the module's [out, in, …] weight is stored: transposed ([in, out]) or as is. */
  layout: WeightLayout;
  dims: number[];
  dataType: "float32" | "float16";
}

export interface ModelTargets {
  /** By module name flattened as kohya flattens it ("." → "_"). */
  byFlatName: Map<string, WeightTarget>;
  /** ResNet blocks per down level (diffusers' layers_per_block), for SGM names; 2 if unknown. */
  layersPerBlock: number;
  /** Nodes where onnxruntime's optimiser packed Q/K/V (or K/V) into one weight. */
  packedAttention: string[];
  /** Cross-attention context width (attn2.to_k's input), when the graph has one. */
  contextWidth: number | undefined;
}

const LORA_OPS = new Set(["MatMul", "Gemm", "Conv"]);
/** onnxruntime's fused attention operators, which take packed Q/K/V weights. */
const FUSED_ATTENTION = new Set([
  "Attention",
  "MultiHeadAttention",
  "PackedAttention",
  "PackedMultiHeadAttention",
]);

/** "/a/b.0/c/MatMul_1" → "a.b.0.c"; undefined for names that carry no module path. */
export function moduleOfNodeName(name: string, op: string): string | undefined {
  if (!name.startsWith("/")) return undefined;
  const segments = name.slice(1).split("/");
  const last = segments.pop();
  if (segments.length === 0 || last === undefined || !new RegExp(`^${op}(_\\d+)?$`).test(last))
    return undefined;
  return segments.join(".");
}

function dimsOf(tensor: OnnxTypes.ITensorProto): number[] {
  return (tensor.dims ?? []).map((d) => Number(d));
}

/** Indexes the graph's LoRA-able weights (pure over the decoded model). */
export function indexWeightTargets(model: OnnxTypes.IModelProto): ModelTargets {
  const graph = model.graph ?? {};
  const initializers = new Map<string, OnnxTypes.ITensorProto>();
  for (const tensor of graph.initializer ?? []) if (tensor.name) initializers.set(tensor.name, tensor);
  // A weight may reach its node through a Cast (float16 storage computed in float32) or, in older
  // exports, a Transpose of the Linear's own [out, in] weight.
  const castOf = new Map<string, string>();
  const transposeOf = new Map<string, string>();
  for (const node of graph.node ?? []) {
    const [input, output] = [node.input?.[0], node.output?.[0]];
    if (!input || !output) continue;
    if (node.opType === "Cast") castOf.set(output, input);
    if (node.opType === "Transpose") transposeOf.set(output, input);
  }
  const byFlatName = new Map<string, WeightTarget>();
  const packedAttention: string[] = [];
  const resnetsOfFirstLevel = new Set<string>();
  for (const node of graph.node ?? []) {
    const op = node.opType ?? "";
    const name = node.name ?? "";
    if (
      (node.domain === "com.microsoft" && FUSED_ATTENTION.has(op)) ||
      (op === "MatMul" && /(^|[/_])MatMul_Q?KV/.test(name))
    ) {
      packedAttention.push(name || op);
      continue;
    }
    if (!LORA_OPS.has(op)) continue;
    const module = moduleOfNodeName(name, op);
    if (!module) continue;
    const resnet = /^down_blocks\.0\.resnets\.(\d+)\./.exec(module);
    if (resnet) resnetsOfFirstLevel.add(resnet[1]!);
    let input = node.input?.[1];
    let transposed = false;
    if (input && op === "MatMul" && transposeOf.has(input)) {
      input = transposeOf.get(input);
      transposed = true;
    }
    if (input && !initializers.has(input)) input = castOf.get(input);
    const tensor = input ? initializers.get(input) : undefined;
    if (!tensor || (tensor.dataType !== DataType.FLOAT && tensor.dataType !== DataType.FLOAT16)) continue;
    const dims = dimsOf(tensor);
    const transB = node.attribute?.find((a) => a.name === "transB")?.i;
    const layout: WeightLayout =
      op === "Conv" || transposed || (op === "Gemm" && Number(transB ?? 0) === 1) ? "out-in" : "in-out";
    if (op !== "Conv" && dims.length !== 2) continue;
    const flat = module.replace(/\./g, "_");
    if (byFlatName.has(flat)) continue;
    byFlatName.set(flat, {
      module,
      op: op as WeightTarget["op"],
      initializer: tensor.name!,
      layout,
      dims,
      dataType: tensor.dataType === DataType.FLOAT ? "float32" : "float16",
    });
  }
  let contextWidth: number | undefined;
  for (const target of byFlatName.values()) {
    if (/\.attn2\.to_k$/.test(target.module)) {
      contextWidth = target.layout === "in-out" ? target.dims[0] : target.dims[1];
      break;
    }
  }
  return {
    byFlatName,
    layersPerBlock: resnetsOfFirstLevel.size || 2,
    packedAttention,
    contextWidth,
  };
}

/** The module's weight shape as PyTorch holds it: [out, in] or [out, in, kh, kw]. */
export function moduleShape(target: WeightTarget): number[] {
  return target.layout === "in-out" ? [target.dims[1]!, target.dims[0]!] : target.dims;
}
