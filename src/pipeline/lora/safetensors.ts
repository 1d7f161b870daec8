/**
 * safetensors, read with every bound checked: an 8-byte little-endian header length, a JSON
 * header `{name: {dtype, shape, data_offsets: [begin, end]}, __metadata__?: {string: string}}`,
 * then the raw little-endian data, offsets relative to its start. Tensors must lie inside the
 * data, match their shape's size, and not overlap. F16, BF16 and F32 are read (as float32).
 */
import { open } from "node:fs/promises";
import { float16BitsToFloat32 } from "../onnx/float16.js";
import { LoraFileError } from "./errors.js";

/** safetensors' own limit on the header (the reference implementation refuses larger ones). */
export const MAX_HEADER_BYTES = 100 * 1024 * 1024;
/** LoRA files are megabytes to a few hundred; this bounds what one file may make us read. */
export const MAX_LORA_FILE_BYTES = 4 * 1024 ** 3 - 1;

export type SafetensorsDtype = "F16" | "BF16" | "F32";

const DTYPE_BYTES: Record<SafetensorsDtype, number> = { F16: 2, BF16: 2, F32: 4 };

export interface SafetensorsTensor {
  name: string;
  dtype: SafetensorsDtype;
  shape: number[];
  /** The tensor's bytes (a view into the file's buffer). */
  bytes: Uint8Array;
}

export interface SafetensorsFile {
  tensors: Map<string, SafetensorsTensor>;
  metadata: Record<string, string>;
}

function isDtype(value: unknown): value is SafetensorsDtype {
  return value === "F16" || value === "BF16" || value === "F32";
}

function isCount(value: unknown): value is number {
  return typeof value === "number" && Number.isSafeInteger(value) && value >= 0;
}

/** Parses a whole safetensors file held in memory; `path` only names it in errors. */
export function parseSafetensors(file: Uint8Array, path: string): SafetensorsFile {
  const fail = (problem: string): never => {
    throw new LoraFileError(path, problem);
  };
  if (file.byteLength < 8) fail("it is not a safetensors file (shorter than its 8-byte header length)");
  const view = new DataView(file.buffer, file.byteOffset, file.byteLength);
  const headerLength = view.getBigUint64(0, true);
  if (headerLength > BigInt(MAX_HEADER_BYTES)) {
    fail(
      `its header claims ${headerLength} bytes (the limit is ${MAX_HEADER_BYTES}); it is not a safetensors file`,
    );
  }
  const dataStart = 8 + Number(headerLength);
  if (dataStart > file.byteLength) {
    fail(
      `its header claims ${headerLength} bytes but the file has ${file.byteLength}; it is truncated or not safetensors`,
    );
  }
  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(file.subarray(8, dataStart)));
  } catch {
    fail("its header is not JSON; it is not a safetensors file");
  }
  if (typeof header !== "object" || header === null || Array.isArray(header)) {
    fail("its header is not a JSON object; it is not a safetensors file");
  }
  const dataLength = file.byteLength - dataStart;
  const metadata: Record<string, string> = {};
  const tensors = new Map<string, SafetensorsTensor>();
  const spans: { begin: number; end: number; name: string }[] = [];
  for (const [name, entry] of Object.entries(header as Record<string, unknown>)) {
    if (name === "__metadata__") {
      if (typeof entry !== "object" || entry === null) fail("its __metadata__ is not an object");
      for (const [key, value] of Object.entries(entry as Record<string, unknown>)) {
        if (typeof value === "string") metadata[key] = value;
      }
      continue;
    }
    if (typeof entry !== "object" || entry === null) fail(`tensor "${name}" has no description`);
    const { dtype, shape, data_offsets: offsets } = entry as Record<string, unknown>;
    if (!isDtype(dtype)) {
      fail(`tensor "${name}" has dtype ${JSON.stringify(dtype)}; LoRAs are read in F16, BF16 or F32`);
    }
    if (!Array.isArray(shape) || !shape.every(isCount)) fail(`tensor "${name}" has a malformed shape`);
    if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every(isCount)) {
      fail(`tensor "${name}" has malformed data_offsets`);
    }
    const [begin, end] = offsets as [number, number];
    if (begin > end || end > dataLength) {
      fail(`tensor "${name}" lies outside the file (bytes ${begin}-${end} of ${dataLength})`);
    }
    const elements = (shape as number[]).reduce((a, b) => a * b, 1);
    if (end - begin !== elements * DTYPE_BYTES[dtype as SafetensorsDtype]) {
      fail(`tensor "${name}" holds ${end - begin} bytes, not the ${elements} ${dtype} values of its shape`);
    }
    spans.push({ begin, end, name });
    tensors.set(name, {
      name,
      dtype: dtype as SafetensorsDtype,
      shape: [...(shape as number[])],
      bytes: file.subarray(dataStart + begin, dataStart + end),
    });
  }
  spans.sort((a, b) => a.begin - b.begin || a.end - b.end);
  for (let i = 1; i < spans.length; i++) {
    const [previous, current] = [spans[i - 1]!, spans[i]!];
    if (current.begin < previous.end) fail(`tensors "${previous.name}" and "${current.name}" overlap`);
  }
  return { tensors, metadata };
}

/** A tensor's values as float32 (F16 and BF16 widen exactly). */
export function tensorValues(tensor: SafetensorsTensor): Float32Array {
  const count = tensor.bytes.byteLength / DTYPE_BYTES[tensor.dtype];
  // A copy (never Buffer#slice, which is a view): offsets in the file need not be aligned.
  const aligned = new Uint8Array(tensor.bytes);
  if (tensor.dtype === "F32") return new Float32Array(aligned.buffer, 0, count);
  const halves = new Uint16Array(aligned.buffer, 0, count);
  if (tensor.dtype === "F16") return float16BitsToFloat32(halves);
  const out = new Float32Array(count);
  const bits = new Uint32Array(out.buffer);
  for (let i = 0; i < count; i++) bits[i] = halves[i]! << 16;
  return out;
}

/** Reads and parses the safetensors file at `path`. */
export async function readSafetensors(path: string): Promise<SafetensorsFile> {
  let bytes: Uint8Array;
  try {
    const handle = await open(path, "r");
    try {
      const { size } = await handle.stat();
      if (size > MAX_LORA_FILE_BYTES)
        throw new LoraFileError(path, `it is ${size} bytes, too large for a LoRA`);
      bytes = new Uint8Array(size);
      let done = 0;
      while (done < size) {
        const { bytesRead } = await handle.read(bytes, done, size - done, done);
        if (bytesRead === 0) break;
        done += bytesRead;
      }
      if (done < size) bytes = bytes.subarray(0, done);
    } finally {
      await handle.close();
    }
  } catch (error) {
    if (error instanceof LoraFileError) throw error;
    const code = (error as NodeJS.ErrnoException).code;
    throw new LoraFileError(
      path,
      code === "ENOENT" ? "the file does not exist" : `it cannot be read (${code ?? error})`,
      {
        cause: error,
      },
    );
  }
  return parseSafetensors(bytes, path);
}
