/**
 * The one queue interface the chat service, the CLI and every adapter use. The embedded backend
 * (device worker threads + SQLite) implements it today; the BullMQ/Redis backend implements it the
 * same way. Everything is async, since a Redis backend is. Images are referenced by id and fetched
 * from the image store: no local paths or bytes travel in events.
 * It lives in the shared requests room so that commands/ (the chat service) and queue/ (its
 * backends) both read it without importing each other; src/queue/job-queue.ts re-exports it.
 */
import type { ErrorCode } from "../errors.js";
import type { EncodedImage, GenerateTimings } from "../pipeline/types.js";
import type { OperatorLedger } from "./operator.js";
import type { GenerationRequest, Requester, UserId } from "./request.js";

export type JobStatus = "queued" | "running" | "done" | "failed" | "cancelled";
export const FINAL_STATUSES: readonly JobStatus[] = ["done", "failed", "cancelled"];

/** The file extension of each image type easel keeps and posts: the one map of them. */
export const IMAGE_EXTENSIONS: Readonly<Record<EncodedImage["mime"], string>> = {
  "image/png": "png",
  "image/webp": "webp",
  "image/jpeg": "jpg",
};

/** The image type of a file extension (`png`, `webp`, `jpg`); undefined for any other. */
export function mimeOfExtension(extension: string): EncodedImage["mime"] | undefined {
  const found = Object.entries(IMAGE_EXTENSIONS).find(([, each]) => each === extension);
  return found?.[0] as EncodedImage["mime"] | undefined;
}

export const MODERATION_ACTIONS = ["none", "spoiler", "blur", "withhold"] as const;
export type ModerationAction = (typeof MODERATION_ACTIONS)[number];
export interface ImageModeration {
  /** score ≥ threshold: threshold 0 flags every image, 1 flags none. */
  flagged: boolean;
  /** The classifier's unsafe score in [0, 1]. */
  score: number;
  /** The classifier's top class (nsfwjs: Drawing, Hentai, Neutral, Porn, Sexy). */
  label: string;
  /** What is done with the image, decided once when it was made: "none" when not flagged, moderation off, or an exempt NSFW channel. */
  action: ModerationAction;
  /** A withheld image an admin released: shown like any since. */
  released?: { byUserId: UserId; at: number };
}

/** A finished image, as the job record and `done` events list it. */
export interface ImageRef {
  /** `<jobId>-<index>`: what the image store is asked for. */
  id: string;
  jobId: string;
  index: number;
  seed: string;
  mime: EncodedImage["mime"];
  width: number;
  height: number;
  /** The image's bytes are gone (swept after posting or past the retention time). */
  deleted: boolean;
  moderation?: ImageModeration;
}

/** What the queue keeps of a job: the request, its status and its result's metadata. */
export interface JobRecord {
  id: string;
  /** Arrival order. */
  seq: number;
  userId: UserId;
  request: GenerationRequest;
  tier: number;
  status: JobStatus;
  /** Device of the latest attempt. */
  device: string | undefined;
  /** Times the job was started (a restart mid-run makes it 2). */
  attempts: number;
  createdAt: number;
  startedAt: number | undefined;
  finishedAt: number | undefined;
  seeds: string[] | undefined;
  timings: GenerateTimings | undefined;
  error: { code: ErrorCode; message: string } | undefined;
  cancelledBy: UserId | undefined;
  postedTo: string | undefined;
  postedAt: number | undefined;
  images: ImageRef[];
  /** The result was deleted (its images removed) by its author or an admin. */
  deleted?: { byUserId: UserId; at: number };
}

interface JobEvent {
  jobId: string;
  requester: Requester;
}

export interface JobQueueEvents {
  /** The job's 1-based place in line; emitted again whenever it changes. */
  queued: JobEvent & { position: number };
  started: JobEvent & { device: string; attempt: number };
  progress: JobEvent & { step: number; total: number; stage: "base" | "refiner"; preview?: EncodedImage };
  done: JobEvent & {
    images: ImageRef[];
    seeds: string[];
    timings: GenerateTimings;
    /** From the start on a device to the last image stored. */
    durationMs: number;
    /** How long the device was given to this job. */
    deviceMs: number;
    /** From submission to the start on a device. */
    waitedMs: number;
  };
  /** `message` is safe to show the user; `detail` is for the operator's logs only. */
  failed: JobEvent & { code: ErrorCode; message: string; detail?: string };
  cancelled: JobEvent & { byUserId: UserId | undefined };
  /**
   * After a restart: a job that was queued or running when the process stopped. Requeued jobs run
   * again (their earlier messages may no longer be editable, so adapters may post a new one);
   * jobs not requeued were failed, and the user should be told.
   */
  recovered: { job: JobRecord; requeued: boolean; message?: string };
}

export type JobQueueEventName = keyof JobQueueEvents;
export type JobQueueListener<E extends JobQueueEventName> = (event: JobQueueEvents[E]) => void;

export interface SubmitResult {
  jobId: string;
  /** 0 = starts at once on a free device; otherwise the 1-based place in line. */
  position: number;
}

export interface RecoveryReport {
  requeued: string[];
  failed: string[];
}

/** Something that keeps the queue from working: what /healthz reports as down. */
export interface HealthProblem {
  component: "redis" | "devices" | "store";
  message: string;
}

export interface QueueStatus {
  waiting: number;
  running: number;
  devices: Array<{
    device: string;
    jobId: string | undefined;
    /** The device can take jobs (its model loaded, or not failed to load; a Redis worker's status is "ready"). */
    ready: boolean;
    /** Worker threads (engine loads) started on this device so far: above 1 means it was recycled. */
    threadsStarted?: number;
  }>;
  /** Empty when healthy: Redis unreachable, no device ready, a store that cannot be written. */
  problems: HealthProblem[];
}

/** Finished images by id (`ImageRef.id`), and the pictures users upload to refine. */
export interface ImageStore {
  /** The image's bytes, or undefined when there is no such image or it was swept. */
  get(imageId: string): Promise<EncodedImage | undefined>;
  /**
   * Keeps an uploaded picture (already checked by the caller) for a request's `source.uploadId`;
   * returns that id. Uploads are swept with results past the retention time.
   */
  putUpload(image: EncodedImage): Promise<string>;
}

/**
 * What an adapter may see of the queue besides the chat service: its status and events, for health
 * and metrics. Adapters never submit, cancel or read jobs themselves.
 */
export type QueueMonitor = Pick<JobQueue, "status" | "on">;

export interface JobQueue {
  readonly images: ImageStore;
  /** Bans, usage, deleted results and the audit trail, kept in the same job store. */
  readonly ledger: OperatorLedger;

  /** Starts the backend (device workers, connections); rejects when a device cannot load. */
  start(): Promise<void>;
  /**
   * Puts back the jobs that were queued or running when this kind of process last stopped and
   * emits `recovered` for each. Call once after start-up, after subscribing.
   */
  recover(): Promise<RecoveryReport>;
  /**
   * Queues a request. Rejects with InvalidInputError for a request the device would refuse, with
   * EaselError "queue_full" past a limit, "stopping" while the queue stops, or "not_found" when a
   * source image is gone; nothing is stored then.
   */
  submit(request: GenerationRequest): Promise<SubmitResult>;
  /**
   * Cancels a waiting or running job: "cancelled" (it was waiting and is gone) or "stopping" (a
   * `cancelled` event follows once the device lets go). Rejects "not_found" / "forbidden"
   * EaselErrors; `anyone` lets another user (an admin) cancel it.
   */
  cancel(jobId: string, byUserId: UserId, options?: { anyone?: boolean }): Promise<"cancelled" | "stopping">;
  job(jobId: string): Promise<JobRecord | undefined>;
  /** A user's latest jobs, newest first. */
  history(userId: UserId, limit?: number): Promise<JobRecord[]>;
  /** 1-based place in line of a waiting job (0 = about to start); undefined when not waiting. */
  position(jobId: string): Promise<number | undefined>;
  /** Resolves with the job's record once it is done, failed or cancelled (at once if it already is). */
  wait(jobId: string, signal?: AbortSignal): Promise<JobRecord>;
  /** Subscribes to events; returns the unsubscribe function. */
  on<E extends JobQueueEventName>(name: E, listener: JobQueueListener<E>): () => void;
  /** Records where a job's images were posted (they stay on disk until the retention time all the same). */
  markPosted(jobId: string, where: string): Promise<void>;
  /** Resolves within about 2 s, whatever the backend's servers do; `problems` says what is down. */
  status(): Promise<QueueStatus>;
  /** Stops taking jobs; running ones are interrupted and run again after the next start. */
  stop(): Promise<void>;
}
