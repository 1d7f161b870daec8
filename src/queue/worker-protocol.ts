/**
 * Messages between a DeviceWorker (main thread) and its device-worker thread, and how errors cross
 * that boundary: structured clone keeps an Error's message but not its class, so typed errors are
 * sent as plain data and rebuilt on the other side.
 */

import {
  CancelledError,
  DeviceFailureError,
  EaselError,
  type ErrorCode,
  InvalidInputError,
  ModelFolderError,
} from "../errors.js";
import type { LoraSelection } from "../pipeline/lora/merge.js";
import type { GeneratedImage, GenerateParams, GenerateTimings, Progress } from "../pipeline/types.js";
import type { EngineSpec } from "./engine.js";
import { detailOf } from "./failures.js";
import { queueMessages } from "./messages.js";

export interface DeviceWorkerData {
  engine: EngineSpec;
  /**
   * Whether the device takes the next job as soon as a run's pixels exist (its images encoded
   * meanwhile) rather than after encoding. Default true; false only to measure the difference.
   */
  freeBeforeEncode?: boolean;
  /** Models the thread keeps loaded; past it, the least recently used is unloaded (default 1). */
  modelsPerDevice?: number;
}

export type ToWorker =
  | {
      type: "run";
      jobId: string;
      params: GenerateParams;
      previewEvery: number;
      /** The job's model folder when it is not the engine's own (loaded on demand). */
      modelDir?: string;
      /** LoRA files (absolute paths) to merge into the model; the device keeps a pipeline per set. */
      loras?: LoraSelection[];
    }
  | { type: "cancel"; jobId: string }
  | { type: "shutdown" };

export interface SerializedError {
  message: string;
  stack?: string;
  /** Present for EaselErrors. */
  code?: ErrorCode;
  userMessage?: string;
  field?: string;
  /** A ModelFolderError's folder or file, so the operator's message still names it. */
  path?: string;
  /** An EaselError's causes (the operator's story), which a second crossing (Redis) must keep. */
  detail?: string;
}

export type FromWorker =
  | { type: "ready" }
  | { type: "load-failed"; error: SerializedError }
  | { type: "progress"; jobId: string; progress: Progress }
  /** The run no longer needs the device (its images are being encoded): send the next job. */
  | { type: "device-free"; jobId: string }
  | { type: "done"; jobId: string; images: GeneratedImage[]; timings: GenerateTimings }
  /** `recycle`: the engine may be in a bad state (an unexpected error); start a fresh thread. */
  | { type: "failed"; jobId: string; error: SerializedError; recycle: boolean };

export function serializeError(error: unknown): SerializedError {
  if (error instanceof EaselError) {
    return {
      message: error.message,
      ...(error.stack ? { stack: error.stack } : {}),
      code: error.code,
      userMessage: error.userMessage,
      ...(error instanceof InvalidInputError && error.field !== undefined ? { field: error.field } : {}),
      ...(error instanceof ModelFolderError ? { path: error.path } : {}),
      ...(error.cause !== undefined ? { detail: detailOf(error.cause) } : {}),
    };
  }
  if (error instanceof Error)
    return { message: error.message, ...(error.stack ? { stack: error.stack } : {}) };
  return { message: String(error) };
}

/**
 * Whether the engine can take the next job after this error. An EaselError is one the pipeline
 * threw on purpose (bad input, a cancellation, a VAE overflow with no fallback): its sessions are
 * fine. Anything else (an ONNX Runtime error, out of memory) may have left them broken.
 */
export function engineStaysHealthy(error: unknown): boolean {
  return error instanceof EaselError;
}

const OUT_OF_MEMORY = /out of memory|failed to allocate|bad_alloc|\boom\b/i;

/** `error` with the operator's message (logs, the CLI) kept beside the user's, as it was thrown. */
function withOperatorMessage<T extends EaselError>(error: T, message: string): T {
  error.message = message;
  return error;
}

/**
 * The typed error for a serialized one, with the operator's message as well as the user's (an
 * ExecutionProviderError's names the library that is missing); unexpected errors (ONNX Runtime's)
 * become DeviceFailureErrors.
 */
export function deserializeError(error: SerializedError): EaselError {
  const cause = Object.assign(
    new Error(error.detail ?? error.message),
    error.stack ? { stack: error.stack } : {},
  );
  if (error.code === undefined || error.userMessage === undefined) {
    const message = OUT_OF_MEMORY.test(error.message)
      ? queueMessages.outOfMemory()
      : queueMessages.deviceError();
    return new DeviceFailureError(message, { cause });
  }
  switch (error.code) {
    case "cancelled":
      return new CancelledError(error.userMessage);
    case "invalid_input":
      return new InvalidInputError(error.userMessage, error.field);
    case "device_failure":
      return withOperatorMessage(new DeviceFailureError(error.userMessage, { cause }), error.message);
    case "model_folder":
      if (error.path !== undefined) {
        const problem = error.message.startsWith(`${error.path}: `)
          ? error.message.slice(error.path.length + 2)
          : error.message;
        return new ModelFolderError(error.path, problem, { cause });
      }
      return withOperatorMessage(new EaselError(error.code, error.userMessage, { cause }), error.message);
    default:
      return withOperatorMessage(new EaselError(error.code, error.userMessage, { cause }), error.message);
  }
}

/** A typed array that owns its whole buffer, so the buffer can be transferred without detaching others' data. */
export function ownBuffer(bytes: Uint8Array): Uint8Array {
  const whole = bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength;
  return whole && bytes.buffer instanceof ArrayBuffer ? bytes : bytes.slice();
}
