/**
 * What an ONNX model's weights are, read from its protobuf without loading external data bytes:
 * the parameter count (elements of the floating-point initializers that hold more than one value:
 * the trained weights), the other constants apart (Constant nodes' values, scalars, integer
 * tensors such as shapes), the bytes all of them take, and the external data files the model
 * points to (with how many bytes each must hold, so a truncated `model.onnx_data` is found
 * without reading it).
 */
import { readFile, stat } from "node:fs/promises";
import { dirname, isAbsolute, join, normalize, sep } from "node:path";
import onnxProto, { type onnx as OnnxTypes } from "onnx-proto";
import { ModelFolderError } from "../../errors.js";

const { onnx } = onnxProto;
const DataType = onnx.TensorProto.DataType;

/** Bytes per element; 0 for types whose size is not fixed (strings). */
const ELEMENT_BYTES: Record<number, number> = {
  [DataType.FLOAT]: 4,
  [DataType.UINT8]: 1,
  [DataType.INT8]: 1,
  [DataType.UINT16]: 2,
  [DataType.INT16]: 2,
  [DataType.INT32]: 4,
  [DataType.INT64]: 8,
  [DataType.STRING]: 0,
  [DataType.BOOL]: 1,
  [DataType.FLOAT16]: 2,
  [DataType.DOUBLE]: 8,
  [DataType.UINT32]: 4,
  [DataType.UINT64]: 8,
  [DataType.COMPLEX64]: 8,
  [DataType.COMPLEX128]: 16,
  [DataType.BFLOAT16]: 2,
};

const FLOATING = new Set<number>([DataType.FLOAT, DataType.FLOAT16, DataType.BFLOAT16, DataType.DOUBLE]);

/** The ONNX element type names onnxruntime uses for tensor metadata. */
const TYPE_NAMES: Record<number, string> = {
  [DataType.FLOAT]: "float32",
  [DataType.FLOAT16]: "float16",
  [DataType.BFLOAT16]: "bfloat16",
  [DataType.DOUBLE]: "float64",
  [DataType.INT8]: "int8",
  [DataType.UINT8]: "uint8",
  [DataType.INT32]: "int32",
  [DataType.INT64]: "int64",
};

/** One external data file a model's tensors point into. */
export interface ExternalDataFile {
  /** The location as written in the model (relative to the model file). */
  location: string;
  path: string;
  /** The end of the furthest tensor stored in it: the file must hold at least this many bytes. */
  requiredBytes: number;
  /** Its size on disk, undefined when it is missing. */
  actualBytes: number | undefined;
}

export interface ModelWeights {
  /** Elements of the trained weights: floating-point initializers of more than one element. */
  parameters: number;
  /** Elements of every other constant: Constant nodes' values, scalars, integer tensors. */
  constants: number;
  /** Bytes of those other constants. */
  constantBytes: number;
  /** Bytes of all weights and constants, wherever they are stored. */
  bytes: number;
  /** Number of weight tensors. */
  tensors: number;
  /** Parameters per element type name (e.g. { float32: 2567463684 }). */
  parametersByType: Record<string, number>;
  external: ExternalDataFile[];
}

type Dim = number | { toString(): string };

function elementCount(dims: readonly Dim[] | null | undefined): number {
  let count = 1;
  for (const dim of dims ?? []) count *= typeof dim === "number" ? dim : Number(dim.toString());
  return count;
}

function externalEntry(tensor: OnnxTypes.ITensorProto, key: string): string | undefined {
  return tensor.externalData?.find((entry) => entry.key === key)?.value ?? undefined;
}

/** A location must stay beside the model: no absolute paths, no `..` out of its folder. */
function externalPath(modelPath: string, location: string): string {
  const relative = normalize(location);
  if (isAbsolute(relative) || relative === ".." || relative.startsWith(`..${sep}`)) {
    throw new ModelFolderError(modelPath, `points to external data outside its folder (${location})`);
  }
  return join(dirname(modelPath), relative);
}

/** Initializers of the main graph and the tensors of its Constant nodes (`constant: true`). */
function weightTensors(
  graph: OnnxTypes.IGraphProto,
): { tensor: OnnxTypes.ITensorProto; constant: boolean }[] {
  const tensors = (graph.initializer ?? []).map((tensor) => ({ tensor, constant: false }));
  for (const node of graph.node ?? []) {
    if (node.opType !== "Constant") continue;
    for (const attribute of node.attribute ?? [])
      if (attribute.t) tensors.push({ tensor: attribute.t, constant: true });
  }
  return tensors;
}

/** Reads the weights summary of the model at `modelPath` (external data is sized, never read). */
export async function readModelWeights(modelPath: string): Promise<ModelWeights> {
  let bytes: Uint8Array;
  try {
    bytes = await readFile(modelPath);
  } catch (error) {
    throw new ModelFolderError(modelPath, "is missing or unreadable (expected an ONNX model)", {
      cause: error,
    });
  }
  let model: OnnxTypes.ModelProto;
  try {
    model = onnx.ModelProto.decode(bytes);
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new ModelFolderError(modelPath, `is not a valid ONNX model (${reason})`, { cause: error });
  }
  if (!model.graph) throw new ModelFolderError(modelPath, "is an ONNX model without a graph");

  const summary: ModelWeights = {
    parameters: 0,
    constants: 0,
    constantBytes: 0,
    bytes: 0,
    tensors: 0,
    parametersByType: {},
    external: [],
  };
  const external = new Map<string, ExternalDataFile>();
  for (const { tensor, constant } of weightTensors(model.graph)) {
    const dataType = tensor.dataType ?? DataType.UNDEFINED;
    const elements = elementCount(tensor.dims);
    const tensorBytes = elements * (ELEMENT_BYTES[dataType] ?? 0);
    summary.tensors += 1;
    summary.bytes += tensorBytes;
    if (!constant && FLOATING.has(dataType) && elements > 1) {
      summary.parameters += elements;
      const name = TYPE_NAMES[dataType] ?? String(dataType);
      summary.parametersByType[name] = (summary.parametersByType[name] ?? 0) + elements;
    } else {
      summary.constants += elements;
      summary.constantBytes += tensorBytes;
    }
    if (tensor.dataLocation !== onnx.TensorProto.DataLocation.EXTERNAL) continue;
    const location = externalEntry(tensor, "location");
    if (location === undefined) {
      throw new ModelFolderError(modelPath, `stores tensor "${tensor.name}" externally without a location`);
    }
    const offset = Number(externalEntry(tensor, "offset") ?? 0);
    const length = Number(externalEntry(tensor, "length") ?? elements * (ELEMENT_BYTES[dataType] ?? 0));
    const file = external.get(location) ?? {
      location,
      path: externalPath(modelPath, location),
      requiredBytes: 0,
      actualBytes: undefined,
    };
    file.requiredBytes = Math.max(file.requiredBytes, offset + length);
    external.set(location, file);
  }
  for (const file of external.values()) {
    try {
      file.actualBytes = (await stat(file.path)).size;
    } catch {
      file.actualBytes = undefined;
    }
    summary.external.push(file);
  }
  return summary;
}

/**
 * The parameter count of the model at `modelPath`: elements of its trained weights, including
 * those stored as external data (whose bytes are not read); other constants are not counted.
 */
export async function countParameters(modelPath: string): Promise<number> {
  return (await readModelWeights(modelPath)).parameters;
}
