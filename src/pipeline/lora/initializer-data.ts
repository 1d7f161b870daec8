/**
 * Reading one initializer's stored bytes from an ONNX model (inline raw data, float_data, or a
 * byte range of its external data file). Only the tensors a LoRA touches are read, so a 10 GB
 * UNet costs what its touched weights cost.
 */
import { open } from "node:fs/promises";
import { dirname, isAbsolute, join, normalize, sep } from "node:path";
import onnxProto, { type onnx as OnnxTypes } from "onnx-proto";
import { ModelFolderError } from "../../errors.js";

const { onnx } = onnxProto;
const DataType = onnx.TensorProto.DataType;

function externalEntry(tensor: OnnxTypes.ITensorProto, key: string): string | undefined {
  return tensor.externalData?.find((entry) => entry.key === key)?.value ?? undefined;
}

function elementsOf(tensor: OnnxTypes.ITensorProto): number {
  return (tensor.dims ?? []).reduce<number>((a, d) => a * Number(d), 1);
}

/** The tensor's stored bytes (raw little-endian). */
async function storedBytes(
  modelPath: string,
  tensor: OnnxTypes.ITensorProto,
  length: number,
): Promise<Uint8Array> {
  if (tensor.dataLocation !== onnx.TensorProto.DataLocation.EXTERNAL) {
    if (tensor.rawData && tensor.rawData.byteLength > 0) return new Uint8Array(tensor.rawData);
    if (tensor.dataType === DataType.FLOAT && tensor.floatData?.length) {
      return new Uint8Array(Float32Array.from(tensor.floatData).buffer);
    }
    if (tensor.dataType === DataType.FLOAT16 && tensor.int32Data?.length) {
      return new Uint8Array(Uint16Array.from(tensor.int32Data).buffer);
    }
    throw new ModelFolderError(modelPath, `tensor "${tensor.name}" has no data`);
  }
  const location = normalize(externalEntry(tensor, "location") ?? "");
  if (!location || isAbsolute(location) || location === ".." || location.startsWith(`..${sep}`)) {
    throw new ModelFolderError(
      modelPath,
      `tensor "${tensor.name}" points to external data outside its folder`,
    );
  }
  const offset = Number(externalEntry(tensor, "offset") ?? 0);
  const path = join(dirname(modelPath), location);
  const bytes = new Uint8Array(length);
  const handle = await open(path, "r").catch((error: unknown) => {
    throw new ModelFolderError(path, "is missing or unreadable (external weights of the model)", {
      cause: error,
    });
  });
  try {
    const { bytesRead } = await handle.read(bytes, 0, length, offset);
    if (bytesRead !== length) throw new ModelFolderError(path, `is too short for tensor "${tensor.name}"`);
  } finally {
    await handle.close();
  }
  return bytes;
}

/** A float32 or float16 initializer's stored bytes (little-endian, as a fresh copy). */
export async function readInitializerBytes(
  modelPath: string,
  tensor: OnnxTypes.ITensorProto,
): Promise<Uint8Array> {
  const bytesPerValue = tensor.dataType === DataType.FLOAT ? 4 : tensor.dataType === DataType.FLOAT16 ? 2 : 0;
  if (bytesPerValue === 0) {
    throw new ModelFolderError(modelPath, `tensor "${tensor.name}" is neither float32 nor float16`);
  }
  return storedBytes(modelPath, tensor, elementsOf(tensor) * bytesPerValue);
}
