/**
 * A model whose replaced initializers live in a second, in-memory external data file: the graph is
 * re-encoded with those tensors pointing at that file (offsets aligned), every other tensor keeps
 * pointing where it did. onnxruntime takes the file from memory (`sessionOptions.externalData`)
 * and reads the untouched weights from the model's own folder, so a merge passes only the
 * tensors it changed.
 */
import onnxProto, { type onnx as OnnxTypes } from "onnx-proto";

const { onnx } = onnxProto;

/** The in-memory file's name; it exists only in the session options, never on disk. */
export const MERGED_WEIGHTS_FILE = "easel-lora-merged.weights";
const ALIGNMENT = 64;

/** A model to load from memory: the graph, the in-memory weights file, and the folder of the rest. */
export interface InMemoryModel {
  bytes: Uint8Array;
  externalData: { path: string; data: Uint8Array }[];
  /** Where the model's own external data files are (the original model's folder). */
  folder: string;
}

/** Re-encodes `model` with `replaced` initializers (name → bytes in their element type) moved out. */
export function withReplacedInitializers(
  model: OnnxTypes.IModelProto,
  replaced: ReadonlyMap<string, Uint8Array>,
  folder: string,
): InMemoryModel {
  let size = 0;
  const placed: { tensor: OnnxTypes.ITensorProto; bytes: Uint8Array; offset: number }[] = [];
  const initializers = (model.graph?.initializer ?? []).map((tensor) => {
    const bytes = tensor.name ? replaced.get(tensor.name) : undefined;
    if (!bytes) return tensor;
    size += (ALIGNMENT - (size % ALIGNMENT)) % ALIGNMENT;
    const moved: OnnxTypes.ITensorProto = {
      name: tensor.name,
      dataType: tensor.dataType,
      dims: tensor.dims,
      dataLocation: onnx.TensorProto.DataLocation.EXTERNAL,
      externalData: [
        { key: "location", value: MERGED_WEIGHTS_FILE },
        { key: "offset", value: String(size) },
        { key: "length", value: String(bytes.byteLength) },
      ],
    };
    placed.push({ tensor: moved, bytes, offset: size });
    size += bytes.byteLength;
    return moved;
  });
  const data = new Uint8Array(size);
  for (const { bytes, offset } of placed) data.set(bytes, offset);
  const rewritten = onnx.ModelProto.encode({
    ...model,
    graph: { ...model.graph, initializer: initializers },
  }).finish();
  return { bytes: rewritten, externalData: [{ path: MERGED_WEIGHTS_FILE, data }], folder };
}
