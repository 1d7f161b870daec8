/**
 * The scale-out JobQueue: the job book (../job-book.ts: the SQLite store, image files, limits,
 * records, lifecycle logs) with a runner that hands the running to `easel worker` processes
 * through Redis: jobs wait in the book's fair order and are released into BullMQ a bounded number
 * at a time (release-line.ts), progress and previews come back through BullMQ's progress events,
 * results through the job's return value and Redis keys. Completion is taken from the job's state
 * in Redis (polled for every released job, and read at once on QueueEvents' hint), never from the
 * best-effort event stream alone, so a missed event, a Redis restart or a gateway restart loses
 * nothing.
 */
import { Job, Queue, QueueEvents } from "bullmq";
import type { Redis } from "ioredis";
import type { Config } from "../../config.js";
import { EaselError } from "../../errors.js";
import type { Logger } from "../../logger.js";
import type { EncodedImage } from "../../pipeline/types.js";
import type { UserId } from "../../requests/request.js";
import { sdxlEngineFor } from "../embedded.js";
import {
  type BookedJob,
  bookedJobOf,
  JobBook,
  type JobBookOptions,
  type JobRunner,
  withinOr,
} from "../job-book.js";
import type { HealthProblem, QueueStatus } from "../job-queue.js";
import { queueMessages } from "../messages.js";
import type { StoredJob } from "../store.js";
import { atMost, closeRedis, connectRedis, RedisLink, reachRedis } from "./connection.js";
import { type ConsumerTimings, DeviceConsumer } from "./consumer.js";
import { BULL_PREFIX, CANCEL_CHANNEL, QUEUE_NAME, redisKeys } from "./keys.js";
import {
  decodeFailure,
  isRemoteProgress,
  type RemoteJobData,
  type RemoteProgress,
  type RemoteResult,
} from "./protocol.js";
import { readWorkers, readyWorkers, type WorkerStatus } from "./registry.js";
import { ReleaseLine } from "./release-line.js";

/** How long a cancel waits for Redis before it answers "stopping" (the store holds the cancel). */
const CANCEL_WAIT_MS = 2_000;
/** How long a stop waits for Redis, in all, before it lets go anyway. */
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

export interface RedisJobQueueOptions extends JobBookOptions, RedisTuning {
  config: Config & { redisUrl: string };
  /** Devices this process runs itself (an all-in-one gateway); default none. */
  localDevices?: readonly string[];
  /** How long Redis keeps source images for workers (default 3 days). */
  sourceTtlMs?: number;
}

/** A job in memory while it waits or runs, with what the gateway knows of its runs. */
interface LiveJob extends BookedJob {
  /** The run (one worker's take of the job) the gateway last saw start, and every run seen. */
  run: string | undefined;
  runs: Set<string>;
  device: string | undefined;
  worker: string | undefined;
  startedAt: number | undefined;
  startedClock: number | undefined;
  /** Progress reports of this job, in order. */
  reports: Promise<void>;
}

export class RedisJobQueue extends JobBook<LiveJob> {
  constructor(options: RedisJobQueueOptions) {
    super(options, (book) => new RedisRunner(book, options));
  }
}

class RedisRunner implements JobRunner<LiveJob> {
  private readonly config: Config & { redisUrl: string };
  private readonly logger: Logger;
  private readonly line = new ReleaseLine<LiveJob>();
  private readonly margin: number;
  private readonly link: RedisLink;
  private readonly redis: Redis;
  private readonly queue: Queue<RemoteJobData, RemoteResult>;
  private readonly queueEvents: QueueEvents;
  private readonly eventsConnection: Redis;
  private readonly queueConnection: Redis;
  private readonly consumers: DeviceConsumer[];
  /** Devices ready to take jobs, as of the latest read of their statuses. */
  private readyCount = 0;
  /**
   * The models the ready workers advertise, by lower-case name; undefined while no worker is ready
   * or one of them does not say (then nothing is refused for its model).
   */
  private modelsOnWorkers: Set<string> | undefined;
  private readonly positions = new Map<string, number>();
  /** Jobs whose end is being recorded (one at a time per job). */
  private readonly settling = new Map<string, Promise<void>>();
  private readonly settleAgain = new Set<string>();
  private readonly releasing = new Set<Promise<void>>();
  private readonly releasingIds = new Set<string>();
  private pollTimer: NodeJS.Timeout | undefined;
  private polling: Promise<void> | undefined;
  private started = false;
  private stopped = false;

  constructor(
    private readonly book: JobBook<LiveJob>,
    private readonly options: RedisJobQueueOptions,
  ) {
    const { config } = options;
    this.config = config;
    this.logger = book.logger;
    this.margin = Math.max(0, options.releaseMargin ?? 1);
    const quiet = (what: string) => (error: unknown) => this.logger.debug({ err: error }, what);
    // One link for every connection of this process: losing and regaining Redis is said once each.
    this.link = new RedisLink(this.logger, config.redisUrl);
    this.redis = this.link.watch(connectRedis(config.redisUrl));
    this.queueConnection = this.link.watch(connectRedis(config.redisUrl));
    this.queue = new Queue<RemoteJobData, RemoteResult>(QUEUE_NAME, {
      connection: this.queueConnection,
      prefix: BULL_PREFIX,
    });
    this.queue.on("error", quiet("BullMQ queue"));
    this.eventsConnection = this.link.watch(connectRedis(config.redisUrl));
    this.queueEvents = new QueueEvents(QUEUE_NAME, {
      connection: this.eventsConnection,
      prefix: BULL_PREFIX,
      autorun: false,
    });
    this.queueEvents.on("error", quiet("BullMQ queue events"));
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
          link: this.link,
          models: config.models,
          modelsPerDevice: config.modelsPerDevice,
          loras: config.loras,
          loraDir: config.loraDir,
          ...(options.consumerTimings ? { timings: options.consumerTimings } : {}),
          ...(options.cancelGraceMs !== undefined ? { cancelGraceMs: options.cancelGraceMs } : {}),
        }),
    );
  }

  /** Connects to Redis (rejects when it cannot within 10 s), starts local devices and the polls. */
  async start(): Promise<void> {
    if (this.started) return;
    this.started = true;
    await reachRedis(this.redis, this.config.redisUrl);
    await this.queue.waitUntilReady();
    this.queueEvents.on("completed", ({ jobId }) => void this.settle(jobId));
    this.queueEvents.on("failed", ({ jobId }) => void this.settle(jobId));
    this.queueEvents.on("progress", ({ jobId, data }) => {
      if (isRemoteProgress(data)) this.onProgress(jobId, data);
    });
    void this.queueEvents.run().catch((error: unknown) => this.book.onInternalError(error, "queue-events"));
    await this.queueEvents.waitUntilReady();
    const loaded = await Promise.all(this.consumers.map((consumer) => consumer.start()));
    if (loaded.includes(false)) {
      throw new EaselError(
        "device_failure",
        "A device of this process could not load its model; see the logs.",
      );
    }
    await this.poll();
    this.pollTimer = setInterval(() => void this.poll(), this.options.pollMs ?? 1_000);
    this.pollTimer.unref();
  }

  /** A model no ready worker advertises; jobs still wait when no worker is ready (one may come). */
  cannotRun(model: string): string | undefined {
    if (!this.modelsOnWorkers || this.modelsOnWorkers.has(model.toLowerCase())) return undefined;
    return queueMessages.noDeviceForModel(model);
  }

  liveOf(stored: StoredJob): LiveJob {
    return {
      ...bookedJobOf(stored),
      run: undefined,
      runs: new Set(),
      device: undefined,
      worker: undefined,
      startedAt: undefined,
      startedClock: undefined,
      reports: Promise.resolve(),
    };
  }

  enqueue(live: LiveJob): number {
    this.line.enqueue(live);
    const position = this.line.positions(this.idleWorkers()).get(live.id) ?? 0;
    this.positions.set(live.id, position);
    queueMicrotask(() => this.pump());
    return position;
  }

  /** Nothing waits in a stopped gateway: its waiting jobs are the next start's (queued in the store). */
  isWaiting(jobId: string): boolean {
    return !this.stopped && this.line.isWaiting(jobId);
  }

  remove(jobId: string): LiveJob | undefined {
    const removed = this.line.remove(jobId);
    if (removed) queueMicrotask(() => this.pump());
    return removed;
  }

  runningJob(jobId: string): LiveJob | undefined {
    return this.line.releasedJob(jobId);
  }

  /**
   * Flags the cancel in Redis (a worker taking the job sees it; one running it hears it). The
   * store holds the cancel already: with Redis away, the flag goes out when it is back, and the
   * answer is "stopping" after at most CANCEL_WAIT_MS.
   */
  async stopRun(released: LiveJob, byUserId: UserId): Promise<"cancelled" | "stopping"> {
    const flagged = (async () => {
      await this.redis.set(redisKeys.cancel(released.id), byUserId, "PX", 24 * 3_600_000);
      await this.redis.publish(CANCEL_CHANNEL, released.id);
      return this.queue.remove(released.id).catch(() => 0);
    })();
    const removed = await withinOr(flagged, CANCEL_WAIT_MS, () => 0);
    if (removed === 1 && this.line.finish(released.id)) {
      await this.cleanUp(released.id);
      this.book.cancelled(released, byUserId);
      this.pump();
      return "cancelled";
    }
    return "stopping";
  }

  position(jobId: string): number | undefined {
    return this.stopped ? undefined : this.line.positions(this.idleWorkers()).get(jobId);
  }

  /** A job Redis still holds (waiting, on a worker, or finished meanwhile) is followed again. */
  async adopt(stored: StoredJob, wanted: boolean): Promise<LiveJob | undefined> {
    if (!wanted) {
      await this.withdraw(stored.id);
      return undefined;
    }
    const remote = await Job.fromId<RemoteJobData, RemoteResult>(this.queue, stored.id);
    if (!remote) return undefined;
    const live = this.liveOf(stored);
    const progress = isRemoteProgress(remote.progress) ? remote.progress : undefined;
    this.line.adopt(live, (await remote.getState()) === "active");
    live.runs = new Set(await this.redis.smembers(redisKeys.runs(stored.id)));
    if (progress && live.runs.has(progress.run)) {
      live.run = progress.run;
      live.device = progress.device;
      live.worker = progress.worker;
      live.startedAt = stored.startedAt;
      live.startedClock = performance.now();
    }
    queueMicrotask(() => void this.settle(stored.id));
    return live;
  }

  recovered(): void {
    this.pump();
  }

  size(): { waiting: number; running: number } {
    const size = this.line.size;
    return { waiting: size.waiting + size.released - size.running, running: size.running };
  }

  async status(timeoutMs: number): Promise<QueueStatus> {
    const problems: HealthProblem[] = [];
    let statuses: WorkerStatus[] = [];
    if (this.redis.status !== "ready") {
      problems.push({ component: "redis", message: "Redis is unreachable; jobs wait until it is back." });
    } else {
      const read = await withinOr<WorkerStatus[] | undefined>(
        readWorkers(this.redis),
        timeoutMs,
        () => undefined,
      );
      if (read) statuses = read;
      else problems.push({ component: "redis", message: "Redis did not answer in time." });
    }
    const running = new Map(
      this.line
        .releasedJobs()
        .filter((job) => job.worker)
        .map((job) => [job.worker, job.id]),
    );
    const now = Date.now();
    const fresh = statuses.filter(
      (status) => now - status.seenAt <= this.staleMs() || status.state === "failed",
    );
    for (const status of fresh.filter((s) => s.state === "failed")) {
      problems.push({ component: "devices", message: `${status.id} cannot load its model.` });
    }
    return {
      ...this.size(),
      devices: fresh.map((status) => ({
        device: status.id,
        jobId: running.get(status.id),
        ready: readyWorkers([status], now, this.staleMs()).length === 1,
      })),
      problems,
    };
  }

  /**
   * Stops following: waiting jobs stay queued in the store and released ones keep running on the
   * workers; the next start's recover() follows them again. Ends within STOP_WAIT_MS of Redis
   * time whatever Redis does (local devices let go first).
   */
  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.pollTimer);
    const deadline = Date.now() + STOP_WAIT_MS;
    const left = () => Math.max(0, deadline - Date.now());
    // Local devices first: their running jobs go back to Redis for the next start (or another worker).
    await atMost(Promise.all(this.consumers.map((consumer) => consumer.stop())), left());
    await atMost(Promise.all([...this.releasing, ...this.settling.values()]), left());
    // A cancel answered "stopping" promised a `cancelled`: its worker has the flag, the store the request.
    for (const live of this.line.releasedJobs()) {
      if (live.cancelRequest && this.line.finish(live.id))
        this.book.cancelled(live, live.cancelRequest.byUserId);
    }
    // The events reader blocks in XREAD for seconds: drop its connection rather than wait it out.
    this.eventsConnection.disconnect();
    await atMost(this.queueEvents.close(), left());
    await atMost(this.queue.close(), left());
    await closeRedis(this.queueConnection, left());
    await closeRedis(this.redis, left());
  }

  // ---- the line ----

  private idleWorkers(): number {
    return this.readyCount - this.line.size.running;
  }

  private staleMs(): number {
    return this.options.workerStaleMs ?? 10_000;
  }

  /** Releases what the bound allows into Redis, and tells waiting jobs their new places. */
  private pump(): void {
    if (this.stopped || !this.started || this.book.isStopping) return;
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
      const { source, mask } = await this.book.files.requestImagesOf(live.request);
      const ttl = this.options.sourceTtlMs ?? 3 * 24 * 3_600_000;
      if (source) {
        const key = redisKeys.source(live.id);
        await this.redis.set(key, Buffer.from(source), "PX", ttl);
        data.sourceKey = key;
      }
      if (mask) {
        const key = redisKeys.mask(live.id);
        await this.redis.set(key, Buffer.from(mask), "PX", ttl);
        data.maskKey = key;
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
        if (this.line.finish(live.id)) this.book.fail(live, error);
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
      if (live) this.book.emit("queued", { jobId: id, requester: live.request.requester, position });
    }
  }

  /** Reads the workers' statuses and every released job's state; releases what the bound allows. */
  private poll(): Promise<void> {
    this.polling ??= (async () => {
      try {
        const statuses = await readWorkers(this.redis);
        const ready = readyWorkers(statuses, Date.now(), this.staleMs());
        this.readyCount = ready.length;
        this.modelsOnWorkers =
          ready.length > 0 && ready.every((status) => status.models !== undefined)
            ? new Set(ready.flatMap((status) => status.models!.map((name) => name.toLowerCase())))
            : undefined;
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

  /** Takes a job nobody waits for any more out of Redis: removed if waiting, aborted if running. */
  private async withdraw(jobId: string): Promise<void> {
    try {
      if ((await this.queue.getJobState(jobId)) === "unknown") return;
      await this.redis.set(redisKeys.cancel(jobId), "", "PX", 24 * 3_600_000);
      await this.redis.publish(CANCEL_CHANNEL, jobId);
      await this.queue.remove(jobId);
    } catch (error) {
      this.book.onInternalError(error, "redis:withdraw");
    }
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
        this.book.emit("progress", {
          jobId,
          requester,
          step: progress.step,
          total: progress.total,
          stage: progress.stage,
          ...(preview ? { preview } : {}),
        });
      })
      .catch((error: unknown) => this.book.onInternalError(error, "progress"));
  }

  /** A worker took the job (its first run, or a re-run after its worker died). */
  private startedRemotely(live: LiveJob, progress: RemoteProgress): void {
    live.run = progress.run;
    live.runs.add(progress.run);
    void this.redis
      .sadd(redisKeys.runs(live.id), progress.run)
      .catch((error: unknown) => this.book.onInternalError(error, "redis:runs"));
    live.device = progress.device;
    live.worker = progress.worker;
    live.startedAt = this.book.now();
    live.startedClock = performance.now();
    this.line.markStarted(live.id);
    this.positions.delete(live.id);
    // A re-run goes back from running first, so that its start is counted.
    this.book.started(live, progress.device, live.startedAt, true);
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
        await this.cleanUp(jobId);
        this.book.cancelled(live, cancel.byUserId);
      } else {
        this.logger.warn({ jobId }, "a released job is missing from Redis; queueing it again");
        this.book.requeue(live);
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
    this.book.release(live);
    this.pump(); // the next job need not wait for this one's images to be stored
    try {
      await this.end(live, remote, state);
    } catch (error) {
      // Out of the line already: whatever went wrong, the user hears how the job ended.
      this.book.fail(live, error);
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
      this.book.cancelled(live, cancel.byUserId);
    } else if (state === "completed" && result) {
      // Started and finished while nobody listened (a fast job, a gateway restart): record its start.
      if (!live.runs.has(result.run))
        this.startedRemotely(live, { ...result, step: 0, total: 0, stage: "base" });
      await this.book.finish(
        live,
        {
          images: result.images.map((image) => ({ ...image, data: () => this.resultBytes(image.key) })),
          timings: result.timings,
        },
        { startedAt: live.startedAt ?? this.book.now(), clock: live.startedClock, deviceMs: result.deviceMs },
      );
    } else {
      this.book.fail(live, decodeFailure(remote.failedReason));
    }
    await this.cleanUp(live.id, result ?? undefined);
    await remote.remove().catch(() => {});
  }

  private async resultBytes(key: string): Promise<Uint8Array> {
    const bytes = await this.redis.getBuffer(key);
    if (!bytes) {
      throw new EaselError("device_failure", queueMessages.deviceError(), {
        cause: new Error(`result ${key} expired before the gateway read it`),
      });
    }
    return bytes;
  }

  private async pendingCancel(jobId: string): Promise<{ byUserId: UserId | undefined } | undefined> {
    const by = await this.redis.get(redisKeys.cancel(jobId));
    if (by === null) return undefined;
    return { byUserId: by ? (by as UserId) : undefined };
  }

  /** Deletes what Redis held for a job that has ended: result bytes, source image and mask, cancel flag. */
  private async cleanUp(jobId: string, result?: RemoteResult): Promise<void> {
    const keys = [
      redisKeys.source(jobId),
      redisKeys.mask(jobId),
      redisKeys.cancel(jobId),
      redisKeys.runs(jobId),
      ...(result?.images ?? []).map((image) => image.key),
    ];
    await this.redis
      .del(...keys)
      .catch((error: unknown) => this.book.onInternalError(error, "redis:clean-up"));
  }
}
