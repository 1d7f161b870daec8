/**
 * Conversions between the pipeline's float32 / int32 arrays and the element types a model's
 * inputs and outputs actually declare (float16 exports, int32 or int64 ids and timesteps).
 */
import * as ort from "onnxruntime-node";
import { ModelFolderError } from "../../errors.js";
import { float16BitsToFloat32, float32ToFloat16Bits } from "./float16.js";
import type { TensorInfo } from "./session.js";

/** A float input as the model wants it: float32 as-is (no copy), float16 converted. */
export function floatInput(info: TensorInfo, data: Float32Array, dims: readonly number[]): ort.Tensor {
  switch (info.type) {
    case "float32":
      return new ort.Tensor("float32", data, dims);
    case "float16":
      return new ort.Tensor("float16", float32ToFloat16Bits(data), dims);
    default:
      throw new ModelFolderError(
        info.name,
        `input has element type ${info.type}; expected float32 or float16`,
      );
  }
}

/** Integer ids (token ids, integer timesteps) in the model's int32 or int64. */
export function integerInput(
  info: TensorInfo,
  values: ArrayLike<number>,
  dims: readonly number[],
): ort.Tensor {
  switch (info.type) {
    case "int32":
      return new ort.Tensor("int32", Int32Array.from(values), dims);
    case "int64":
      return new ort.Tensor("int64", BigInt64Array.from(Array.from(values, (v) => BigInt(v))), dims);
    default:
      throw new ModelFolderError(info.name, `input has element type ${info.type}; expected int32 or int64`);
  }
}

/** Reads a float32 or float16 output as float32 (no copy for float32). */
export function floatOutput(tensor: ort.Tensor, name: string): Float32Array {
  if (tensor.type === "float32") return tensor.data as Float32Array;
  if (tensor.type === "float16") return float16BitsToFloat32(tensor.data as Uint16Array);
  throw new ModelFolderError(name, `output has element type ${tensor.type}; expected float32 or float16`);
}

/** Writes a float32 array into a preallocated float tensor of either float type. */
export function writeFloatInto(tensor: ort.Tensor, data: Float32Array): void {
  if (tensor.type === "float32") (tensor.data as Float32Array).set(data);
  else float32ToFloat16Bits(data, tensor.data as Uint16Array);
}
