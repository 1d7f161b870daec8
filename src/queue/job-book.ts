/**
 * The store-backed job book both backends share: the job store, the ledger and the image files;
 * the limits; submit up to the hand-off; cancel, job, history, wait, markPosted, the sweep; the
 * recovery decision; recording how each job starts and ends; the job lifecycle log lines; the
 * data-dir lock; health. What runs the jobs is a `JobRunner`: the local dispatcher and device
 * threads (embedded.ts) or the Redis release line (redis/gateway.ts). A backend is a JobBook with
 * its runner.
 */
import { randomUUID } from "node:crypto";
import { constants } from "node:fs";
import { access } from "node:fs/promises";
import { join } from "node:path";
import type { Config } from "../config.js";
import { CancelledError, EaselError, type ErrorCode, InvalidInputError, userMessageOf } from "../errors.js";
import { type Logger, silentLogger } from "../logger.js";
import { type Moderator, moderatorFor } from "../moderation/moderator.js";
import type { EncodedImage, GenerateTimings, Rect } from "../pipeline/types.js";
import type { ImageModeration } from "../requests/jobs.js";
import { modelNamed } from "../requests/models.js";
import { placeOf } from "../requests/operator.js";
import type { GenerationRequest, UserId } from "../requests/request.js";
import { DataDirLock } from "./data-dir-lock.js";
import type { EngineSpec } from "./engine.js";
import { QueueEventEmitter } from "./events.js";
import { detailOf, StorageError } from "./failures.js";
import { imageFilePath, writeFileAtomically } from "./image-files.js";
import { JobFiles } from "./job-files.js";
import {
  FINAL_STATUSES,
  type HealthProblem,
  type ImageRef,
  type ImageStore,
  type JobQueue,
  type JobQueueEventName,
  type JobQueueEvents,
  type JobQueueListener,
  type JobRecord,
  type QueueStatus,
  type RecoveryReport,
  type SubmitResult,
} from "./job-queue.js";
import { StoreLedger } from "./ledger.js";
import { queueMessages } from "./messages.js";
import { tierOf } from "./ordering.js";
import { validateRequest } from "./params.js";
import { type FinishedImage, JobStore, type StoredJob } from "./store.js";
import { isSubmitterAlive, ownSubmitter, type ProcessKind, type Submitter } from "./submitter.js";

/** What both backends may be given besides their own settings. */
export interface JobBookOptions {
  config: Config;
  /** Job lifecycle lines and internal errors; default: none. */
  logger?: Logger;
  /** By default <dataDir>/jobs.sqlite, opened and closed by the queue. */
  store?: JobStore;
  /** Milliseconds since the epoch; injectable for tests of retention. */
  now?: () => number;
  /** A job interrupted this many times is failed instead of requeued on recovery (default 3). */
  maxAttempts?: number;
  /** The engine each local device runs; by default the SDXL pipeline from the config's model folders. */
  engineFor?: (device: string) => EngineSpec;
  cancelGraceMs?: number;
  shutdownGraceMs?: number;
  /** How long one image's classification may take before its job fails (output moderation; default 60 s). */
  moderationTimeoutMs?: number;
  /**
   * Where errors nobody else can handle go: a listener that threw (`where` is "listener:<event>"),
   * a failed background sweep ("sweep"), or a store write about a job's end that failed
   * ("store:<what>"; the job's event is still emitted). Default: the logger, at error level.
   */
  onInternalError?: (error: unknown, where: string) => void;
  /** How often start() arranges a sweep of expired images; 0 = only when sweep() is called. */
  sweepEveryMs?: number;
  /** How often a service queue looks for released withheld images to announce (default 1 s). */
  releasePollMs?: number;
  /**
   * Which interrupted jobs recover() runs again; the others are failed and reported. Default: every
   * job but the command line's (the process that would have printed its result is gone).
   */
  requeue?: (job: JobRecord) => boolean;
  /**
   * The kind of process this queue runs in, recorded with each job it takes. recover() touches
   * only jobs whose submitting queue is gone: a "service" queue resumes dead service jobs (and
   * fails dead CLI ones); a "cli" queue fails dead CLI jobs and leaves the service's to the next
   * service start. A "service" queue also holds the data dir's lock while started. Default: "service".
   */
  processKind?: ProcessKind;
}

/** A job in memory while it waits or runs; runners add what they track of it. */
export interface BookedJob {
  id: string;
  userId: UserId;
  tier: number;
  seq: number;
  request: GenerationRequest;
  createdAt: number;
  /** Starts so far, as the store counts them. */
  attempts: number;
  /** Set by cancel() (and recorded) while the job runs: however the run ends, the job ends cancelled. */
  cancelRequest?: { byUserId: UserId | undefined };
  /** Counted against the limits: waiting or running. */
  counted?: boolean;
}

export function bookedJobOf(stored: StoredJob): BookedJob {
  const { id, userId, tier, seq, request, createdAt, attempts } = stored;
  return { id, userId, tier, seq, request, createdAt, attempts };
}

/** A finished image as a runner hands it over: its bytes, or where to read them. */
export interface ResultImage {
  seed: string;
  mime: EncodedImage["mime"];
  width: number;
  height: number;
  /** Canvas jobs: where the source image's pixels were placed in this image. */
  source?: Rect;
  data: Uint8Array | (() => Promise<Uint8Array>);
}

/** What runs the book's jobs: the only part in which the backends differ. */
export interface JobRunner<J extends BookedJob> {
  /** Starts devices and connections; rejects when a device cannot load or a server is unreachable. */
  start(): Promise<void>;
  /** The runner's live job for a stored one. */
  liveOf(stored: StoredJob): J;
  /** Why no device can run this model now (a user-facing sentence), or undefined when one can. */
  cannotRun?(model: string): string | undefined;
  /** Adds a job to the line; its place (0 = a device is free for it). No event before submit returns. */
  enqueue(job: J): number;
  /** Whether a job waits in the line (not yet handed to a device or to Redis). */
  isWaiting(jobId: string): boolean;
  /** Takes a waiting job out of line; undefined when it is not waiting. */
  remove(jobId: string): J | undefined;
  /** A job handed to a device (or released into Redis) that has not ended. */
  runningJob(jobId: string): J | undefined;
  /**
   * Asks a running job (whose cancel is already recorded) to stop: "stopping" when a `cancelled`
   * follows from the run's end, "cancelled" when the runner ended it at once (through `book.cancelled`).
   */
  stopRun(job: J, byUserId: UserId): Promise<"cancelled" | "stopping">;
  position(jobId: string): number | undefined;
  /**
   * Recovery: a runner that can still follow an unfinished job where it runs (Redis still holds
   * it) takes it back and returns it (counted by the book); undefined to let the book requeue or
   * fail it. `wanted` is false for a job the book will fail: the runner withdraws it.
   */
  adopt(stored: StoredJob, wanted: boolean): Promise<J | undefined>;
  /** After recovery (the gateway releases what it may). */
  recovered(): void;
  /** Jobs waiting and running, what each device runs, and what the runner finds wrong; within `timeoutMs`. */
  status(timeoutMs: number): Promise<QueueStatus>;
  size(): { waiting: number; running: number };
  /** Lets the devices and connections go; running jobs stay unfinished in the store for the next start. */
  stop(): Promise<void>;
}

/** `<jobId>-<index>`: an image's id, as ImageRef and the image store spell it. */
export function imageIdOf(jobId: string, index: number): string {
  return `${jobId}-${index}`;
}

/** The public record of a stored job: image references instead of file paths. */
export function jobRecordOf(stored: StoredJob): JobRecord {
  const { images, ...rest } = stored;
  return {
    ...rest,
    images: images.map(
      (image): ImageRef => ({
        id: imageIdOf(stored.id, image.index),
        jobId: stored.id,
        index: image.index,
        seed: image.seed,
        mime: image.mime,
        width: image.width,
        height: image.height,
        deleted: image.deleted,
        ...(image.source ? { source: image.source } : {}),
        ...(image.moderation ? { moderation: image.moderation } : {}),
      }),
    ),
  };
}

const requeueUnlessCli = (job: JobRecord) => job.request.requester.platform !== "cli";

/** How long status() may take in all; the runner gets a little less. */
const STATUS_BOUND_MS = 2_000;

export class JobBook<J extends BookedJob> implements JobQueue {
  readonly images: ImageStore;
  readonly ledger: StoreLedger;
  readonly store: JobStore;
  readonly files: JobFiles;
  readonly logger: Logger;
  readonly config: Config;
  readonly now: () => number;
  readonly onInternalError: (error: unknown, where: string) => void;
  protected readonly runner: JobRunner<J>;
  /** Output moderation (EASEL_MODERATION); undefined when it is off. */
  private readonly moderator: Moderator | undefined;
  private readonly events: QueueEventEmitter;
  private readonly ownsStore: boolean;
  private readonly maxAttempts: number;
  /** This queue, as recorded with each job it takes (see submitter.ts). */
  private readonly submitter: Submitter;
  private readonly releaseSubmitter: () => void;
  private readonly lock: DataDirLock | undefined;
  /** Jobs waiting or running, per user and in all: what the limits count. */
  private readonly liveByUser = new Map<UserId, number>();
  private liveTotal = 0;
  private stopping = false;
  private readonly stopListeners = new Set<() => void>();
  private sweepTimer: NodeJS.Timeout | undefined;
  /** A service queue's watch for releases (`released` events), and the last audit row it saw. */
  private releaseTimer: NodeJS.Timeout | undefined;
  private releaseCursor = 0;
  private sweeping: Promise<{ deleted: number }> | undefined;
  /** The latest store write that failed, until one succeeds (for health). */
  private storeFailure: string | undefined;

  constructor(
    private readonly options: JobBookOptions,
    makeRunner: (book: JobBook<J>) => JobRunner<J>,
  ) {
    const { config } = options;
    this.config = config;
    this.ownsStore = options.store === undefined;
    this.store = options.store ?? JobStore.open(join(config.dataDir, "jobs.sqlite"));
    const kind = options.processKind ?? "service";
    const own = ownSubmitter(kind);
    this.submitter = own.submitter;
    this.releaseSubmitter = own.release;
    this.lock = kind === "service" ? new DataDirLock(config.dataDir) : undefined;
    this.ledger = new StoreLedger(this.store);
    this.files = new JobFiles({
      store: this.store,
      dataDir: config.dataDir,
    });
    this.now = options.now ?? Date.now;
    this.maxAttempts = options.maxAttempts ?? 3;
    this.logger = options.logger ?? silentLogger;
    this.onInternalError =
      options.onInternalError ??
      ((error, where) => this.logger.error({ err: error, where }, "job queue: internal error"));
    this.images = {
      get: (imageId) => this.files.imageBytes(imageId),
      putUpload: (image) => this.files.keepUpload(image),
    };
    this.events = new QueueEventEmitter((error, event) => this.onInternalError(error, `listener:${event}`));
    this.moderator = moderatorFor(config.moderation, {
      logger: this.logger,
      ...(options.moderationTimeoutMs !== undefined ? { timeoutMs: options.moderationTimeoutMs } : {}),
    });
    this.runner = makeRunner(this);
  }

  on<E extends JobQueueEventName>(name: E, listener: JobQueueListener<E>): () => void {
    return this.events.on(name, listener);
  }

  /**
   * For runners: queued and progress events. With moderation on, a progress event goes out without
   * its preview: a preview is a picture of the image to come that no classifier has looked at.
   * Local devices make none then (the config's previewEvery is 0); this holds for a Redis worker
   * started with other settings.
   */
  emit<E extends JobQueueEventName>(name: E, event: JobQueueEvents[E]): void {
    if (this.moderator && name === "progress" && "preview" in event) {
      const { preview: _unchecked, ...rest } = event as JobQueueEvents["progress"];
      this.events.emit("progress", rest);
      return;
    }
    this.events.emit(name, event);
  }

  get isStopping(): boolean {
    return this.stopping;
  }

  /**
   * Takes the data dir (a service queue: a second service on it is refused), loads the moderation
   * classifier when moderation is on, arranges the sweep and starts the runner; rejects when the
   * classifier or a device cannot load or Redis cannot be reached.
   */
  async start(): Promise<void> {
    this.lock?.acquire(this.submitter);
    // Before any device: with moderation on, no job may finish without a classifier to look at it.
    try {
      await this.moderator?.start();
    } catch (error) {
      this.logger.error({ err: error }, error instanceof Error ? error.message : String(error));
      throw error;
    }
    const every = this.options.sweepEveryMs ?? 3_600_000;
    if (this.submitter.kind === "service" && !this.releaseTimer) {
      // Releases written from now on, by this process or `easel admin` on the same store.
      this.releaseCursor = this.store.lastActionId();
      this.releaseTimer = setInterval(() => this.announceReleases(), this.options.releasePollMs ?? 1_000);
      this.releaseTimer.unref();
    }
    if (every > 0 && !this.sweepTimer) {
      this.sweepTimer = setInterval(() => {
        this.sweep().catch((error: unknown) => this.onInternalError(error, "sweep"));
      }, every).unref();
    }
    await this.runner.start();
  }

  /**
   * Puts back the jobs that were queued or running when this kind of process last stopped, in their
   * original order, and emits `recovered` for each. Call once at start-up, after subscribing.
   */
  async recover(): Promise<RecoveryReport> {
    const report: RecoveryReport = { requeued: [], failed: [] };
    // First what the runner still holds (it may ask Redis), then the book's part in one go, so
    // that requeued jobs keep their order in line.
    const found: Array<{ stored: StoredJob; wanted: boolean; adopted: J | undefined }> = [];
    for (const stored of this.store.unfinished()) {
      if (this.runner.isWaiting(stored.id) || this.runner.runningJob(stored.id)) continue;
      // Another live process (a concurrent `easel imagine`, the running service) owns it.
      if (isSubmitterAlive(stored.submitter)) continue;
      // The service's jobs wait for the service's next start; a CLI run only clears dead CLI runs.
      if (stored.submitter.kind === "service" && this.submitter.kind !== "service") continue;
      // Cancelled while it ran, and the process ended before the run did: cancelled for good.
      const wanted =
        stored.cancelledBy === undefined &&
        stored.submitter.kind === "service" &&
        (this.options.requeue ?? requeueUnlessCli)(jobRecordOf(stored));
      found.push({ stored, wanted, adopted: await this.runner.adopt(stored, wanted) });
    }
    for (const { stored, wanted, adopted } of found) {
      if (stored.cancelledBy !== undefined) {
        this.cancelled(this.runner.liveOf(stored), stored.cancelledBy);
      } else if (adopted) {
        this.hold(adopted);
        this.logger.info({ jobId: stored.id }, "job followed again after a restart");
        this.events.emit("recovered", { job: jobRecordOf(stored), requeued: true });
        report.requeued.push(stored.id);
      } else if (wanted && stored.attempts < this.maxAttempts) {
        this.store.markQueued(stored.id);
        const requeued = this.store.get(stored.id)!;
        this.logger.info({ jobId: stored.id, attempts: stored.attempts }, "job requeued after a restart");
        this.events.emit("recovered", { job: jobRecordOf(requeued), requeued: true });
        this.enqueue(this.runner.liveOf(requeued));
        report.requeued.push(stored.id);
      } else {
        const message = wanted
          ? queueMessages.interruptedTooOften()
          : stored.submitter.kind === "cli"
            ? queueMessages.commandLineEnded()
            : queueMessages.interrupted();
        this.store.markFailed(stored.id, { code: "device_failure", message }, this.now());
        this.logger.warn(
          { jobId: stored.id, attempts: stored.attempts },
          "job failed: interrupted by a restart",
        );
        this.events.emit("recovered", {
          job: jobRecordOf(this.store.get(stored.id)!),
          requeued: false,
          message,
        });
        report.failed.push(stored.id);
      }
    }
    this.runner.recovered();
    return report;
  }

  /**
   * Queues a request. Rejects with the pipeline's InvalidInputError for a request the device would
   * refuse, or an EaselError with code "queue_full" when the user's or the overall limit is
   * reached, "stopping" while the queue stops, "not_found" when a source image is gone, or
   * "storage" when the store cannot record it; nothing is stored then.
   */
  async submit(request: GenerationRequest): Promise<SubmitResult> {
    const { queue } = this.config;
    if (this.stopping) throw new EaselError("stopping", queueMessages.stopping());
    validateRequest(request);
    if (request.model !== undefined && !modelNamed(this.config.models, request.model)) {
      const offered = this.config.models.models.map((model) => model.name);
      throw new InvalidInputError(queueMessages.unknownModel(request.model, offered), "model");
    }
    const unrunnable = request.model !== undefined ? this.runner.cannotRun?.(request.model) : undefined;
    if (unrunnable !== undefined) throw new InvalidInputError(unrunnable, "model");
    if ((this.liveByUser.get(request.requester.userId) ?? 0) >= queue.maxJobsPerUser) {
      throw new EaselError("queue_full", queueMessages.userLimit(queue.maxJobsPerUser));
    }
    if (this.liveTotal >= queue.maxJobsTotal) throw new EaselError("queue_full", queueMessages.totalLimit());
    this.files.checkRequestImages(request);
    const stored = this.recordOrThrow("insert", () =>
      this.store.insert({
        id: randomUUID().replaceAll("-", "").slice(0, 16),
        request,
        tier: tierOf(request.requester, queue.priority),
        createdAt: this.now(),
        submitter: this.submitter,
      }),
    );
    const position = this.enqueue(this.runner.liveOf(stored));
    const { requester } = request;
    this.logger.info(
      {
        jobId: stored.id,
        userId: requester.userId,
        platform: requester.platform,
        tier: stored.tier,
        position,
        ...(this.config.logPrompts ? { prompt: request.prompt } : {}),
      },
      "job submitted",
    );
    return { jobId: stored.id, position };
  }

  /**
   * Cancels a waiting or running job. "cancelled": it was waiting and is gone; "stopping": it is
   * running and a `cancelled` event follows once the device has let go of it, even when the run
   * finishes first (its images are dropped). A cancel is answered only once the store holds it:
   * a store that cannot write makes it reject with "storage", and the job carries on as before.
   * Throws "not_found" or "forbidden" EaselErrors; `anyone` lets another user (a moderator) cancel it.
   */
  async cancel(
    jobId: string,
    byUserId: UserId,
    options: { anyone?: boolean } = {},
  ): Promise<"cancelled" | "stopping"> {
    const stored = this.store.get(jobId);
    if (!stored) throw new EaselError("not_found", queueMessages.jobNotFound());
    if (stored.userId !== byUserId && !options.anyone)
      throw new EaselError("forbidden", queueMessages.notYourJob());
    if (this.runner.isWaiting(jobId)) {
      this.recordOrThrow("cancelled", () => this.store.markCancelled(jobId, byUserId, this.now()));
      const removed = this.runner.remove(jobId)!;
      this.announceCancelled(removed, byUserId);
      return "cancelled";
    }
    const running = this.runner.runningJob(jobId);
    if (running) {
      if (!running.cancelRequest) {
        this.recordOrThrow("cancel request", () => this.store.requestCancel(jobId, byUserId));
        running.cancelRequest = { byUserId };
      }
      return this.runner.stopRun(running, byUserId);
    }
    if (this.stopping && stored.status === "queued") {
      // Put aside by stop() for the next start; cancelled now, recover() leaves it be.
      this.recordOrThrow("cancelled", () => this.store.markCancelled(jobId, byUserId, this.now()));
      this.announceCancelled(this.runner.liveOf(stored), byUserId);
      return "cancelled";
    }
    throw new EaselError("not_found", queueMessages.alreadyFinished());
  }

  /** A stored job with its request (what buttons point at). */
  async job(jobId: string): Promise<JobRecord | undefined> {
    const stored = this.store.get(jobId);
    return stored ? jobRecordOf(stored) : undefined;
  }

  async history(userId: UserId, limit = 10): Promise<JobRecord[]> {
    return this.store.historyOf(userId, limit).map(jobRecordOf);
  }

  /** 1-based place in line of a waiting job (0 = about to start); undefined when not waiting. */
  async position(jobId: string): Promise<number | undefined> {
    return this.runner.position(jobId);
  }

  async wait(jobId: string, signal?: AbortSignal): Promise<JobRecord> {
    signal?.throwIfAborted();
    return new Promise<JobRecord>((resolve, reject) => {
      const offs: Array<() => void> = [];
      const finish = (outcome: { record: JobRecord } | { error: unknown }) => {
        for (const off of offs) off();
        signal?.removeEventListener("abort", onAbort);
        if ("record" in outcome) resolve(outcome.record);
        else reject(outcome.error);
      };
      const onAbort = () => finish({ error: signal?.reason ?? new CancelledError() });
      const ended = (status: "done" | "failed" | "cancelled") => (event: { jobId: string }) => {
        if (event.jobId !== jobId) return;
        const stored = this.store.get(jobId);
        if (!stored) return finish({ error: new EaselError("not_found", queueMessages.jobNotFound()) });
        const record = jobRecordOf(stored);
        // A store write that failed leaves the row unfinished; the event is the truth then.
        finish({ record: FINAL_STATUSES.includes(record.status) ? record : { ...record, status } });
      };
      offs.push(this.on("done", ended("done")), this.on("failed", ended("failed")));
      offs.push(this.on("cancelled", ended("cancelled")));
      offs.push(
        this.on("recovered", (event) => {
          if (!event.requeued && event.job.id === jobId) finish({ record: event.job });
        }),
      );
      offs.push(this.onStop(() => finish({ error: new EaselError("stopping", queueMessages.stopping()) })));
      signal?.addEventListener("abort", onAbort, { once: true });
      const stored = this.store.get(jobId);
      if (!stored) finish({ error: new EaselError("not_found", queueMessages.jobNotFound()) });
      else if (FINAL_STATUSES.includes(stored.status)) finish({ record: jobRecordOf(stored) });
    });
  }

  /** Records where a job's images were posted (the sweep keeps them until the retention time all the same). */
  async markPosted(jobId: string, where: string): Promise<void> {
    if (!this.recordOrThrow("posted", () => this.store.markPosted(jobId, where, this.now())))
      throw new EaselError("not_found", queueMessages.jobNotFound());
  }

  /**
   * What runs and waits, each device, and what is wrong (Redis, no device ready, a store that
   * cannot write); resolves within about 2 s whatever the runner's servers do.
   */
  async status(): Promise<QueueStatus> {
    const [runner, store] = await Promise.all([
      withinOr(this.runner.status(STATUS_BOUND_MS - 300), STATUS_BOUND_MS - 200, () => ({
        ...this.runner.size(),
        devices: [],
        problems: [{ component: "redis" as const, message: "The queue's server did not answer in time." }],
      })),
      this.storeProblem(),
    ]);
    const problems: HealthProblem[] = [...runner.problems];
    if (!runner.devices.some((device) => device.ready) && !problems.some((p) => p.component === "devices")) {
      problems.push({ component: "devices", message: "No device is ready to run jobs." });
    }
    if (store) problems.push({ component: "store", message: store });
    return { ...runner, problems };
  }

  /**
   * Deletes image files kept past the retention time (posted or not: buttons use them until then),
   * stray files of jobs that never finished, and expired uploads. Returns how many files were deleted.
   */
  sweep(): Promise<{ deleted: number }> {
    // One sweep at a time; stop() waits for it before closing the store.
    this.sweeping ??= this.files.sweep(this.now(), this.config.retentionHours).finally(() => {
      this.sweeping = undefined;
    });
    return this.sweeping;
  }

  /**
   * Stops taking jobs and lets the runner go; jobs waiting or running stay unfinished in the store
   * for the next start's recover().
   */
  async stop(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    for (const listener of [...this.stopListeners]) listener();
    this.logger.info(this.runner.size(), "job queue stopping");
    clearInterval(this.sweepTimer);
    clearInterval(this.releaseTimer);
    await this.sweeping?.catch(() => {});
    try {
      await this.runner.stop();
      // Expired images go now rather than at the next start's first sweep.
      await this.sweep().catch((error: unknown) => this.onInternalError(error, "sweep"));
    } finally {
      // After the runner: the results it was still finishing have been classified.
      await this.moderator?.stop();
      if (this.ownsStore) this.store.close();
      this.releaseSubmitter();
      this.lock?.release();
    }
  }

  // ---- for runners: the line's bookkeeping and how jobs start and end ----

  /** Counts a job against the limits (waiting or running). */
  hold(job: J): void {
    if (job.counted) return;
    job.counted = true;
    this.liveByUser.set(job.userId, (this.liveByUser.get(job.userId) ?? 0) + 1);
    this.liveTotal += 1;
  }

  /** A job left the line for good (or was put aside by a stop); idempotent. */
  release(job: J): void {
    if (!job.counted) return;
    job.counted = false;
    const count = (this.liveByUser.get(job.userId) ?? 1) - 1;
    if (count > 0) this.liveByUser.set(job.userId, count);
    else this.liveByUser.delete(job.userId);
    this.liveTotal -= 1;
  }

  /**
   * A job started on a device: recorded, logged and told. `again`: it may have been running
   * already (a Redis re-run after its worker died). Returns false when it must not run: no longer
   * queued (cancelled meanwhile) or not recordable (then it has failed with "storage").
   */
  started(job: J, device: string, at: number, again = false): boolean {
    let marked: boolean;
    try {
      if (again) this.store.markQueued(job.id);
      marked = this.store.markRunning(job.id, device, at);
      this.storeWorked();
    } catch (error) {
      this.fail(job, this.storageError("running", this.store.path, error));
      return false;
    }
    if (!marked) {
      this.release(job);
      return false;
    }
    job.attempts += 1;
    this.logger.info({ jobId: job.id, device, attempt: job.attempts }, "job started");
    this.events.emit("started", {
      jobId: job.id,
      requester: job.request.requester,
      device,
      attempt: job.attempts,
    });
    return true;
  }

  /**
   * Classifies a finished job's images when moderation is on, writes them, records them with their
   * decisions (flagged ones in the audit trail too) and tells the adapters; a job cancelled
   * meanwhile ends cancelled (nothing written). Never rejects: what goes wrong fails the job, an
   * image that cannot be classified included (nothing unchecked is ever announced).
   */
  async finish(
    job: J,
    result: { images: ResultImage[]; timings: GenerateTimings },
    times: { startedAt: number; clock: number | undefined; deviceMs: number },
  ): Promise<void> {
    try {
      if (job.cancelRequest) throw new CancelledError();
      const files: FinishedImage[] = [];
      for (const [index, image] of result.images.entries()) {
        const data = typeof image.data === "function" ? await image.data() : image.data;
        const moderation = await this.moderate(job, index, data);
        const path = imageFilePath(this.files.imagesDir, job.id, index, image.mime);
        try {
          await writeFileAtomically(path, data);
        } catch (error) {
          throw this.storageError("image", path, error);
        }
        const { seed, mime, width, height, source } = image;
        files.push({
          path,
          seed,
          mime,
          width,
          height,
          ...(source ? { source } : {}),
          ...(moderation ? { moderation } : {}),
        });
      }
      const seeds = files.map((image) => image.seed);
      const { requester } = job.request;
      this.recordOrThrow("done", () =>
        this.store.markDone(job.id, { seeds, timings: result.timings, images: files }, this.now(), {
          actor: requester.userId,
          place: placeOf(requester),
        }),
      );
      this.release(job);
      const durationMs = times.clock !== undefined ? performance.now() - times.clock : times.deviceMs;
      this.logger.info(
        {
          jobId: job.id,
          durationMs: Math.round(durationMs),
          deviceMs: Math.round(times.deviceMs),
          images: files.length,
        },
        `job done in ${Math.round(durationMs)} ms`,
      );
      this.events.emit("done", {
        jobId: job.id,
        requester: job.request.requester,
        images: files.map((file, index) => ({
          id: imageIdOf(job.id, index),
          jobId: job.id,
          index,
          seed: file.seed,
          mime: file.mime,
          width: file.width,
          height: file.height,
          deleted: false,
          ...(file.source ? { source: file.source } : {}),
          ...(file.moderation ? { moderation: file.moderation } : {}),
        })),
        seeds,
        timings: result.timings,
        durationMs,
        deviceMs: times.deviceMs,
        waitedMs: Math.max(0, times.startedAt - job.createdAt),
      });
    } catch (error) {
      this.fail(job, error);
    }
  }

  /**
   * Records how a job ended early: cancelled (asked, or a CancelledError) or failed with the
   * error's code (an unexpected error is a device failure). Never throws: a store that cannot
   * record it is reported to onInternalError, and the event goes out all the same.
   */
  fail(job: J, error: unknown): void {
    if (job.cancelRequest || error instanceof CancelledError) {
      this.cancelled(job, job.cancelRequest?.byUserId);
      return;
    }
    this.release(job);
    const code: ErrorCode = error instanceof EaselError ? error.code : "device_failure";
    const message = userMessageOf(error);
    const detail = detailOf(error);
    this.logger.warn({ jobId: job.id, code, detail }, `job failed: ${code}`);
    this.writeStore("failed", () => this.store.markFailed(job.id, { code, message }, this.now()));
    this.events.emit("failed", { jobId: job.id, requester: job.request.requester, code, message, detail });
  }

  /** Records a cancellation and tells the adapters. */
  cancelled(job: J, byUserId: UserId | undefined): void {
    this.writeStore("cancelled", () => this.store.markCancelled(job.id, byUserId, this.now()));
    this.announceCancelled(job, byUserId);
  }

  /** A running job interrupted by a stop: back to queued in the store, it runs after the next start. */
  interrupted(job: J): void {
    this.release(job);
    this.logger.info({ jobId: job.id }, "job interrupted by the stop; it runs again after the next start");
    this.writeStore("queued", () => this.store.markQueued(job.id));
  }

  /** Back in the line after its run vanished (a Redis that lost it): queued again in the store. */
  requeue(job: J): number {
    this.release(job);
    this.writeStore("queued", () => this.store.markQueued(job.id));
    return this.enqueue(job);
  }

  // ---- inside ----

  /** Emits `released` for each release recorded since the last look (whichever process wrote it). */
  private announceReleases(): void {
    try {
      for (const release of this.store.releasesAfter(this.releaseCursor)) {
        this.releaseCursor = release.id;
        const cut = release.target.lastIndexOf("-");
        const jobId = release.target.slice(0, cut);
        const stored = this.store.get(jobId);
        if (!stored) continue;
        this.events.emit("released", {
          jobId,
          requester: stored.request.requester,
          imageIndex: Number(release.target.slice(cut + 1)),
          byUserId: release.actor,
        });
      }
    } catch (error) {
      this.onInternalError(error, "releases");
    }
  }

  /** One image's moderation decision (undefined with moderation off); rejects with a ClassificationError. */
  private async moderate(job: J, index: number, image: Uint8Array): Promise<ImageModeration | undefined> {
    if (!this.moderator) return undefined;
    const decision = await this.moderator.moderate(image, job.request.requester);
    const fields = { jobId: job.id, index, ...decision };
    if (decision.flagged) this.logger.info(fields, `image flagged by moderation: ${decision.action}`);
    else this.logger.debug(fields, "image passed moderation");
    return decision;
  }

  private enqueue(job: J): number {
    this.hold(job);
    return this.runner.enqueue(job);
  }

  private announceCancelled(job: J, byUserId: UserId | undefined): void {
    this.release(job);
    this.logger.info({ jobId: job.id, byUserId }, "job cancelled");
    this.events.emit("cancelled", { jobId: job.id, requester: job.request.requester, byUserId });
  }

  /** Called once when stop() begins; returns the unsubscribe function. */
  private onStop(listener: () => void): () => void {
    if (this.stopping) {
      listener();
      return () => {};
    }
    this.stopListeners.add(listener);
    return () => this.stopListeners.delete(listener);
  }

  /** A store write whose failure the caller must hear of: a "storage" EaselError. */
  private recordOrThrow<T>(what: string, write: () => T): T {
    try {
      const result = write();
      this.storeWorked();
      return result;
    } catch (error) {
      throw this.storageError(what, this.store.path, error);
    }
  }

  /**
   * A store write about a job's end. When it throws (disk full, SQLITE_BUSY) the job has ended all
   * the same; the store keeps it unfinished, so the next start's recover() deals with it.
   */
  private writeStore(what: string, write: () => void): void {
    try {
      write();
      this.storeWorked();
    } catch (error) {
      this.storeFailure = `The job store cannot be written (${detailOf(error)}).`;
      this.onInternalError(error, `store:${what}`);
    }
  }

  private storeWorked(): void {
    this.storeFailure = undefined;
  }

  /** A write of `path` failed: the operator's line names it; the user's message does not. */
  private storageError(what: string, path: string, cause: unknown): StorageError {
    if (path === this.store.path) this.storeFailure = `The job store cannot be written (${detailOf(cause)}).`;
    this.logger.error({ err: cause, path, what }, `storage failure: cannot write ${path}`);
    return new StorageError(path, cause);
  }

  /** Why the store cannot take writes, or undefined when it can. */
  private async storeProblem(): Promise<string | undefined> {
    if (this.storeFailure) return this.storeFailure;
    const paths = [this.config.dataDir, this.files.imagesDir];
    if (this.store.path !== ":memory:" && this.store.path !== "") paths.push(this.store.path);
    for (const path of paths) {
      try {
        await access(path, constants.W_OK);
      } catch (error) {
        return `${path} cannot be written (${detailOf(error)}).`;
      }
    }
    return undefined;
  }
}

/** `promise`, or `fallback()` when it does not settle (or fails) within `ms`. */
export async function withinOr<T>(promise: Promise<T>, ms: number, fallback: () => T): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      promise.catch(() => fallback()),
      new Promise<T>((resolve) => {
        timer = setTimeout(() => resolve(fallback()), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}
