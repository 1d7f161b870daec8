/**
 * The embedded JobQueue backend: one worker thread per device and a SQLite job store, in this
 * process. It checks limits, stores each request, hands jobs to the dispatcher, runs them on device
 * workers, writes their images, and turns all of it into events. After a restart, recover() puts
 * back what was queued or running.
 */
import { randomUUID } from "node:crypto";
import { join } from "node:path";
import type { Config } from "../config.js";
import { CancelledError, EaselError, type ErrorCode, userMessageOf } from "../errors.js";
import { type Logger, silentLogger } from "../logger.js";
import type { GenerationRequest, Requester, UserId } from "../requests/request.js";
import { type DeviceResult, type DeviceRun, DeviceWorker } from "./device.js";
import { type AbortReason, Dispatcher } from "./dispatcher.js";
import type { EngineSpec } from "./engine.js";
import { QueueEventEmitter } from "./events.js";
import { imageFilePath, writeFileAtomically } from "./image-files.js";
import { JobFiles } from "./job-files.js";
import {
  FINAL_STATUSES,
  type ImageRef,
  type ImageStore,
  type JobQueue,
  type JobQueueEventName,
  type JobQueueListener,
  type JobRecord,
  type QueueStatus,
  type RecoveryReport,
  type SubmitResult,
} from "./job-queue.js";
import { StoreLedger } from "./ledger.js";
import { queueMessages } from "./messages.js";
import { tierOf } from "./ordering.js";
import { generateParamsOf, validateRequest } from "./params.js";
import { JobStore, type StoredJob } from "./store.js";
import { isSubmitterAlive, ownSubmitter, type ProcessKind, type Submitter } from "./submitter.js";

export interface EmbeddedJobQueueOptions {
  config: Config;
  /** Job lifecycle lines and internal errors; default: none. */
  logger?: Logger;
  /** The engine each device runs; by default the SDXL pipeline from the config's model folders. */
  engineFor?: (device: string) => EngineSpec;
  /** By default <dataDir>/jobs.sqlite, opened and closed by the queue. */
  store?: JobStore;
  /** Milliseconds since the epoch; injectable for tests of retention. */
  now?: () => number;
  /** Runs a job that was interrupted this many times gets failed instead of requeued on recovery. */
  maxAttempts?: number;
  cancelGraceMs?: number;
  shutdownGraceMs?: number;
  /**
   * Fetches a source image whose file was already swept (posted and deleted), e.g. from where it
   * was posted; undefined when it cannot.
   */
  loadPostedImage?: (job: JobRecord, imageIndex: number) => Promise<Uint8Array | undefined>;
  /**
   * Where errors nobody else can handle go: a listener that threw (`where` is "listener:<event>"),
   * a failed background sweep ("sweep"), or a store write about a job's end that failed
   * ("store:<what>"; the job's event is still emitted). Default: the logger, at error level.
   */
  onInternalError?: (error: unknown, where: string) => void;
  /** How often start() arranges a sweep of posted and expired images; 0 = only when sweep() is called. */
  sweepEveryMs?: number;
  /**
   * Which interrupted jobs recover() runs again; the others are failed and reported. Default: every
   * job but the command line's (the process that would have printed its result is gone).
   */
  requeue?: (job: JobRecord) => boolean;
  /**
   * The kind of process this queue runs in, recorded with each job it takes. recover() touches
   * only jobs whose submitting queue is gone: a "service" queue resumes dead service jobs (and
   * fails dead CLI ones); a "cli" queue fails dead CLI jobs and leaves the service's to the next
   * service start. Default: "service".
   */
  processKind?: ProcessKind;
}

/** The internal story of an error, for the operator's logs: its message and its causes'. */
function detailOf(error: unknown): string {
  const parts: string[] = [];
  for (
    let e: unknown = error;
    e !== undefined && parts.length < 4;
    e = e instanceof Error ? e.cause : undefined
  ) {
    parts.push(e instanceof Error ? e.message : String(e));
  }
  return parts.join(" <- ");
}

const requeueUnlessCli = (job: JobRecord) => job.request.requester.platform !== "cli";

/** A job in memory while it waits or runs. */
interface LiveJob {
  id: string;
  userId: UserId;
  tier: number;
  seq: number;
  request: GenerationRequest;
  createdAt: number;
  /** Starts so far, as the store counts them. */
  attempts: number;
  /** Set by cancel() while the job runs: however the run ends, the job ends cancelled. */
  cancelRequest?: { byUserId: UserId | undefined };
}

/** The SDXL engine the config describes, for one device. */
export function sdxlEngineFor(config: Config, device: string): EngineSpec {
  return {
    kind: "sdxl",
    modelDir: config.modelDir,
    ...(config.refinerDir ? { refinerDir: config.refinerDir } : {}),
    ...(config.vaeFallback ? { vaeFallback: config.vaeFallback } : {}),
    device,
    intraOpThreads: config.ort.intraOpThreads,
    exclamationAsPad: !config.generation.openClipExclamation,
    // Big models load from ONNX Runtime's saved optimised graph after their first load.
    optimizedCacheDir: join(config.dataDir, "onnx-cache"),
  };
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
      }),
    ),
  };
}

const isFinal = (record: JobRecord) => FINAL_STATUSES.includes(record.status);

export class EmbeddedJobQueue implements JobQueue {
  readonly images: ImageStore;
  readonly ledger: StoreLedger;
  private readonly store: JobStore;
  private readonly devices: readonly DeviceWorker[];
  private readonly logger: Logger;
  private readonly ownsStore: boolean;
  private readonly events: QueueEventEmitter;
  private readonly dispatcher: Dispatcher<LiveJob>;
  private readonly files: JobFiles;
  private readonly now: () => number;
  private readonly maxAttempts: number;
  /** Jobs waiting or running, per user and in all: what the limits count. */
  private readonly liveByUser = new Map<UserId, number>();
  private liveTotal = 0;
  private stopping = false;
  private readonly stopListeners = new Set<() => void>();
  private sweepTimer: NodeJS.Timeout | undefined;
  private sweeping: Promise<{ deleted: number }> | undefined;
  private readonly onInternalError: (error: unknown, where: string) => void;
  /** Finished runs whose images are still being written. */
  private readonly finishing = new Set<Promise<void>>();
  /** This queue, as recorded with each job it takes (see submitter.ts). */
  private readonly submitter: Submitter;
  private readonly releaseSubmitter: () => void;

  constructor(private readonly options: EmbeddedJobQueueOptions) {
    const { config } = options;
    this.ownsStore = options.store === undefined;
    this.store = options.store ?? JobStore.open(join(config.dataDir, "jobs.sqlite"));
    const own = ownSubmitter(options.processKind ?? "service");
    this.submitter = own.submitter;
    this.releaseSubmitter = own.release;
    this.ledger = new StoreLedger(this.store);
    this.files = new JobFiles({
      store: this.store,
      dataDir: config.dataDir,
      recordOf: jobRecordOf,
      ...(options.loadPostedImage ? { loadPostedImage: options.loadPostedImage } : {}),
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
    const engineFor = options.engineFor ?? ((device: string) => sdxlEngineFor(config, device));
    this.devices = config.devices.map(
      (device) =>
        new DeviceWorker({
          device,
          engine: engineFor(device),
          previewEvery: config.generation.previewEvery,
          jobTimeoutMs: config.queue.jobTimeoutMs,
          ...(options.cancelGraceMs !== undefined ? { cancelGraceMs: options.cancelGraceMs } : {}),
          ...(options.shutdownGraceMs !== undefined ? { shutdownGraceMs: options.shutdownGraceMs } : {}),
        }),
    );
    this.dispatcher = new Dispatcher<LiveJob>({
      devices: this.devices,
      run: (job, device, signal) => this.run(job, device, signal),
      onPositions: (changes) => {
        for (const { job, position } of changes) {
          this.events.emit("queued", { jobId: job.id, requester: job.request.requester, position });
        }
      },
    });
  }

  on<E extends JobQueueEventName>(name: E, listener: JobQueueListener<E>): () => void {
    return this.events.on(name, listener);
  }

  /** Starts every device's worker and loads its engine; rejects when one cannot load. */
  async start(): Promise<void> {
    const every = this.options.sweepEveryMs ?? 3_600_000;
    if (every > 0 && !this.sweepTimer) {
      this.sweepTimer = setInterval(() => {
        this.sweep().catch((error: unknown) => this.onInternalError(error, "sweep"));
      }, every).unref();
    }
    await Promise.all(this.devices.map((device) => device.warmUp()));
  }

  /**
   * Puts back the jobs that were queued or running when the process last stopped, in their
   * original order, and emits `recovered` for each. Call once at start-up, after subscribing.
   */
  async recover(): Promise<RecoveryReport> {
    const report: RecoveryReport = { requeued: [], failed: [] };
    for (const job of this.store.unfinished()) {
      if (this.dispatcher.isWaiting(job.id) || this.dispatcher.isRunning(job.id)) continue;
      // Another live process (a concurrent `easel imagine`, the running service) owns it.
      if (isSubmitterAlive(job.submitter)) continue;
      // The service's jobs wait for the service's next start; a CLI run only clears dead CLI runs.
      if (job.submitter.kind === "service" && this.submitter.kind !== "service") continue;
      const wanted =
        job.submitter.kind === "service" && (this.options.requeue ?? requeueUnlessCli)(jobRecordOf(job));
      if (wanted && job.attempts < this.maxAttempts) {
        this.store.markQueued(job.id);
        const requeued = this.store.get(job.id)!;
        this.logger.info({ jobId: job.id, attempts: job.attempts }, "job requeued after a restart");
        this.events.emit("recovered", { job: jobRecordOf(requeued), requeued: true });
        this.enqueue(requeued);
        report.requeued.push(job.id);
      } else {
        const message = wanted
          ? queueMessages.interruptedTooOften()
          : job.submitter.kind === "cli"
            ? queueMessages.commandLineEnded()
            : queueMessages.interrupted();
        this.store.markFailed(job.id, { code: "device_failure", message }, this.now());
        this.logger.warn({ jobId: job.id, attempts: job.attempts }, "job failed: interrupted by a restart");
        this.events.emit("recovered", {
          job: jobRecordOf(this.store.get(job.id)!),
          requeued: false,
          message,
        });
        report.failed.push(job.id);
      }
    }
    return report;
  }

  /**
   * Queues a request. Rejects with the pipeline's InvalidInputError for a request the device would
   * refuse, or an EaselError with code "queue_full" when the user's or the overall limit is
   * reached, "stopping" while the queue stops, or "not_found" when a source image is gone; nothing
   * is stored then.
   */
  async submit(request: GenerationRequest): Promise<SubmitResult> {
    const { queue } = this.options.config;
    if (this.stopping) throw new EaselError("stopping", queueMessages.stopping());
    validateRequest(request);
    if ((this.liveByUser.get(request.requester.userId) ?? 0) >= queue.maxJobsPerUser) {
      throw new EaselError("queue_full", queueMessages.userLimit(queue.maxJobsPerUser));
    }
    if (this.liveTotal >= queue.maxJobsTotal) throw new EaselError("queue_full", queueMessages.totalLimit());
    if (request.source) this.files.checkSource(request.source);
    const record = this.store.insert({
      id: randomUUID().replaceAll("-", "").slice(0, 16),
      request,
      tier: tierOf(request.requester, queue.priority),
      createdAt: this.now(),
      submitter: this.submitter,
    });
    const position = this.enqueue(record);
    const { requester } = request;
    this.logger.info(
      {
        jobId: record.id,
        userId: requester.userId,
        platform: requester.platform,
        tier: record.tier,
        position,
        ...(this.options.config.logPrompts ? { prompt: request.prompt } : {}),
      },
      "job submitted",
    );
    return { jobId: record.id, position };
  }

  /**
   * Cancels a waiting or running job. "cancelled": it was waiting and is gone; "stopping": it is
   * running and a `cancelled` event follows once the device has let go of it, even when the run
   * finishes first (its images are dropped). Throws "not_found" or "forbidden" EaselErrors;
   * `anyone` lets another user (a moderator) cancel it.
   */
  async cancel(
    jobId: string,
    byUserId: UserId,
    options: { anyone?: boolean } = {},
  ): Promise<"cancelled" | "stopping"> {
    const job = this.store.get(jobId);
    if (!job) throw new EaselError("not_found", queueMessages.jobNotFound());
    if (job.userId !== byUserId && !options.anyone)
      throw new EaselError("forbidden", queueMessages.notYourJob());
    const removed = this.dispatcher.remove(jobId);
    if (removed) {
      this.release(removed.userId);
      this.cancelled(job.id, job.request.requester, byUserId);
      return "cancelled";
    }
    const running = this.dispatcher.runningJob(jobId);
    if (running) {
      running.cancelRequest ??= { byUserId };
      this.dispatcher.abort(jobId, { kind: "cancel", byUserId });
      return "stopping";
    }
    if (this.stopping && job.status === "queued") {
      // Put aside by stop() for the next start; cancelled now, recover() leaves it be.
      this.cancelled(job.id, job.request.requester, byUserId);
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
    return this.dispatcher.positionOf(jobId);
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
        finish({ record: isFinal(record) ? record : { ...record, status } });
      };
      offs.push(this.on("done", ended("done")), this.on("failed", ended("failed")));
      offs.push(this.on("cancelled", ended("cancelled")));
      offs.push(this.onStop(() => finish({ error: new EaselError("stopping", queueMessages.stopping()) })));
      signal?.addEventListener("abort", onAbort, { once: true });
      const stored = this.store.get(jobId);
      if (!stored) finish({ error: new EaselError("not_found", queueMessages.jobNotFound()) });
      else if (isFinal(jobRecordOf(stored))) finish({ record: jobRecordOf(stored) });
    });
  }

  async status(): Promise<QueueStatus> {
    return {
      ...this.dispatcher.size,
      devices: this.dispatcher.devicesStatus().map((entry, i) => ({
        ...entry,
        threadsStarted: this.devices[i]!.threadsStarted,
      })),
    };
  }

  /** Records where a job's images were posted; the next sweep deletes their files. */
  async markPosted(jobId: string, where: string): Promise<void> {
    if (!this.store.markPosted(jobId, where, this.now()))
      throw new EaselError("not_found", queueMessages.jobNotFound());
  }

  /**
   * Deletes image files that were posted or kept past the retention time, and stray files of jobs
   * that never finished. Returns how many files were deleted.
   */
  sweep(): Promise<{ deleted: number }> {
    // One sweep at a time; stop() waits for it before closing the store.
    this.sweeping ??= this.files.sweep(this.now(), this.options.config.retentionHours).finally(() => {
      this.sweeping = undefined;
    });
    return this.sweeping;
  }

  /**
   * Stops taking jobs, interrupts running ones (they stay queued in the store and run again after
   * the next start's recover()), and lets the device workers go.
   */
  async stop(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    for (const listener of [...this.stopListeners]) listener();
    this.logger.info(
      { waiting: this.dispatcher.size.waiting, running: this.dispatcher.size.running },
      "job queue stopping",
    );
    clearInterval(this.sweepTimer);
    await this.sweeping?.catch(() => {});
    await this.dispatcher.stop();
    await Promise.all([...this.devices.map((device) => device.stop()), ...this.finishing]);
    // Posted and expired images go now rather than at the next start's first sweep.
    await this.sweep().catch((error: unknown) => this.onInternalError(error, "sweep"));
    if (this.ownsStore) this.store.close();
    this.releaseSubmitter();
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

  private enqueue(record: StoredJob): number {
    this.liveByUser.set(record.userId, (this.liveByUser.get(record.userId) ?? 0) + 1);
    this.liveTotal += 1;
    const { id, userId, tier, seq, request, createdAt, attempts } = record;
    return this.dispatcher.enqueue({ id, userId, tier, seq, request, createdAt, attempts });
  }

  /** A job left the queue (finished, or put aside by a stop); called before its final event. */
  private release(userId: UserId): void {
    const count = (this.liveByUser.get(userId) ?? 1) - 1;
    if (count > 0) this.liveByUser.set(userId, count);
    else this.liveByUser.delete(userId);
    this.liveTotal -= 1;
  }

  /**
   * One job on one device; never rejects. Resolves (freeing the device for the next job) as soon as
   * the device lets the run go, which is before its images are encoded; encoding, writing the
   * images and recording the job carry on beside the next job.
   */
  private async run(job: LiveJob, device: DeviceWorker, signal: AbortSignal): Promise<void> {
    const requester: Requester = job.request.requester;
    const startedAt = this.now();
    const clock = performance.now();
    let marked: boolean;
    try {
      marked = this.store.markRunning(job.id, device.device, startedAt);
    } catch (error) {
      this.fail(job, error, signal);
      return;
    }
    if (!marked) {
      this.release(job.userId);
      return;
    }
    job.attempts += 1;
    this.logger.info({ jobId: job.id, device: device.device, attempt: job.attempts }, "job started");
    this.events.emit("started", { jobId: job.id, requester, device: device.device, attempt: job.attempts });
    let run: DeviceRun;
    try {
      const source = job.request.source ? await this.files.sourceImageOf(job.request.source) : undefined;
      run = await device.start(job.id, generateParamsOf(job.request, source), {
        signal,
        onProgress: (progress) =>
          this.events.emit("progress", {
            jobId: job.id,
            requester,
            step: progress.step,
            total: progress.totalSteps,
            stage: progress.stage,
            ...(progress.preview ? { preview: progress.preview } : {}),
          }),
      });
    } catch (error) {
      this.fail(job, error, signal);
      return;
    }
    const freed = await run.freed;
    const deviceMs = performance.now() - clock;
    const ended = async () => {
      try {
        const result = await run.result;
        // The result crossed a cancel on its way back: cancel() promised a `cancelled` event.
        if (job.cancelRequest) throw new CancelledError();
        return result;
      } catch (error) {
        this.fail(job, error, signal);
        return undefined;
      }
    };
    if (freed === "ended") {
      // Ended on the device (failed, cancelled, or done without letting it go early): the job's
      // end is recorded before the next job starts, as it always was.
      const result = await ended();
      if (result) this.track(this.finish(job, result, { startedAt, clock, deviceMs }));
      return;
    }
    this.track(
      ended().then((result) =>
        result ? this.finish(job, result, { startedAt, clock, deviceMs }) : undefined,
      ),
    );
  }

  /** Keeps a job's tail (encoding, writing images) until it ends, so stop() can wait for it. */
  private track(tail: Promise<void>): void {
    const finishing = tail.catch((error: unknown) => this.onInternalError(error, "finish"));
    this.finishing.add(finishing);
    void finishing.finally(() => this.finishing.delete(finishing));
  }

  /** Writes a finished job's images, records it and tells the adapters; never rejects. */
  private async finish(
    job: LiveJob,
    result: DeviceResult,
    times: { startedAt: number; clock: number; deviceMs: number },
  ): Promise<void> {
    try {
      const files = [];
      for (const [index, image] of result.images.entries()) {
        const path = imageFilePath(this.files.imagesDir, job.id, index, image.mime);
        await writeFileAtomically(path, image.data);
        const { mime, width, height } = image;
        files.push({ path, seed: image.seed.toString(), mime, width, height });
      }
      const seeds = files.map((image) => image.seed);
      this.store.markDone(job.id, { seeds, timings: result.timings, images: files }, this.now());
      this.release(job.userId);
      const durationMs = performance.now() - times.clock;
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
        })),
        seeds,
        timings: result.timings,
        durationMs,
        deviceMs: times.deviceMs,
        waitedMs: Math.max(0, times.startedAt - job.createdAt),
      });
    } catch (error) {
      this.fail(job, error, undefined);
    }
  }

  /**
   * Records how a job ended early: cancelled, put back (stop), or failed. Never throws: a store
   * that cannot record it is reported to onInternalError, and the event goes out all the same.
   */
  private fail(job: LiveJob, error: unknown, signal: AbortSignal | undefined): void {
    const requester = job.request.requester;
    const reason = signal?.aborted ? (signal.reason as AbortReason) : undefined;
    this.release(job.userId);
    if (job.cancelRequest || (error instanceof CancelledError && reason?.kind !== "stop")) {
      this.cancelled(job.id, requester, job.cancelRequest?.byUserId);
    } else if (reason?.kind === "stop") {
      // interrupted by a shutdown: runs again after the next start
      this.logger.info({ jobId: job.id }, "job interrupted by the stop; it runs again after the next start");
      this.writeStore("queued", () => this.store.markQueued(job.id));
    } else {
      const code: ErrorCode = error instanceof EaselError ? error.code : "device_failure";
      const message = userMessageOf(error);
      const detail = detailOf(error);
      this.logger.warn({ jobId: job.id, code, detail }, `job failed: ${code}`);
      this.writeStore("failed", () => this.store.markFailed(job.id, { code, message }, this.now()));
      this.events.emit("failed", { jobId: job.id, requester, code, message, detail });
    }
  }

  /** Records a cancellation and tells the adapters. */
  private cancelled(jobId: string, requester: Requester, byUserId: UserId | undefined): void {
    this.logger.info({ jobId, byUserId }, "job cancelled");
    this.writeStore("cancelled", () => this.store.markCancelled(jobId, byUserId, this.now()));
    this.events.emit("cancelled", { jobId, requester, byUserId });
  }

  /**
   * A store write about a job's end. When it throws (disk full, SQLITE_BUSY) the job has ended all
   * the same; the store keeps it unfinished, so the next start's recover() deals with it.
   */
  private writeStore(what: string, write: () => void): void {
    try {
      write();
    } catch (error) {
      this.onInternalError(error, `store:${what}`);
    }
  }
}
