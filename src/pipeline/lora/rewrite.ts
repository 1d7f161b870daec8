/**
 * A model with some initializers replaced, to be loaded from memory. onnxruntime (1.30) takes a
 * model's bytes plus either
 * - a folder for its external data (`session.model_external_initializers_file_folder_path`): the
 *   replaced tensors then go inline into the graph and every other weight is read from the
 *   original folder, so nothing else is copied. A graph is one protobuf, under 2 GiB, so this
 *   holds only merges of up to INLINE_LIMIT_BYTES of changed weights; or
 * - in-memory external data files (`sessionOptions.externalData`), which must then hold every
 *   external tensor (onnxruntime refuses a model whose external file is not in that table, and
 *   refuses external paths outside the model's folder, links included). Bigger merges take this
 *   way: the weights are repacked into in-memory files of up to CHUNK_BYTES, the replaced ones
 *   included; onnxruntime copies them, so the peak is about twice the model's weights.
 */
import { open } from "node:fs/promises";
import { dirname, isAbsolute, join, normalize, sep } from "node:path";
import onnxProto, { type onnx as OnnxTypes } from "onnx-proto";
import { ModelFolderError } from "../../errors.js";

const { onnx } = onnxProto;
const EXTERNAL = onnx.TensorProto.DataLocation.EXTERNAL;

/** Replaced weights up to this size go inline into the graph (protobuf's limit is 2 GiB). */
export const INLINE_LIMIT_BYTES = 1536 * 1024 ** 2;
/** Size of each in-memory weights file when the model is repacked. */
export const CHUNK_BYTES = 1024 ** 3;
const ALIGNMENT = 64;

/** A model to load from memory: its graph, in-memory weights files, and the folder of the rest. */
export interface InMemoryModel {
  bytes: Uint8Array;
  /** Every external data file the graph names, when it names any; empty: they are in `folder`. */
  externalData: { path: string; data: Uint8Array }[];
  /** Where the graph's external data files are, when they are not in `externalData`. */
  folder: string;
}

export interface ReplaceOptions {
  /** Overrides INLINE_LIMIT_BYTES (tests use it to take the repacking way on small models). */
  inlineLimitBytes?: number;
  chunkBytes?: number;
}

function entry(tensor: OnnxTypes.ITensorProto, key: string): string | undefined {
  return tensor.externalData?.find((e) => e.key === key)?.value ?? undefined;
}

function externalFile(modelPath: string, tensor: OnnxTypes.ITensorProto): string {
  const location = normalize(entry(tensor, "location") ?? "");
  if (!location || isAbsolute(location) || location === ".." || location.startsWith(`..${sep}`)) {
    throw new ModelFolderError(
      modelPath,
      `tensor "${tensor.name}" points to external data outside its folder`,
    );
  }
  return join(dirname(modelPath), location);
}

function inline(tensor: OnnxTypes.ITensorProto, bytes: Uint8Array): OnnxTypes.ITensorProto {
  return { name: tensor.name, dataType: tensor.dataType, dims: tensor.dims, rawData: bytes };
}

function encode(model: OnnxTypes.IModelProto, initializer: OnnxTypes.ITensorProto[]): Uint8Array {
  return onnx.ModelProto.encode({ ...model, graph: { ...model.graph, initializer } }).finish();
}

/**
 * The initializers to replace, by name, and how to make each one's new bytes (same element type
 * and size as stored). They are made one at a time, when their place is ready, so that a merge
 * holds each new tensor once.
 */
export interface Replacements {
  names: ReadonlySet<string>;
  produce(tensor: OnnxTypes.ITensorProto): Promise<Uint8Array>;
}

const BYTES_PER_VALUE: Record<number, number> = {
  [onnx.TensorProto.DataType.FLOAT]: 4,
  [onnx.TensorProto.DataType.FLOAT16]: 2,
};

/** A float tensor's stored size in bytes. */
function storedLength(tensor: OnnxTypes.ITensorProto): number {
  const elements = (tensor.dims ?? []).reduce<number>((a, d) => a * Number(d), 1);
  return elements * (BYTES_PER_VALUE[tensor.dataType ?? 0] ?? 0);
}

/**
 * `model` (read from `modelPath`) with the replaced initializers' new bytes taking the place of
 * their stored values, ready for ModelSession.
 */
export async function withReplacedInitializers(
  model: OnnxTypes.IModelProto,
  replacements: Replacements,
  modelPath: string,
  options: ReplaceOptions = {},
): Promise<InMemoryModel> {
  const folder = dirname(modelPath);
  const tensors = model.graph?.initializer ?? [];
  const touched = tensors.filter((t) => t.name && replacements.names.has(t.name));
  const replacedBytes = touched.reduce((sum, t) => sum + storedLength(t), 0);
  if (replacedBytes <= (options.inlineLimitBytes ?? INLINE_LIMIT_BYTES)) {
    const initializer: OnnxTypes.ITensorProto[] = [];
    for (const t of tensors) {
      initializer.push(
        t.name && replacements.names.has(t.name) ? inline(t, await replacements.produce(t)) : t,
      );
    }
    return { bytes: encode(model, initializer), externalData: [], folder };
  }
  return repacked(model, replacements, modelPath, options.chunkBytes ?? CHUNK_BYTES);
}

/** Where a repacked tensor goes: its in-memory file and offset. */
interface Placement {
  tensor: OnnxTypes.ITensorProto;
  length: number;
  chunk: number;
  offset: number;
}

/**
 * Lays out every external or replaced tensor in files of up to `chunkBytes`, then fills one file
 * at a time: untouched tensors are read from disk straight into it, replaced ones made and copied
 * in, so the peak stays near the model's weights plus one tensor.
 */
async function repacked(
  model: OnnxTypes.IModelProto,
  replacements: Replacements,
  modelPath: string,
  chunkBytes: number,
): Promise<InMemoryModel> {
  const placements: Placement[] = [];
  const chunkSizes: number[] = [];
  const initializer: OnnxTypes.ITensorProto[] = [];
  for (const tensor of model.graph?.initializer ?? []) {
    const replaced = tensor.name !== undefined && tensor.name !== null && replacements.names.has(tensor.name);
    if (!replaced && tensor.dataLocation !== EXTERNAL) {
      initializer.push(tensor);
      continue;
    }
    const length = replaced ? storedLength(tensor) : Number(entry(tensor, "length") ?? 0);
    const last = chunkSizes.length - 1;
    const aligned =
      last < 0 ? 0 : chunkSizes[last]! + ((ALIGNMENT - (chunkSizes[last]! % ALIGNMENT)) % ALIGNMENT);
    const fresh = last < 0 || (aligned + length > chunkBytes && chunkSizes[last]! > 0);
    const chunk = fresh ? chunkSizes.push(0) - 1 : last;
    const offset = fresh ? 0 : aligned;
    chunkSizes[chunk] = offset + length;
    placements.push({ tensor, length, chunk, offset });
    initializer.push({
      name: tensor.name,
      dataType: tensor.dataType,
      dims: tensor.dims,
      dataLocation: EXTERNAL,
      externalData: [
        { key: "location", value: chunkName(chunk) },
        { key: "offset", value: String(offset) },
        { key: "length", value: String(length) },
      ],
    });
  }
  const handles = new Map<string, Awaited<ReturnType<typeof open>>>();
  const handleOf = async (path: string) => {
    let handle = handles.get(path);
    if (!handle) {
      handle = await open(path, "r").catch((error: unknown) => {
        throw new ModelFolderError(path, "is missing or unreadable (external weights of the model)", {
          cause: error,
        });
      });
      handles.set(path, handle);
    }
    return handle;
  };
  try {
    const externalData = chunkSizes.map((size, chunk) => ({
      path: chunkName(chunk),
      data: new Uint8Array(0),
      size,
    }));
    for (const [index, file] of externalData.entries()) {
      file.data = new Uint8Array(file.size);
      for (const { tensor, length, offset } of placements.filter((p) => p.chunk === index)) {
        if (tensor.name && replacements.names.has(tensor.name)) {
          const bytes = await replacements.produce(tensor);
          if (bytes.byteLength !== length)
            throw new RangeError(`"${tensor.name}" was made with ${bytes.byteLength} bytes, not ${length}`);
          file.data.set(bytes, offset);
          continue;
        }
        const path = externalFile(modelPath, tensor);
        const target = file.data.subarray(offset, offset + length);
        const { bytesRead } = await (await handleOf(path)).read(
          target,
          0,
          length,
          Number(entry(tensor, "offset") ?? 0),
        );
        if (bytesRead !== length)
          throw new ModelFolderError(path, `is too short for tensor "${tensor.name}"`);
      }
    }
    return {
      bytes: encode(model, initializer),
      externalData: externalData.map(({ path, data }) => ({ path, data })),
      folder: dirname(modelPath),
    };
  } finally {
    await Promise.all([...handles.values()].map((handle) => handle.close()));
  }
}

function chunkName(index: number): string {
  return `easel-merged-${index}.weights`;
}
