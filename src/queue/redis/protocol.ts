/**
 * What travels through Redis between the gateway and the workers: a job's data (the request), its
 * progress (started, steps, previews by key), its return value (image keys and metadata; the bytes
 * sit in their own keys) and how a failure is told (a typed error as JSON in BullMQ's failedReason).
 */
import { DeviceFailureError, type EaselError } from "../../errors.js";
import type { EncodedImage, GenerateTimings, Rect } from "../../pipeline/types.js";
import type { GenerationRequest } from "../../requests/request.js";
import { queueMessages } from "../messages.js";
import { deserializeError, type SerializedError, serializeError } from "../worker-protocol.js";

export interface RemoteJobData {
  request: GenerationRequest;
  /** Set for refine / upscale requests: the key holding the source image's bytes. */
  sourceKey?: string;
  /** Set for repaint requests with a mask: the key holding the mask's bytes. */
  maskKey?: string;
}

/**
 * One progress report. `run` names one run of the job on one worker (BullMQ's lock token, new
 * each time a worker takes the job): a new run after a stall or a stop is a new start.
 */
export interface RemoteProgress {
  run: string;
  attempt: number;
  device: string;
  worker: string;
  /** 0 = the run has just started on the device. */
  step: number;
  total: number;
  stage: "base" | "refiner";
  preview?: { key: string; mime: EncodedImage["mime"]; width: number; height: number };
}

export interface RemoteImage {
  key: string;
  seed: string;
  mime: EncodedImage["mime"];
  width: number;
  height: number;
  bytes: number;
  /** Canvas jobs: where the source image's pixels were placed in this image. */
  source?: Rect;
}

/** A job's return value. */
export interface RemoteResult {
  run: string;
  attempt: number;
  device: string;
  worker: string;
  images: RemoteImage[];
  timings: GenerateTimings;
  /** From the run's start on the device to its result back. */
  deviceMs: number;
}

const FAILURE_MARK = "easel-error:";

/** The failedReason a worker gives BullMQ for an error: the typed error as JSON. */
export function encodeFailure(error: unknown): string {
  return FAILURE_MARK + JSON.stringify(serializeError(error));
}

/**
 * The typed error behind a failedReason. Anything not written by encodeFailure (BullMQ's own
 * "job stalled more than allowable limit", a worker that died for good) reads as a crashed worker.
 */
export function decodeFailure(reason: string | undefined): EaselError {
  if (reason?.startsWith(FAILURE_MARK)) {
    try {
      return deserializeError(JSON.parse(reason.slice(FAILURE_MARK.length)) as SerializedError);
    } catch {
      // fall through: not ours after all
    }
  }
  return new DeviceFailureError(queueMessages.workerCrashed(), { cause: new Error(reason ?? "unknown") });
}

export function isRemoteProgress(value: unknown): value is RemoteProgress {
  return (
    typeof value === "object" &&
    value !== null &&
    typeof (value as RemoteProgress).run === "string" &&
    typeof (value as RemoteProgress).step === "number"
  );
}
