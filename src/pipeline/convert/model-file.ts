/**
 * Converts one ONNX model file (model.onnx and the external data it points to) to float16,
 * streaming: the graph is rewritten in memory (it holds no big weights when they are external),
 * then each external tensor is read from the source file a chunk at a time, converted and
 * appended to the new `model.onnx_data`, so memory stays at the graph plus one chunk whatever
 * the model's size. The source files are only read.
 */
import { type FileHandle, open, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import onnxProto, { type onnx as OnnxTypes } from "onnx-proto";
import { ModelFolderError } from "../../errors.js";
import { readModelWeights } from "../onnx/parameters.js";
import { float32ToFloat16Weights } from "./float16-weights.js";
import {
  convertGraphToFloat16,
  type Float16GraphResult,
  type IoType,
  UnsupportedGraphError,
} from "./graph.js";

const { onnx } = onnxProto;

/** The external weights file the converted model writes beside its model.onnx. */
export const EXTERNAL_DATA_FILE = "model.onnx_data";
/** Float32 values converted per read: 32 MiB in, 16 MiB out. */
const CHUNK_VALUES = 8 * 1024 * 1024;
/** External tensors start on 64-byte boundaries, as the exporters write them. */
const ALIGNMENT = 64;

export interface ModelFileConversion extends Float16GraphResult {
  /** Bytes of the source model file and its external data. */
  sourceBytes: number;
  /** Bytes written (model.onnx and model.onnx_data). */
  writtenBytes: number;
  /** Parameters of the source and of the result (equal: conversion changes types, not counts). */
  parameters: number;
  parametersByType: Record<string, number>;
}

function entry(tensor: OnnxTypes.ITensorProto, key: string): string | undefined {
  return tensor.externalData?.find((e) => e.key === key)?.value ?? undefined;
}

function elementCount(tensor: OnnxTypes.ITensorProto): number {
  let count = 1;
  for (const dim of tensor.dims ?? []) count *= Number(dim.toString());
  return count;
}

interface PlacedTensor {
  tensor: OnnxTypes.ITensorProto;
  source: { path: string; offset: number; length: number };
  convert: boolean;
  offset: number;
  length: number;
}

/** Reads `length` bytes at `position` into `buffer` (a short read is a truncated file). */
async function readExactly(
  file: FileHandle,
  buffer: Uint8Array,
  length: number,
  position: number,
  path: string,
) {
  let done = 0;
  while (done < length) {
    const { bytesRead } = await file.read(buffer, done, length - done, position + done);
    if (bytesRead === 0)
      throw new ModelFolderError(path, `ends before byte ${position + length} (truncated)`);
    done += bytesRead;
  }
}

/**
 * Converts `modelPath` into `outDir` (model.onnx, and model.onnx_data when the source has
 * external data). `outDir` must exist.
 */
export async function convertModelFile(
  modelPath: string,
  outDir: string,
  io: IoType,
): Promise<ModelFileConversion> {
  const before = await readModelWeights(modelPath);
  for (const file of before.external) {
    if (file.actualBytes === undefined || file.actualBytes < file.requiredBytes) {
      throw new ModelFolderError(file.path, `is missing or truncated (needs ${file.requiredBytes} bytes)`);
    }
  }
  const model = onnx.ModelProto.decode(await readFile(modelPath));
  let result: Float16GraphResult;
  try {
    result = convertGraphToFloat16(model, { io });
  } catch (error) {
    if (error instanceof UnsupportedGraphError)
      throw new ModelFolderError(modelPath, error.message, { cause: error });
    throw error;
  }

  // Lay out every external tensor in the new data file, converted ones at half their size.
  const placed: PlacedTensor[] = [];
  let offset = 0;
  const pathOf = new Map(before.external.map((file) => [file.location, file.path]));
  for (const tensor of model.graph?.initializer ?? []) {
    if (tensor.dataLocation !== onnx.TensorProto.DataLocation.EXTERNAL) continue;
    const location = entry(tensor, "location") ?? "";
    const sourceOffset = Number(entry(tensor, "offset") ?? 0);
    const convert = result.externalToConvert.has(tensor.name ?? "");
    const sourceLength = Number(entry(tensor, "length") ?? elementCount(tensor) * (convert ? 4 : 0));
    if (convert && sourceLength !== elementCount(tensor) * 4) {
      throw new ModelFolderError(
        modelPath,
        `tensor "${tensor.name}" holds ${sourceLength} bytes, not ${elementCount(tensor)} float32s`,
      );
    }
    offset += (ALIGNMENT - (offset % ALIGNMENT)) % ALIGNMENT;
    const length = convert ? sourceLength / 2 : sourceLength;
    placed.push({
      tensor,
      source: { path: pathOf.get(location)!, offset: sourceOffset, length: sourceLength },
      convert,
      offset,
      length,
    });
    tensor.externalData = [
      { key: "location", value: EXTERNAL_DATA_FILE },
      { key: "offset", value: String(offset) },
      { key: "length", value: String(length) },
    ];
    offset += length;
  }

  const graphBytes = onnx.ModelProto.encode(model).finish();
  await writeFile(join(outDir, "model.onnx"), graphBytes);
  if (placed.length > 0) await writeExternalData(join(outDir, EXTERNAL_DATA_FILE), placed, offset);

  const after = await readModelWeights(join(outDir, "model.onnx"));
  if (after.parameters !== before.parameters) {
    throw new Error(
      `${modelPath}: the conversion changed the parameter count (${before.parameters} -> ${after.parameters})`,
    );
  }
  const sourceBytes =
    (await fileSize(modelPath)) + before.external.reduce((sum, f) => sum + (f.actualBytes ?? 0), 0);
  return {
    ...result,
    sourceBytes,
    writtenBytes: graphBytes.byteLength + offset,
    parameters: after.parameters,
    parametersByType: after.parametersByType,
  };
}

async function fileSize(path: string): Promise<number> {
  const handle = await open(path, "r");
  try {
    return (await handle.stat()).size;
  } finally {
    await handle.close();
  }
}

async function writeExternalData(
  path: string,
  placed: readonly PlacedTensor[],
  total: number,
): Promise<void> {
  const input = new Uint8Array(CHUNK_VALUES * 4);
  const bits = new Uint32Array(input.buffer);
  const halves = new Uint16Array(CHUNK_VALUES);
  const halfBytes = new Uint8Array(halves.buffer);
  const sources = new Map<string, FileHandle>();
  const out = await open(path, "w");
  try {
    for (const item of placed) {
      let source = sources.get(item.source.path);
      if (!source) {
        source = await open(item.source.path, "r");
        sources.set(item.source.path, source);
      }
      let read = 0;
      let written = item.offset;
      while (read < item.source.length) {
        const n = Math.min(input.byteLength, item.source.length - read);
        await readExactly(source, input, n, item.source.offset + read, item.source.path);
        read += n;
        if (item.convert) {
          float32ToFloat16Weights(bits.subarray(0, n / 4), halves);
          await out.write(halfBytes, 0, n / 2, written);
          written += n / 2;
        } else {
          await out.write(input, 0, n, written);
          written += n;
        }
      }
    }
    // Padding after the last tensor is not written; the file must still end where the layout does.
    await out.truncate(total);
  } finally {
    await out.close();
    await Promise.all([...sources.values()].map((handle) => handle.close()));
  }
}
