/**
 * The float16 rewrite of one ONNX graph, the way established converters do it (onnxconverter-
 * common's convert_float_to_float16, onnxruntime's float16 tool): float initializers and Constant
 * values become float16, Cast targets follow, and the element types of the graph's inputs,
 * outputs and value_info are updated. A short list of operators stays float32 (see
 * FLOAT32_OPERATORS), with Casts inserted where float16 and float32 values meet.
 *
 * Types are followed through the graph in one pass (ONNX graphs are topologically sorted): a
 * value's element type is its producer's, which for almost every operator is the type of its
 * first floating input. Only the tensor data of inline initializers is converted here; external
 * tensors are named in the result and converted by the caller, streaming.
 */
import onnxProto, { type onnx as OnnxTypes } from "onnx-proto";
import { float32BytesToFloat16Bytes, numbersToFloat16Bytes } from "./float16-weights.js";

const { onnx } = onnxProto;
const DataType = onnx.TensorProto.DataType;
const FLOAT = DataType.FLOAT;
const FLOAT16 = DataType.FLOAT16;

/**
 * Operators kept in float32, and why:
 * - Sin, Cos: the timestep and micro-conditioning embeddings take phases up to ~1000 radians,
 *   where float16's spacing is 0.5 — the sinusoids would be noise (diffusers computes them in
 *   float32 for this reason).
 * - Exp: overflows float16 past e^11; exporters use it for the embeddings' frequencies.
 * - Range, CumSum: index arithmetic, not exact in float16 past 2048.
 * - ArgMax, ArgMin: exports that pool CLIP at argmax(ids cast to float) would see EOS (49407)
 *   and BOS (49406) as equal in float16, whose spacing there is 32.
 * The elementwise and shape operators that only feed these stay float32 with them (the
 * timestep's Reshape and its multiplication by the frequencies), so the whole embedding is
 * computed in float32 and cast to float16 once, at its first float16 consumer.
 */
export const FLOAT32_OPERATORS: readonly string[] = [
  "Sin",
  "Cos",
  "Exp",
  "Range",
  "CumSum",
  "ArgMax",
  "ArgMin",
];

/** Operators that follow their consumers into float32 when every consumer is kept in float32. */
const FOLLOWERS = new Set([
  "Mul",
  "Div",
  "Add",
  "Sub",
  "Neg",
  "Reshape",
  "Unsqueeze",
  "Squeeze",
  "Flatten",
  "Expand",
  "Transpose",
  "Slice",
  "Gather",
  "Cast",
  "Identity",
]);

/** Inputs that ONNX fixes to float32 whatever the data's type (Resize's roi and scales). */
const FLOAT32_INPUTS: Record<string, readonly number[]> = { Resize: [1, 2], Upsample: [1] };

/** Operators whose inputs may be of any type: they never need a Cast in front. */
const ANY_INPUT = new Set(["Cast", "Shape", "Size", "CastLike"]);

const INT64_OUTPUT = new Set(["Shape", "Size", "NonZero", "ArgMax", "ArgMin", "NonMaxSuppression"]);
const BOOL_OUTPUT = new Set([
  "Equal",
  "Less",
  "Greater",
  "LessOrEqual",
  "GreaterOrEqual",
  "Not",
  "And",
  "Or",
  "Xor",
  "IsNaN",
  "IsInf",
]);

export type IoType = "float32" | "float16";

export interface Float16GraphOptions {
  /** The element type of the graph's float inputs and outputs ("float32": keep-IO mode, with Casts). */
  io: IoType;
}

export interface Float16GraphResult {
  /** External initializers whose data must be converted from float32 to float16. */
  externalToConvert: Set<string>;
  /** Nodes kept in float32, by operator (for the conversion record). */
  float32Nodes: Record<string, number>;
  /** Casts the rewrite inserted. */
  castsAdded: number;
}

/** A graph the rewrite cannot handle (control flow with subgraphs). */
export class UnsupportedGraphError extends Error {}

function attribute(node: OnnxTypes.INodeProto, name: string): OnnxTypes.IAttributeProto | undefined {
  return node.attribute?.find((a) => a.name === name);
}

function isExternal(tensor: OnnxTypes.ITensorProto): boolean {
  return tensor.dataLocation === onnx.TensorProto.DataLocation.EXTERNAL;
}

/** Converts an inline float32 tensor's data to float16 in place (external data is the caller's). */
function convertInlineTensor(tensor: OnnxTypes.ITensorProto): void {
  if (tensor.dataType !== FLOAT) return;
  if (!isExternal(tensor)) {
    if (tensor.rawData && tensor.rawData.length > 0)
      tensor.rawData = float32BytesToFloat16Bytes(tensor.rawData);
    else tensor.rawData = numbersToFloat16Bytes(tensor.floatData ?? []);
    tensor.floatData = [];
  }
  tensor.dataType = FLOAT16;
}

function floatTensorAttribute(node: OnnxTypes.INodeProto): OnnxTypes.ITensorProto | undefined {
  return attribute(node, "value")?.t ?? undefined;
}

/** Constant's value_float / value_floats become a float16 `value` tensor. */
function convertConstant(node: OnnxTypes.INodeProto): void {
  const tensor = floatTensorAttribute(node);
  if (tensor) {
    convertInlineTensor(tensor);
    return;
  }
  const scalar = attribute(node, "value_float");
  const list = attribute(node, "value_floats");
  if (!scalar && !list) return;
  const values = scalar ? [scalar.f ?? 0] : (list?.floats ?? []);
  const dims = scalar ? [] : [values.length];
  node.attribute = [
    {
      name: "value",
      type: onnx.AttributeProto.AttributeType.TENSOR,
      t: { dataType: FLOAT16, dims, rawData: numbersToFloat16Bytes(values) },
    },
  ];
}

function outputTypes(node: OnnxTypes.INodeProto, inputTypes: (number | undefined)[]): (number | undefined)[] {
  const op = node.opType ?? "";
  const n = node.output?.length ?? 0;
  const all = (type: number | undefined) => Array.from({ length: n }, () => type);
  if (INT64_OUTPUT.has(op)) return all(DataType.INT64);
  if (BOOL_OUTPUT.has(op)) return all(DataType.BOOL);
  switch (op) {
    case "Cast":
      return all(Number(attribute(node, "to")?.i ?? 0));
    case "CastLike":
      return all(inputTypes[1]);
    case "Constant": {
      const tensor = floatTensorAttribute(node);
      if (tensor) return all(tensor.dataType ?? undefined);
      if (attribute(node, "value_float") || attribute(node, "value_floats")) return all(FLOAT);
      if (attribute(node, "value_int") || attribute(node, "value_ints")) return all(DataType.INT64);
      return all(undefined);
    }
    case "ConstantOfShape":
      return all(floatTensorAttribute(node)?.dataType ?? FLOAT);
    case "TopK":
      return [inputTypes[0], DataType.INT64];
  }
  const floating = inputTypes.find((t) => t === FLOAT || t === FLOAT16);
  return all(floating ?? inputTypes[0]);
}

function hasSubgraph(node: OnnxTypes.INodeProto): boolean {
  return (node.attribute ?? []).some((a) => a.g || (a.graphs && a.graphs.length > 0));
}

/** Which nodes stay float32: the listed operators, then (backwards) the followers that only feed them. */
function float32NodeSet(graph: OnnxTypes.IGraphProto): Set<number> {
  const nodes = graph.node ?? [];
  const consumers = new Map<string, number[]>();
  nodes.forEach((node, i) => {
    for (const input of node.input ?? []) {
      if (!input) continue;
      const list = consumers.get(input) ?? [];
      list.push(i);
      consumers.set(input, list);
    }
  });
  const graphOutputs = new Set((graph.output ?? []).map((o) => o.name ?? ""));
  const kept = new Set<number>();
  nodes.forEach((node, i) => {
    if (FLOAT32_OPERATORS.includes(node.opType ?? "")) kept.add(i);
  });
  for (let i = nodes.length - 1; i >= 0; i--) {
    const node = nodes[i]!;
    if (kept.has(i) || !FOLLOWERS.has(node.opType ?? "")) continue;
    const outputs = node.output ?? [];
    const users = outputs.flatMap((o) => consumers.get(o) ?? []);
    if (users.length === 0 || outputs.some((o) => graphOutputs.has(o))) continue;
    if (users.every((user) => kept.has(user))) kept.add(i);
  }
  return kept;
}

/**
 * Rewrites `model`'s main graph to float16 in place. Throws UnsupportedGraphError for graphs
 * with subgraphs (If/Loop/Scan), which SDXL's exports do not have.
 */
export function convertGraphToFloat16(
  model: OnnxTypes.IModelProto,
  options: Float16GraphOptions,
): Float16GraphResult {
  const graph = model.graph;
  if (!graph) throw new UnsupportedGraphError("the model has no graph");
  const nodes = graph.node ?? [];
  const bad = nodes.find(hasSubgraph);
  if (bad)
    throw new UnsupportedGraphError(
      `node ${bad.name || bad.opType} has a subgraph (${bad.opType}), which is not converted`,
    );

  const kept = float32NodeSet(graph);
  const ioType = options.io === "float16" ? FLOAT16 : FLOAT;
  const types = new Map<string, number>();

  // Initializers: float16 unless every use wants float32 (a kept node or a fixed float32 input).
  const wantsFloat32 = new Map<string, boolean>();
  nodes.forEach((node, i) => {
    const fixed = FLOAT32_INPUTS[node.opType ?? ""] ?? [];
    (node.input ?? []).forEach((input, j) => {
      if (!input) return;
      const float32Use = kept.has(i) || fixed.includes(j);
      wantsFloat32.set(input, (wantsFloat32.get(input) ?? true) && float32Use);
    });
  });
  const externalToConvert = new Set<string>();
  for (const tensor of graph.initializer ?? []) {
    const name = tensor.name ?? "";
    if (tensor.dataType === FLOAT && !wantsFloat32.get(name)) {
      if (isExternal(tensor)) {
        externalToConvert.add(name);
        tensor.dataType = FLOAT16;
      } else convertInlineTensor(tensor);
    }
    if (tensor.dataType !== null && tensor.dataType !== undefined) types.set(name, tensor.dataType);
  }
  for (const input of graph.input ?? []) {
    const tensorType = input.type?.tensorType;
    if (!tensorType) continue;
    // Older exports (IR < 4) also list initializers as inputs: those follow their initializer.
    const initializerType = types.get(input.name ?? "");
    if (initializerType !== undefined) {
      tensorType.elemType = initializerType;
      continue;
    }
    if (tensorType.elemType === FLOAT) tensorType.elemType = ioType;
    if (tensorType.elemType !== null && tensorType.elemType !== undefined)
      types.set(input.name ?? "", tensorType.elemType);
  }

  const rewritten: OnnxTypes.INodeProto[] = [];
  const casts = new Map<string, string>();
  const castTo = (name: string, to: number): string => {
    const key = `${name}\u0000${to}`;
    const cached = casts.get(key);
    if (cached) return cached;
    const cast = `${name}/cast_to_${to === FLOAT16 ? "fp16" : "fp32"}`;
    rewritten.push({
      opType: "Cast",
      name: cast,
      input: [name],
      output: [cast],
      attribute: [{ name: "to", type: onnx.AttributeProto.AttributeType.INT, i: to }],
    });
    types.set(cast, to);
    casts.set(key, cast);
    return cast;
  };

  const float32Nodes: Record<string, number> = {};
  nodes.forEach((node, i) => {
    const op = node.opType ?? "";
    const keep = kept.has(i);
    if (keep) float32Nodes[op] = (float32Nodes[op] ?? 0) + 1;
    if (!keep && (!node.domain || node.domain === "ai.onnx")) {
      if (op === "Constant") convertConstant(node);
      else if (op === "ConstantOfShape") {
        const value = floatTensorAttribute(node);
        if (value) convertInlineTensor(value);
        else {
          node.attribute = [
            ...(node.attribute ?? []),
            {
              name: "value",
              type: onnx.AttributeProto.AttributeType.TENSOR,
              t: { dataType: FLOAT16, dims: [1], rawData: new Uint8Array(2) },
            },
          ];
        }
      } else if (op === "Cast") {
        const to = attribute(node, "to");
        if (to && Number(to.i) === FLOAT) to.i = FLOAT16;
      }
    }
    if (!ANY_INPUT.has(op)) {
      const fixed = FLOAT32_INPUTS[op] ?? [];
      node.input = (node.input ?? []).map((input, j) => {
        if (!input) return input;
        const type = types.get(input);
        const want = keep || fixed.includes(j) ? FLOAT : FLOAT16;
        const other = want === FLOAT ? FLOAT16 : FLOAT;
        return type === other ? castTo(input, want) : input;
      });
    }
    rewritten.push(node);
    const produced = outputTypes(
      node,
      (node.input ?? []).map((input) => types.get(input)),
    );
    (node.output ?? []).forEach((output, j) => {
      const type = produced[j];
      if (output && type !== undefined) types.set(output, type);
    });
  });

  // Graph outputs in the chosen I/O type: the producer writes a renamed value, a Cast the output.
  for (const output of graph.output ?? []) {
    const name = output.name ?? "";
    const tensorType = output.type?.tensorType;
    if (!tensorType || (tensorType.elemType !== FLOAT && tensorType.elemType !== FLOAT16)) continue;
    const actual = types.get(name);
    tensorType.elemType = ioType;
    if (actual === undefined || actual === ioType || (actual !== FLOAT && actual !== FLOAT16)) continue;
    const inner = `${name}/${actual === FLOAT16 ? "fp16" : "fp32"}`;
    for (const node of rewritten) {
      node.output = (node.output ?? []).map((o) => (o === name ? inner : o));
      node.input = (node.input ?? []).map((o) => (o === name ? inner : o));
    }
    rewritten.push({
      opType: "Cast",
      name: `${name}/cast_to_${ioType === FLOAT16 ? "fp16" : "fp32"}`,
      input: [inner],
      output: [name],
      attribute: [{ name: "to", type: onnx.AttributeProto.AttributeType.INT, i: ioType }],
    });
    casts.set(`${name}\u0000output`, name);
  }

  // value_info: the type we followed, or no entry (onnxruntime infers what is missing).
  graph.valueInfo = (graph.valueInfo ?? []).filter((info) => {
    const tensorType = info.type?.tensorType;
    if (!tensorType || (tensorType.elemType !== FLOAT && tensorType.elemType !== FLOAT16)) return true;
    const type = types.get(info.name ?? "");
    if (type === undefined) return false;
    tensorType.elemType = type;
    return true;
  });
  graph.node = rewritten;
  return { externalToConvert, float32Nodes, castsAdded: casts.size };
}
