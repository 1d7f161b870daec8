/**
 * The generation queue: the one object adapters talk to. It checks limits, stores each request,
 * hands jobs to the dispatcher, runs them on device workers, writes their images, and turns all of
 * it into events. After a restart, recover() puts back what was queued or running.
 */
import { randomUUID } from "node:crypto";
import { mkdirSync } from "node:fs";
import { readFile, rm } from "node:fs/promises";
import { join, resolve } from "node:path";
import type { Config } from "../config.js";
import { CancelledError, EaselError, userMessageOf } from "../errors.js";
import type { GenerationRequest, Requester } from "../requests/request.js";
import { type DeviceResult, DeviceWorker } from "./device.js";
import { type AbortReason, Dispatcher } from "./dispatcher.js";
import type { EngineSpec } from "./engine.js";
import { QueueEventEmitter, type QueueEventName, type QueueListener, type StoredImage } from "./events.js";
import { imageFilePath, listImageFiles, writeFileAtomically } from "./image-files.js";
import { queueMessages } from "./messages.js";
import { tierOf } from "./ordering.js";
import { generateParamsOf, validateRequest } from "./params.js";
import { type JobRecord, JobStore } from "./store.js";

export type { Engine, EngineSpec, SdxlEngineSpec } from "./engine.js";
export type { QueueEventName, QueueEvents, QueueListener, StoredImage } from "./events.js";
export type { SimulatedEngineSpec } from "./simulated-engine.js";
export type { ImageRecord, JobRecord, JobStatus } from "./store.js";
export { JobStore } from "./store.js";

export interface GenerationQueueOptions {
  config: Config;
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
   * ("store:<what>"; the job's event is still emitted). Default: a process warning.
   */
  onInternalError?: (error: unknown, where: string) => void;
  /** How often start() arranges a sweep of posted and expired images; 0 = only when sweep() is called. */
  sweepEveryMs?: number;
}

export interface SubmitResult {
  jobId: string;
  /** 0 = starts at once on a free device; otherwise the 1-based place in line. */
  position: number;
}

export interface RecoveryReport {
  requeued: string[];
  failed: string[];
}

export interface RecoverOptions {
  /**
   * Whether to run an interrupted job again; the others are failed and reported. Default: every
   * job but the command line's (the process that would have printed its result is gone).
   */
  requeue?: (job: JobRecord) => boolean;
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
  userId: string;
  tier: number;
  seq: number;
  request: GenerationRequest;
  createdAt: number;
  /** Starts so far, as the store counts them. */
  attempts: number;
  /** Set by cancel() while the job runs: however the run ends, the job ends cancelled. */
  cancelRequest?: { byUserId: string | undefined };
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
  };
}

export class GenerationQueue {
  readonly store: JobStore;
  readonly devices: readonly DeviceWorker[];
  private readonly ownsStore: boolean;
  private readonly events: QueueEventEmitter;
  private readonly dispatcher: Dispatcher<LiveJob>;
  private readonly imagesDir: string;
  private readonly now: () => number;
  private readonly maxAttempts: number;
  /** Jobs waiting or running, per user and in all: what the limits count. */
  private readonly liveByUser = new Map<string, number>();
  private liveTotal = 0;
  private stopping = false;
  private sweepTimer: NodeJS.Timeout | undefined;
  private sweeping: Promise<{ deleted: number }> | undefined;
  private readonly onInternalError: (error: unknown, where: string) => void;
  /** Finished runs whose images are still being written. */
  private readonly finishing = new Set<Promise<void>>();

  constructor(private readonly options: GenerationQueueOptions) {
    const { config } = options;
    this.ownsStore = options.store === undefined;
    this.store = options.store ?? JobStore.open(join(config.dataDir, "jobs.sqlite"));
    this.imagesDir = resolve(config.dataDir, "images");
    mkdirSync(this.imagesDir, { recursive: true });
    this.now = options.now ?? Date.now;
    this.maxAttempts = options.maxAttempts ?? 3;
    this.onInternalError =
      options.onInternalError ??
      ((error, where) => process.emitWarning(`generation queue, ${where}: ${String(error)}`));
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

  on<E extends QueueEventName>(name: E, listener: QueueListener<E>): () => void {
    return this.events.on(name, listener);
  }

  off<E extends QueueEventName>(name: E, listener: QueueListener<E>): void {
    this.events.off(name, listener);
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
  recover(options: RecoverOptions = {}): RecoveryReport {
    const report: RecoveryReport = { requeued: [], failed: [] };
    for (const job of this.store.unfinished()) {
      if (this.dispatcher.isWaiting(job.id) || this.dispatcher.isRunning(job.id)) continue;
      const wanted = (options.requeue ?? requeueUnlessCli)(job);
      if (wanted && job.attempts < this.maxAttempts) {
        this.store.markQueued(job.id);
        const requeued = this.store.get(job.id)!;
        this.events.emit("recovered", { job: requeued, requeued: true });
        this.enqueue(requeued);
        report.requeued.push(job.id);
      } else {
        const message = wanted ? queueMessages.interruptedTooOften() : queueMessages.interrupted();
        this.store.markFailed(job.id, { code: "device_failure", message }, this.now());
        this.events.emit("recovered", { job: this.store.get(job.id)!, requeued: false, message });
        report.failed.push(job.id);
      }
    }
    return report;
  }

  /**
   * Queues a request. Throws the pipeline's InvalidInputError for a request the device would
   * refuse, or an EaselError with code "queue_full" when the user's or the overall limit is
   * reached, or "not_found" when a source image is gone; nothing is stored then.
   */
  submit(request: GenerationRequest): SubmitResult {
    const { queue } = this.options.config;
    if (this.stopping) throw new EaselError("queue_full", queueMessages.stopping());
    validateRequest(request);
    if ((this.liveByUser.get(request.requester.userId) ?? 0) >= queue.maxJobsPerUser) {
      throw new EaselError("queue_full", queueMessages.userLimit(queue.maxJobsPerUser));
    }
    if (this.liveTotal >= queue.maxJobsTotal) throw new EaselError("queue_full", queueMessages.totalLimit());
    if (request.source) this.checkSource(request.source);
    const record = this.store.insert({
      id: randomUUID().replaceAll("-", "").slice(0, 16),
      request,
      tier: tierOf(request.requester, queue.priority),
      createdAt: this.now(),
    });
    const position = this.enqueue(record);
    return { jobId: record.id, position };
  }

  /**
   * Cancels a waiting or running job. "cancelled": it was waiting and is gone; "stopping": it is
   * running and a `cancelled` event follows once the device has let go of it, even when the run
   * finishes first (its images are dropped). Throws "not_found" or "forbidden" EaselErrors;
   * `anyone` lets another user (a moderator) cancel it.
   */
  cancel(jobId: string, byUserId: string, options: { anyone?: boolean } = {}): "cancelled" | "stopping" {
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
  job(jobId: string): JobRecord | undefined {
    return this.store.get(jobId);
  }

  historyOf(userId: string, limit = 10): JobRecord[] {
    return this.store.historyOf(userId, limit);
  }

  /** 1-based place in line of a waiting job (0 = about to start); undefined when not waiting. */
  positionOf(jobId: string): number | undefined {
    return this.dispatcher.positionOf(jobId);
  }

  status(): {
    waiting: number;
    running: number;
    devices: Array<{ device: string; jobId: string | undefined }>;
  } {
    return { ...this.dispatcher.size, devices: this.dispatcher.devicesStatus() };
  }

  /** Records where a job's images were posted; the next sweep deletes their files. */
  markPosted(jobId: string, where: string): void {
    if (!this.store.markPosted(jobId, where, this.now()))
      throw new EaselError("not_found", queueMessages.jobNotFound());
  }

  /**
   * Deletes image files that were posted or kept past the retention time, and stray files of jobs
   * that never finished. Returns how many files were deleted.
   */
  sweep(): Promise<{ deleted: number }> {
    // One sweep at a time; stop() waits for it before closing the store.
    this.sweeping ??= this.sweepOnce().finally(() => {
      this.sweeping = undefined;
    });
    return this.sweeping;
  }

  private async sweepOnce(): Promise<{ deleted: number }> {
    const now = this.now();
    const cutoff = now - this.options.config.retentionHours * 3_600_000;
    let deleted = 0;
    for (const candidate of this.store.sweepCandidates(cutoff)) {
      await rm(candidate.path, { force: true });
      this.store.markImageDeleted(candidate.jobId, candidate.index, now);
      deleted += 1;
    }
    for (const file of await listImageFiles(this.imagesDir)) {
      if (this.store.isFileInUse(file.path, file.jobId)) continue;
      await rm(file.path, { force: true });
      deleted += 1;
    }
    return { deleted };
  }

  /**
   * Stops taking jobs, interrupts running ones (they stay queued in the store and run again after
   * the next start's recover()), and lets the device workers go.
   */
  async stop(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    clearInterval(this.sweepTimer);
    await this.sweeping?.catch(() => {});
    await this.dispatcher.stop();
    await Promise.all([...this.devices.map((device) => device.stop()), ...this.finishing]);
    if (this.ownsStore) this.store.close();
  }

  private enqueue(record: JobRecord): number {
    this.liveByUser.set(record.userId, (this.liveByUser.get(record.userId) ?? 0) + 1);
    this.liveTotal += 1;
    const { id, userId, tier, seq, request, createdAt, attempts } = record;
    return this.dispatcher.enqueue({ id, userId, tier, seq, request, createdAt, attempts });
  }

  /** A job left the queue (finished, or put aside by a stop); called before its final event. */
  private release(userId: string): void {
    const count = (this.liveByUser.get(userId) ?? 1) - 1;
    if (count > 0) this.liveByUser.set(userId, count);
    else this.liveByUser.delete(userId);
    this.liveTotal -= 1;
  }

  private checkSource(source: NonNullable<GenerationRequest["source"]>): void {
    const job = this.store.get(source.jobId);
    if (!job) throw new EaselError("not_found", queueMessages.jobNotFound());
    if (job.status !== "done") throw new EaselError("not_found", queueMessages.sourceJobNotFinished());
    const image = job.images[source.imageIndex];
    if (!image || (image.deleted && !this.options.loadPostedImage)) {
      throw new EaselError("not_found", queueMessages.sourceImageGone(source.imageIndex + 1));
    }
  }

  private async sourceImageOf(source: NonNullable<GenerationRequest["source"]>): Promise<Uint8Array> {
    const job = this.store.get(source.jobId);
    const image = job?.images[source.imageIndex];
    if (job && image && !image.deleted) {
      try {
        return await readFile(image.path);
      } catch {
        // swept meanwhile, or removed by hand: try where it was posted
      }
    }
    const posted = job ? await this.options.loadPostedImage?.(job, source.imageIndex) : undefined;
    if (!posted) throw new EaselError("not_found", queueMessages.sourceImageGone(source.imageIndex + 1));
    return posted;
  }

  /**
   * One job on one device; never rejects. Resolves (freeing the device for the next job) as soon as
   * the engine's result is back; writing the images and recording the job carry on beside it.
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
    this.events.emit("started", { jobId: job.id, requester, device: device.device, attempt: job.attempts });
    try {
      const source = job.request.source ? await this.sourceImageOf(job.request.source) : undefined;
      const result = await device.run(job.id, generateParamsOf(job.request, source), {
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
      // The result crossed a cancel on its way back: cancel() promised a `cancelled` event.
      if (job.cancelRequest) throw new CancelledError();
      const deviceMs = performance.now() - clock;
      const finishing = this.finish(job, result, { startedAt, clock, deviceMs }).catch((error: unknown) =>
        this.onInternalError(error, "finish"),
      );
      this.finishing.add(finishing);
      void finishing.finally(() => this.finishing.delete(finishing));
    } catch (error) {
      this.fail(job, error, signal);
    }
  }

  /** Writes a finished job's images, records it and tells the adapters; never rejects. */
  private async finish(
    job: LiveJob,
    result: DeviceResult,
    times: { startedAt: number; clock: number; deviceMs: number },
  ): Promise<void> {
    try {
      const images: StoredImage[] = [];
      for (const [index, image] of result.images.entries()) {
        const path = imageFilePath(this.imagesDir, job.id, index, image.mime);
        await writeFileAtomically(path, image.data);
        const { mime, width, height, data } = image;
        images.push({ index, path, seed: image.seed.toString(), mime, width, height, data });
      }
      const seeds = images.map((image) => image.seed);
      this.store.markDone(job.id, { seeds, timings: result.timings, images }, this.now());
      this.release(job.userId);
      this.events.emit("done", {
        jobId: job.id,
        requester: job.request.requester,
        images,
        seeds,
        timings: result.timings,
        durationMs: performance.now() - times.clock,
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
      this.writeStore("queued", () => this.store.markQueued(job.id));
    } else {
      const code = error instanceof EaselError ? error.code : "device_failure";
      const message = userMessageOf(error);
      this.writeStore("failed", () => this.store.markFailed(job.id, { code, message }, this.now()));
      this.events.emit("failed", { jobId: job.id, requester, code, message, detail: detailOf(error) });
    }
  }

  /** Records a cancellation and tells the adapters. */
  private cancelled(jobId: string, requester: Requester, byUserId: string | undefined): void {
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
