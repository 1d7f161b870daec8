/**
 * The scale-out JobQueue: the gateway side of the BullMQ backend. It keeps what the embedded queue
 * keeps — the SQLite job store as the source of truth for records, history and buttons, the image
 * files, limits, the fair order — and hands the running to `easel worker` processes through Redis:
 * jobs are released into BullMQ a bounded number at a time (release-line.ts), progress and
 * previews come back through BullMQ's progress events, results through the job's return value and
 * Redis keys. Completion is taken from the job's state in Redis (polled for every released job, and
 * read at once on QueueEvents' hint), never from the best-effort event stream alone, so a missed
 * event, a Redis restart or a gateway restart loses nothing.
 */
import { randomUUID } from "node:crypto";
import { join } from "node:path";
import { Job, Queue, QueueEvents } from "bullmq";
import type { Redis } from "ioredis";
import type { Config } from "../../config.js";
import { CancelledError, ConfigError, EaselError, type ErrorCode, userMessageOf } from "../../errors.js";
import { type Logger, silentLogger } from "../../logger.js";
import type { EncodedImage } from "../../pipeline/types.js";
import type { GenerationRequest, UserId } from "../../requests/request.js";
import { imageIdOf, jobRecordOf, sdxlEngineFor } from "../embedded.js";
import type { EngineSpec } from "../engine.js";
import { QueueEventEmitter } from "../events.js";
import { imageFilePath, writeFileAtomically } from "../image-files.js";
import { JobFiles } from "../job-files.js";
import {
  FINAL_STATUSES,
  type ImageStore,
  type JobQueue,
  type JobQueueEventName,
  type JobQueueListener,
  type JobRecord,
  type QueueStatus,
  type RecoveryReport,
  type SubmitResult,
} from "../job-queue.js";
import { StoreLedger } from "../ledger.js";
import { queueMessages } from "../messages.js";
import { tierOf } from "../ordering.js";
import { validateRequest } from "../params.js";
import { JobStore, type StoredJob } from "../store.js";
import { isSubmitterAlive, ownSubmitter, type Submitter } from "../submitter.js";
import { atMost, connectRedis, redactRedisUrl, untilReady } from "./connection.js";
import { type ConsumerTimings, DeviceConsumer } from "./consumer.js";
import { BULL_PREFIX, CANCEL_CHANNEL, QUEUE_NAME, redisKeys } from "./keys.js";
import {
  decodeFailure,
  isRemoteProgress,
  type RemoteJobData,
  type RemoteProgress,
  type RemoteResult,
} from "./protocol.js";
import { readWorkers, readyWorkers } from "./registry.js";
import { ReleaseLine } from "./release-line.js";

/** How long a stop waits for Redis before it lets go anyway. */
const STOP_WAIT_MS = 5_000;

/** Timings of the scaled-out backend that tests and benches may shorten. */
export interface RedisTuning {
  /** Local devices' BullMQ lock and stall timings. */
  consumerTimings?: Partial<ConsumerTimings>;
  /** Jobs released beyond the live workers, so that a worker never waits for the gateway (default 1). */
  releaseMargin?: number;
  /** How often released jobs' states and the workers' statuses are read (default 1 s). */
  pollMs?: number;
  /** A worker whose heartbeat is older than this is not counted (default 10 s). */
  workerStaleMs?: number;
}

export interface RedisJobQueueOptions extends RedisTuning {
  config: Config & { redisUrl: string };
  logger?: Logger;
  /** By default <dataDir>/jobs.sqlite, opened and closed by the queue. */
  store?: JobStore;
  /** Devices this process runs itself (an all-in-one gateway); default none. */
  localDevices?: readonly string[];
  /** The engine of a local device; by default the SDXL pipeline from the config. */
  engineFor?: (device: string) => EngineSpec;
  now?: () => number;
  cancelGraceMs?: number;
  shutdownGraceMs?: number;
  /** Runs a job that was interrupted this many times gets failed instead of requeued on recovery. */
  maxAttempts?: number;
  loadPostedImage?: (job: JobRecord, imageIndex: number) => Promise<Uint8Array | undefined>;
  onInternalError?: (error: unknown, where: string) => void;
  sweepEveryMs?: number;
  requeue?: (job: JobRecord) => boolean;
  /** How long Redis keeps source images for workers (default 3 days). */
  sourceTtlMs?: number;
}

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
  /** The run (one worker's take of the job) the gateway last saw start, and every run seen. */
  run: string | undefined;
  runs: Set<string>;
  device: string | undefined;
  worker: string | undefined;
  startedAt: number | undefined;
  startedClock: number | undefined;
  cancelRequest?: { byUserId: UserId | undefined };
  /** Progress reports of this job, in order. */
  reports: Promise<void>;
}

const requeueUnlessCli = (job: JobRecord) => job.request.requester.platform !== "cli";

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

export class RedisJobQueue implements JobQueue {
  readonly images: ImageStore;
  readonly ledger: StoreLedger;
  /** This gateway, as recorded with each job it takes (see ../submitter.ts). */
  private readonly submitter: Submitter;
  private readonly releaseSubmitter: () => void;
  private readonly config: Config & { redisUrl: string };
  private readonly store: JobStore;
  private readonly ownsStore: boolean;
  private readonly logger: Logger;
  private readonly events: QueueEventEmitter;
  private readonly line = new ReleaseLine<LiveJob>();
  private readonly files: JobFiles;
  private readonly stopListeners = new Set<() => void>();
  private readonly now: () => number;
  private readonly maxAttempts: number;
  private readonly margin: number;
  private readonly onInternalError: (error: unknown, where: string) => void;
  private readonly redis: Redis;
  private readonly queue: Queue<RemoteJobData, RemoteResult>;
  private readonly queueEvents: QueueEvents;
  private readonly eventsConnection: Redis;
  private readonly queueConnection: Redis;
  private readonly consumers: DeviceConsumer[];
  private readonly liveByUser = new Map<UserId, number>();
  private liveTotal = 0;
  /** Devices ready to take jobs, as of the latest read of their statuses. */
  private readyCount = 0;
  private readonly positions = new Map<string, number>();
  /** Jobs whose end is being recorded (one at a time per job). */
  private readonly settling = new Map<string, Promise<void>>();
  private readonly settleAgain = new Set<string>();
  private readonly releasing = new Set<Promise<void>>();
  private readonly releasingIds = new Set<string>();
  private pollTimer: NodeJS.Timeout | undefined;
  private sweepTimer: NodeJS.Timeout | undefined;
  private polling: Promise<void> | undefined;
  private sweeping: Promise<{ deleted: number }> | undefined;
  private started = false;
  private stopping = false;

  constructor(private readonly options: RedisJobQueueOptions) {
    const { config } = options;
    this.config = config;
    this.ownsStore = options.store === undefined;
    this.store = options.store ?? JobStore.open(join(config.dataDir, "jobs.sqlite"));
    const own = ownSubmitter("service");
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
    this.margin = Math.max(0, options.releaseMargin ?? 1);
    this.logger = options.logger ?? silentLogger;
    this.onInternalError =
      options.onInternalError ??
      ((error, where) => this.logger.error({ err: error, where }, "job queue: internal error"));
    this.images = {
      get: (imageId) => this.files.imageBytes(imageId),
      putUpload: (image) => this.files.keepUpload(image),
    };
    this.events = new QueueEventEmitter((error, event) => this.onInternalError(error, `listener:${event}`));
    this.redis = connectRedis(config.redisUrl);
    this.redis.on("error", (error) => this.logger.debug({ err: error }, "redis"));
    this.queueConnection = connectRedis(config.redisUrl);
    this.queueConnection.on("error", (error) => this.logger.debug({ err: error }, "redis"));
    this.queue = new Queue<RemoteJobData, RemoteResult>(QUEUE_NAME, {
      connection: this.queueConnection,
      prefix: BULL_PREFIX,
    });
    this.queue.on("error", (error) => this.logger.debug({ err: error }, "BullMQ queue"));
    this.eventsConnection = connectRedis(config.redisUrl);
    this.eventsConnection.on("error", (error) => this.logger.debug({ err: error }, "redis"));
    this.queueEvents = new QueueEvents(QUEUE_NAME, {
      connection: this.eventsConnection,
      prefix: BULL_PREFIX,
      autorun: false,
    });
    this.queueEvents.on("error", (error) => this.logger.debug({ err: error }, "BullMQ queue events"));
    const engineFor = options.engineFor;
    this.consumers = (options.localDevices ?? []).map(
      (device) =>
        new DeviceConsumer({
          redisUrl: config.redisUrl,
          device,
          engine: engineFor ? engineFor(device) : sdxlEngineFor(config, device),
          previewEvery: config.generation.previewEvery,
          jobTimeoutMs: config.queue.jobTimeoutMs,
          logger: this.logger,
          ...(options.consumerTimings ? { timings: options.consumerTimings } : {}),
          ...(options.cancelGraceMs !== undefined ? { cancelGraceMs: options.cancelGraceMs } : {}),
        }),
    );
  }

  on<E extends JobQueueEventName>(name: E, listener: JobQueueListener<E>): () => void {
    return this.events.on(name, listener);
  }

  /** Connects to Redis (rejects when it cannot within 10 s), starts local devices and the polls. */
  async start(): Promise<void> {
    if (this.started) return;
    this.started = true;
    try {
      await untilReady(this.redis, 10_000);
    } catch (error) {
      throw new ConfigError(
        `EASEL_REDIS_URL: cannot reach Redis at ${redactRedisUrl(this.config.redisUrl)} (${error instanceof Error ? error.message : String(error)}).`,
      );
    }
    await this.queue.waitUntilReady();
    this.queueEvents.on("completed", ({ jobId }) => void this.settle(jobId));
    this.queueEvents.on("failed", ({ jobId }) => void this.settle(jobId));
    this.queueEvents.on("progress", ({ jobId, data }) => {
      if (isRemoteProgress(data)) this.onProgress(jobId, data);
    });
    void this.queueEvents.run().catch((error: unknown) => this.onInternalError(error, "queue-events"));
    await this.queueEvents.waitUntilReady();
    const loaded = await Promise.all(this.consumers.map((consumer) => consumer.start()));
    if (loaded.includes(false)) {
      throw new EaselError(
        "device_failure",
        "A device of this process could not load its model; see the logs.",
      );
    }
    await this.poll();
    const pollMs = this.options.pollMs ?? 1_000;
    this.pollTimer = setInterval(() => void this.poll(), pollMs);
    this.pollTimer.unref();
    const every = this.options.sweepEveryMs ?? 3_600_000;
    if (every > 0) {
      this.sweepTimer = setInterval(() => {
        this.sweep().catch((error: unknown) => this.onInternalError(error, "sweep"));
      }, every).unref();
    }
  }

  /**
   * Picks up the jobs that were queued or running when the gateway stopped: a job Redis still holds
   * (waiting, running on a worker, or finished meanwhile) is followed again; one it does not hold is
   * put back in line. `recovered` is emitted for each.
   */
  async recover(): Promise<RecoveryReport> {
    const report: RecoveryReport = { requeued: [], failed: [] };
    for (const stored of this.store.unfinished()) {
      if (this.line.isWaiting(stored.id) || this.line.releasedJob(stored.id)) continue;
      // Another live gateway or `easel imagine` owns it.
      if (isSubmitterAlive(stored.submitter)) continue;
      const record = jobRecordOf(stored);
      const wanted = (this.options.requeue ?? requeueUnlessCli)(record);
      const remote = wanted
        ? await Job.fromId<RemoteJobData, RemoteResult>(this.queue, stored.id)
        : undefined;
      if (remote) {
        const live = this.liveOf(stored);
        const progress = isRemoteProgress(remote.progress) ? remote.progress : undefined;
        const active = (await remote.getState()) === "active";
        this.count(live.userId, +1);
        this.line.adopt(live, active);
        live.runs = new Set(await this.redis.smembers(redisKeys.runs(stored.id)));
        if (progress && live.runs.has(progress.run)) {
          live.run = progress.run;
          live.device = progress.device;
          live.worker = progress.worker;
          live.startedAt = stored.startedAt;
          live.startedClock = performance.now();
        }
        this.events.emit("recovered", { job: record, requeued: true });
        report.requeued.push(stored.id);
        void this.settle(stored.id);
      } else if (wanted && stored.attempts < this.maxAttempts) {
        this.store.markQueued(stored.id);
        const requeued = this.store.get(stored.id)!;
        this.events.emit("recovered", { job: jobRecordOf(requeued), requeued: true });
        this.enqueue(this.liveOf(requeued));
        report.requeued.push(stored.id);
      } else {
        const message = wanted ? queueMessages.interruptedTooOften() : queueMessages.interrupted();
        if (!wanted) await this.withdraw(stored.id);
        this.store.markFailed(stored.id, { code: "device_failure", message }, this.now());
        this.events.emit("recovered", {
          job: jobRecordOf(this.store.get(stored.id)!),
          requeued: false,
          message,
        });
        report.failed.push(stored.id);
      }
    }
    this.pump();
    return report;
  }

  /** Takes a job nobody waits for any more out of Redis: removed if waiting, aborted if running. */
  private async withdraw(jobId: string): Promise<void> {
    try {
      if ((await this.queue.getJobState(jobId)) === "unknown") return;
      await this.redis.set(redisKeys.cancel(jobId), "", "PX", 24 * 3_600_000);
      await this.redis.publish(CANCEL_CHANNEL, jobId);
      await this.queue.remove(jobId);
    } catch (error) {
      this.onInternalError(error, "redis:withdraw");
    }
  }

  async submit(request: GenerationRequest): Promise<SubmitResult> {
    const { queue } = this.config;
    if (this.stopping) throw new EaselError("stopping", queueMessages.stopping());
    validateRequest(request);
    const userId = request.requester.userId;
    if ((this.liveByUser.get(userId) ?? 0) >= queue.maxJobsPerUser) {
      throw new EaselError("queue_full", queueMessages.userLimit(queue.maxJobsPerUser));
    }
    if (this.liveTotal >= queue.maxJobsTotal) throw new EaselError("queue_full", queueMessages.totalLimit());
    if (request.source) this.files.checkSource(request.source);
    const stored = this.store.insert({
      id: randomUUID().replaceAll("-", "").slice(0, 16),
      request,
      tier: tierOf(request.requester, queue.priority),
      createdAt: this.now(),
      submitter: this.submitter,
    });
    const live = this.liveOf(stored);
    this.enqueue(live);
    const position = this.line.positions(this.idleWorkers()).get(live.id) ?? 0;
    this.positions.set(live.id, position);
    queueMicrotask(() => this.pump());
    return { jobId: live.id, position };
  }

  async cancel(
    jobId: string,
    byUserId: UserId,
    options: { anyone?: boolean } = {},
  ): Promise<"cancelled" | "stopping"> {
    const stored = this.store.get(jobId);
    if (!stored) throw new EaselError("not_found", queueMessages.jobNotFound());
    if (stored.userId !== byUserId && !options.anyone)
      throw new EaselError("forbidden", queueMessages.notYourJob());
    const waiting = this.line.remove(jobId);
    if (waiting) {
      this.count(waiting.userId, -1);
      this.cancelled(waiting, byUserId);
      this.pump();
      return "cancelled";
    }
    const released = this.line.releasedJob(jobId);
    if (released) {
      released.cancelRequest ??= { byUserId };
      // The flag first: a worker taking the job from now on sees it; one running it hears it.
      await this.redis.set(redisKeys.cancel(jobId), byUserId, "PX", 24 * 3_600_000);
      await this.redis.publish(CANCEL_CHANNEL, jobId);
      const removed = await this.queue.remove(jobId).catch(() => 0);
      if (removed === 1 && this.line.finish(jobId)) {
        this.count(released.userId, -1);
        await this.cleanUp(jobId);
        this.cancelled(released, byUserId);
        this.pump();
        return "cancelled";
      }
      return "stopping";
    }
    if (this.stopping && stored.status === "queued") {
      this.cancelled(this.liveOf(stored), byUserId);
      return "cancelled";
    }
    throw new EaselError("not_found", queueMessages.alreadyFinished());
  }

  async job(jobId: string): Promise<JobRecord | undefined> {
    const stored = this.store.get(jobId);
    return stored ? jobRecordOf(stored) : undefined;
  }

  async history(userId: UserId, limit = 10): Promise<JobRecord[]> {
    return this.store.historyOf(userId, limit).map(jobRecordOf);
  }

  async position(jobId: string): Promise<number | undefined> {
    return this.line.positions(this.idleWorkers()).get(jobId);
  }

  async wait(jobId: string, signal?: AbortSignal): Promise<JobRecord> {
    signal?.throwIfAborted();
    return new Promise<JobRecord>((resolvePromise, reject) => {
      const offs: Array<() => void> = [];
      const finish = (outcome: { record: JobRecord } | { error: unknown }) => {
        for (const off of offs) off();
        signal?.removeEventListener("abort", onAbort);
        if ("record" in outcome) resolvePromise(outcome.record);
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

  /** Called once when stop() begins; returns the unsubscribe function. */
  private onStop(listener: () => void): () => void {
    if (this.stopping) {
      listener();
      return () => {};
    }
    this.stopListeners.add(listener);
    return () => this.stopListeners.delete(listener);
  }

  async markPosted(jobId: string, where: string): Promise<void> {
    if (!this.store.markPosted(jobId, where, this.now()))
      throw new EaselError("not_found", queueMessages.jobNotFound());
  }

  async status(): Promise<QueueStatus> {
    const size = this.line.size;
    const statuses = await readWorkers(this.redis).catch(() => []);
    const running = new Map(
      this.line
        .releasedJobs()
        .filter((job) => job.worker)
        .map((job) => [job.worker, job.id]),
    );
    return {
      waiting: size.waiting + size.released - size.running,
      running: size.running,
      devices: readyWorkers(statuses, Date.now(), this.staleMs()).map((status) => ({
        device: status.id,
        jobId: running.get(status.id),
      })),
    };
  }

  /** Deletes image files posted or past the retention time, and stray files of unfinished jobs. */
  sweep(): Promise<{ deleted: number }> {
    this.sweeping ??= this.files.sweep(this.now(), this.config.retentionHours).finally(() => {
      this.sweeping = undefined;
    });
    return this.sweeping;
  }

  /**
   * Stops the gateway: no new jobs; waiting ones stay queued in the store and released ones keep
   * running on the workers — the next start's recover() follows them again.
   */
  async stop(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    for (const listener of [...this.stopListeners]) listener();
    clearInterval(this.pollTimer);
    clearInterval(this.sweepTimer);
    await this.sweeping?.catch(() => {});
    // Local devices first: their running jobs go back to Redis for the next start (or another worker).
    await Promise.all(this.consumers.map((consumer) => consumer.stop()));
    await atMost(Promise.all([...this.releasing, ...this.settling.values()]), STOP_WAIT_MS);
    // The events reader blocks in XREAD for seconds: drop its connection rather than wait it out.
    this.eventsConnection.disconnect();
    await atMost(this.queueEvents.close(), STOP_WAIT_MS);
    await atMost(this.queue.close(), STOP_WAIT_MS);
    this.queueConnection.disconnect();
    this.redis.disconnect();
    this.releaseSubmitter();
    if (this.ownsStore) this.store.close();
  }

  // ---- the line ----

  private enqueue(live: LiveJob): void {
    this.count(live.userId, +1);
    this.line.enqueue(live);
  }

  private count(userId: UserId, delta: number): void {
    const count = (this.liveByUser.get(userId) ?? 0) + delta;
    if (count > 0) this.liveByUser.set(userId, count);
    else this.liveByUser.delete(userId);
    this.liveTotal += delta;
  }

  private idleWorkers(): number {
    return this.readyCount - this.line.size.running;
  }

  private staleMs(): number {
    return this.options.workerStaleMs ?? 10_000;
  }

  /** Releases what the bound allows into Redis, and tells waiting jobs their new places. */
  private pump(): void {
    if (this.stopping || !this.started) return;
    for (const live of this.line.release(this.readyCount + this.margin)) {
      this.releasingIds.add(live.id);
      const releasing = this.releaseOne(live).finally(() => {
        this.releasing.delete(releasing);
        this.releasingIds.delete(live.id);
      });
      this.releasing.add(releasing);
    }
    this.publishPositions();
  }

  private async releaseOne(live: LiveJob): Promise<void> {
    try {
      const data: RemoteJobData = { request: live.request };
      if (live.request.source) {
        const key = redisKeys.source(live.id);
        const bytes = await this.files.sourceImageOf(live.request.source);
        await this.redis.set(key, Buffer.from(bytes), "PX", this.options.sourceTtlMs ?? 3 * 24 * 3_600_000);
        data.sourceKey = key;
      }
      // The job id is ours: adding it again (after a restart) finds the same BullMQ job.
      await this.queue.add("generate", data, {
        jobId: live.id,
        attempts: 1,
        removeOnComplete: { age: 7 * 24 * 3600 },
        removeOnFail: { age: 7 * 24 * 3600 },
      });
    } catch (error) {
      if (error instanceof EaselError) {
        // The source image is gone: the job cannot run anywhere.
        if (this.line.finish(live.id)) this.failJob(live, error);
        return;
      }
      this.logger.warn(
        { err: error, jobId: live.id },
        "could not release a job into Redis; it waits for the next try",
      );
      this.line.unrelease(live.id);
    }
  }

  private publishPositions(): void {
    for (const [id, position] of this.line.positions(this.idleWorkers())) {
      if (position < 1 || this.positions.get(id) === position) continue;
      this.positions.set(id, position);
      const live = this.line.jobOf(id);
      if (live) this.events.emit("queued", { jobId: id, requester: live.request.requester, position });
    }
  }

  /** Reads the workers' statuses and every released job's state; releases what the bound allows. */
  private poll(): Promise<void> {
    this.polling ??= (async () => {
      try {
        const statuses = await readWorkers(this.redis);
        this.readyCount = readyWorkers(statuses, Date.now(), this.staleMs()).length;
        await Promise.all(this.line.releasedJobs().map((live) => this.settle(live.id)));
        this.pump();
      } catch (error) {
        this.logger.debug({ err: error }, "poll of Redis failed; trying again");
      }
    })().finally(() => {
      this.polling = undefined;
    });
    return this.polling;
  }

  // ---- progress and ends ----

  private onProgress(jobId: string, progress: RemoteProgress): void {
    const live = this.line.releasedJob(jobId);
    if (!live) return;
    if (!live.runs.has(progress.run)) this.startedRemotely(live, progress);
    if (progress.run !== live.run || progress.step === 0) return;
    const { requester } = live.request;
    live.reports = live.reports
      .then(async () => {
        let preview: EncodedImage | undefined;
        if (progress.preview) {
          const bytes = await this.redis.getBuffer(progress.preview.key).catch(() => null);
          if (bytes) {
            const { mime, width, height } = progress.preview;
            preview = {
              mime,
              width,
              height,
              data: new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength),
            };
          }
        }
        if (!this.line.releasedJob(jobId)) return;
        this.events.emit("progress", {
          jobId,
          requester,
          step: progress.step,
          total: progress.total,
          stage: progress.stage,
          ...(preview ? { preview } : {}),
        });
      })
      .catch((error: unknown) => this.onInternalError(error, "progress"));
  }

  /** A worker took the job (its first run, or a re-run after its worker died). */
  private startedRemotely(live: LiveJob, progress: RemoteProgress): void {
    live.run = progress.run;
    live.runs.add(progress.run);
    void this.redis
      .sadd(redisKeys.runs(live.id), progress.run)
      .catch((error: unknown) => this.onInternalError(error, "redis:runs"));
    live.device = progress.device;
    live.worker = progress.worker;
    live.startedAt = this.now();
    live.startedClock = performance.now();
    this.line.markStarted(live.id);
    this.positions.delete(live.id);
    this.store.markQueued(live.id); // a re-run: back from running, so that the start is counted
    if (this.store.markRunning(live.id, progress.device, live.startedAt)) live.attempts += 1;
    this.events.emit("started", {
      jobId: live.id,
      requester: live.request.requester,
      device: progress.device,
      attempt: live.attempts,
    });
    this.publishPositions();
  }

  /** Looks at a released job's state in Redis and records its end if it has one. Never rejects. */
  private settle(jobId: string): Promise<void> {
    const current = this.settling.get(jobId);
    if (current) {
      // A look already under way may have read the state just before this news: look once more after it.
      this.settleAgain.add(jobId);
      return current;
    }
    const settling = this.settleOnce(jobId)
      .catch((error: unknown) =>
        this.logger.debug({ err: error, jobId }, "could not read the job's state; retrying"),
      )
      .finally(() => {
        this.settling.delete(jobId);
        if (this.settleAgain.delete(jobId)) void this.settle(jobId);
      });
    this.settling.set(jobId, settling);
    return settling;
  }

  private async settleOnce(jobId: string): Promise<void> {
    const live = this.line.releasedJob(jobId);
    if (!live) return;
    // The state first, then the job: a job read before it finished would lack its return value.
    const state = await this.queue.getJobState(jobId);
    const remote =
      state === "unknown" ? undefined : await Job.fromId<RemoteJobData, RemoteResult>(this.queue, jobId);
    if (!remote) {
      if (this.releasingIds.has(jobId)) return; // its add() is still on its way
      // Not in Redis (removed, or a Redis that lost its data): cancelled if asked, else run again.
      if (!this.line.finish(jobId)) return;
      const cancel = live.cancelRequest ?? (await this.pendingCancel(jobId));
      if (cancel) {
        this.count(live.userId, -1);
        await this.cleanUp(jobId);
        this.cancelled(live, cancel.byUserId);
      } else {
        this.logger.warn({ jobId }, "a released job is missing from Redis; queueing it again");
        this.count(live.userId, -1);
        this.store.markQueued(jobId);
        this.enqueue(live);
      }
      this.pump();
      return;
    }
    if (state === "active" && isRemoteProgress(remote.progress) && !live.runs.has(remote.progress.run)) {
      this.startedRemotely(live, remote.progress);
    }
    if (state !== "completed" && state !== "failed") return;
    await live.reports;
    if (!this.line.finish(jobId)) return;
    this.count(live.userId, -1);
    this.pump(); // the next job need not wait for this one's images to be stored
    try {
      await this.end(live, remote, state);
    } catch (error) {
      // Out of the line already: whatever went wrong, the user hears how the job ended.
      this.failJob(live, error);
    }
    this.pump();
  }

  /** Records how a released job ended in Redis and tells the adapters; removes it from Redis. */
  private async end(
    live: LiveJob,
    remote: Job<RemoteJobData, RemoteResult>,
    state: "completed" | "failed",
  ): Promise<void> {
    const cancel = live.cancelRequest ?? (await this.pendingCancel(live.id));
    const result: RemoteResult | null | undefined = remote.returnvalue;
    if (cancel) {
      await this.cleanUp(live.id, result ?? undefined);
      this.cancelled(live, cancel.byUserId);
    } else if (state === "completed" && result) {
      // Started and finished while nobody listened (a fast job, a gateway restart): record its start.
      if (!live.runs.has(result.run))
        this.startedRemotely(live, { ...result, step: 0, total: 0, stage: "base" });
      await this.finishDone(live, result);
    } else {
      this.failJob(live, decodeFailure(remote.failedReason));
      await this.cleanUp(live.id);
    }
    await remote.remove().catch(() => {});
  }

  private async pendingCancel(jobId: string): Promise<{ byUserId: UserId | undefined } | undefined> {
    const by = await this.redis.get(redisKeys.cancel(jobId));
    if (by === null) return undefined;
    return { byUserId: by ? (by as UserId) : undefined };
  }

  /** Stores a finished job's images from Redis, records it and tells the adapters. */
  private async finishDone(live: LiveJob, result: RemoteResult): Promise<void> {
    try {
      const images = [];
      for (const [index, image] of result.images.entries()) {
        const bytes = await this.redis.getBuffer(image.key);
        if (!bytes) {
          throw new EaselError("device_failure", queueMessages.deviceError(), {
            cause: new Error(`result ${image.key} expired before the gateway read it`),
          });
        }
        const path = imageFilePath(this.files.imagesDir, live.id, index, image.mime);
        await writeFileAtomically(path, bytes);
        images.push({
          index,
          path,
          seed: image.seed,
          mime: image.mime,
          width: image.width,
          height: image.height,
        });
      }
      const seeds = images.map((image) => image.seed);
      this.store.markDone(live.id, { seeds, timings: result.timings, images }, this.now());
      await this.cleanUp(live.id, result);
      const startedAt = live.startedAt ?? this.now();
      this.events.emit("done", {
        jobId: live.id,
        requester: live.request.requester,
        images: images.map((image) => ({
          id: imageIdOf(live.id, image.index),
          jobId: live.id,
          index: image.index,
          seed: image.seed,
          mime: image.mime,
          width: image.width,
          height: image.height,
          deleted: false,
        })),
        seeds,
        timings: result.timings,
        durationMs: live.startedClock !== undefined ? performance.now() - live.startedClock : result.deviceMs,
        deviceMs: result.deviceMs,
        waitedMs: Math.max(0, startedAt - live.createdAt),
      });
    } catch (error) {
      this.failJob(live, error);
    }
  }

  private failJob(live: LiveJob, error: unknown): void {
    const code: ErrorCode = error instanceof EaselError ? error.code : "device_failure";
    const message = userMessageOf(error);
    this.writeStore("failed", () => this.store.markFailed(live.id, { code, message }, this.now()));
    this.events.emit("failed", {
      jobId: live.id,
      requester: live.request.requester,
      code,
      message,
      detail: detailOf(error),
    });
  }

  private cancelled(live: LiveJob, byUserId: UserId | undefined): void {
    this.writeStore("cancelled", () => this.store.markCancelled(live.id, byUserId, this.now()));
    this.events.emit("cancelled", { jobId: live.id, requester: live.request.requester, byUserId });
  }

  /** Deletes what Redis held for a job that has ended: result bytes, source image, cancel flag. */
  private async cleanUp(jobId: string, result?: RemoteResult): Promise<void> {
    const keys = [
      redisKeys.source(jobId),
      redisKeys.cancel(jobId),
      redisKeys.runs(jobId),
      ...(result?.images ?? []).map((image) => image.key),
    ];
    await this.redis.del(...keys).catch((error: unknown) => this.onInternalError(error, "redis:clean-up"));
  }

  private writeStore(what: string, write: () => void): void {
    try {
      write();
    } catch (error) {
      this.onInternalError(error, `store:${what}`);
    }
  }

  // ---- records and images ----

  private liveOf(stored: StoredJob): LiveJob {
    return {
      id: stored.id,
      userId: stored.userId as UserId,
      tier: stored.tier,
      seq: stored.seq,
      request: stored.request,
      createdAt: stored.createdAt,
      attempts: stored.attempts,
      run: undefined,
      runs: new Set(),
      device: undefined,
      worker: undefined,
      startedAt: undefined,
      startedClock: undefined,
      reports: Promise.resolve(),
    };
  }
}
