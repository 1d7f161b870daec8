/**
 * What the queue tells the adapters, as a small typed emitter. A listener that throws must not
 * break the queue's bookkeeping, so listener errors go to a sink instead of up the call stack.
 */

import type { EncodedImage, GenerateTimings } from "../pipeline/types.js";
import type { Requester } from "../requests/request.js";
import type { ImageRecord, JobRecord } from "./store.js";

/** One finished image as stored on disk (and still in memory, for the adapter to upload). */
export interface StoredImage extends Omit<ImageRecord, "deleted"> {
  data: Uint8Array;
}

interface JobEvent {
  jobId: string;
  requester: Requester;
}

export interface QueueEvents {
  /** The job's 1-based place in line; emitted again whenever it changes. */
  queued: JobEvent & { position: number };
  started: JobEvent & { device: string; attempt: number };
  progress: JobEvent & { step: number; total: number; stage: "base" | "refiner"; preview?: EncodedImage };
  done: JobEvent & {
    images: StoredImage[];
    seeds: string[];
    timings: GenerateTimings;
    /** From the start on a device to the last image written. */
    durationMs: number;
    /** How long the device was given to this job (from its start to the engine's result back). */
    deviceMs: number;
    /** From submission to the start on a device. */
    waitedMs: number;
  };
  /** `message` is safe to show the user; `code` is the error's code; `detail` is for logs only. */
  failed: JobEvent & { code: string; message: string; detail?: string };
  cancelled: JobEvent & { byUserId: string | undefined };
  /**
   * After a restart: a job that was queued or running when the process stopped. Requeued jobs run
   * again (their earlier messages may no longer be editable, so adapters may post a new one);
   * jobs not requeued were failed, and the user should be told.
   */
  recovered: { job: JobRecord; requeued: boolean; message?: string };
}

export type QueueEventName = keyof QueueEvents;
export type QueueListener<E extends QueueEventName> = (event: QueueEvents[E]) => void;

export class QueueEventEmitter {
  private readonly listeners = new Map<QueueEventName, Set<(event: never) => void>>();

  constructor(private readonly onListenerError: (error: unknown, event: QueueEventName) => void) {}

  on<E extends QueueEventName>(name: E, listener: QueueListener<E>): () => void {
    let set = this.listeners.get(name);
    if (!set) {
      set = new Set();
      this.listeners.set(name, set);
    }
    set.add(listener as (event: never) => void);
    return () => this.off(name, listener);
  }

  off<E extends QueueEventName>(name: E, listener: QueueListener<E>): void {
    this.listeners.get(name)?.delete(listener as (event: never) => void);
  }

  emit<E extends QueueEventName>(name: E, event: QueueEvents[E]): void {
    const set = this.listeners.get(name);
    if (!set) return;
    for (const listener of [...set]) {
      try {
        (listener as QueueListener<E>)(event);
      } catch (error) {
        this.onListenerError(error, name);
      }
    }
  }
}
