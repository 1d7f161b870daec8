/**
 * One device of `easel worker`: a BullMQ Worker (concurrency 1) whose processor hands each job to a
 * DeviceWorker, so the pipeline runs in a worker thread and this thread stays free to renew the
 * job's lock while ONNX Runtime blocks its own. Progress and previews go out through
 * `job.updateProgress`, result bytes into size-capped Redis keys with a TTL (the gateway deletes
 * them once stored); a cancel flag (key + pub/sub) aborts the run. A device that cannot load its
 * model reports it in its status and never starts its BullMQ Worker.
 */

import { hostname } from "node:os";
import { type Job, UnrecoverableError, WaitingError, Worker } from "bullmq";
import type { Redis } from "ioredis";
import { CancelledError, EaselError, InvalidInputError } from "../../errors.js";
import type { Logger } from "../../logger.js";
import type { Progress } from "../../pipeline/types.js";
import type { CatalogueLora } from "../../requests/loras.js";
import { type ModelCatalogue, modelNamed } from "../../requests/models.js";
import { isUploadSource, maskUploadIdOf } from "../../requests/request.js";
import { DeviceWorker } from "../device.js";
import type { EngineSpec } from "../engine.js";
import { detailOf } from "../failures.js";
import { loraSelectionsOf } from "../loras.js";
import { queueMessages } from "../messages.js";
import { generateParamsOf } from "../params.js";
import { atMost, connectRedis, describeRedisError, RedisLink, reachRedis } from "./connection.js";
import { BULL_PREFIX, CANCEL_CHANNEL, QUEUE_NAME, redisKeys } from "./keys.js";
import { encodeFailure, type RemoteJobData, type RemoteProgress, type RemoteResult } from "./protocol.js";
import { WorkerHeartbeat } from "./registry.js";

export interface ConsumerTimings {
  /** BullMQ's job lock: a worker silent this long loses the job to another (default 30 s). */
  lockDurationMs: number;
  /** How often BullMQ looks for jobs whose worker died (default 15 s). */
  stalledIntervalMs: number;
  /** Times a job may lose its worker and run again before it fails (default 2). */
  maxStalledCount: number;
  /** Status heartbeat (default 2 s). */
  heartbeatMs: number;
}

export const DEFAULT_CONSUMER_TIMINGS: ConsumerTimings = {
  lockDurationMs: 30_000,
  stalledIntervalMs: 15_000,
  maxStalledCount: 2,
  heartbeatMs: 2_000,
};

export interface DeviceConsumerOptions {
  redisUrl: string;
  device: string;
  engine: EngineSpec;
  previewEvery: number;
  jobTimeoutMs: number;
  logger: Logger;
  timings?: Partial<ConsumerTimings>;
  /** Largest image accepted into Redis (default 32 MiB); a bigger one fails the job. */
  maxImageBytes?: number;
  /** How long result bytes wait for the gateway (default 3 days). */
  resultTtlMs?: number;
  cancelGraceMs?: number;
  /**
   * Where losing and regaining Redis is told, shared by every device of a process so that it is
   * said once; default: one of this device's own.
   */
  link?: RedisLink;
  /** The models this worker can load (its EASEL_MODELS_DIR); absent = only its engine's own. */
  models?: ModelCatalogue;
  /** Models the device keeps loaded (EASEL_MODELS_PER_DEVICE). */
  modelsPerDevice?: number;
  /** The LoRAs this worker can merge (its EASEL_LORA_DIR's catalogue); absent = none. */
  loras?: readonly CatalogueLora[];
  /** EASEL_LORA_DIR: where `loras`' files are. */
  loraDir?: string;
}

const DEFAULT_MAX_IMAGE_BYTES = 32 * 1024 * 1024;
const DEFAULT_RESULT_TTL_MS = 3 * 24 * 3_600_000;
const PREVIEW_TTL_MS = 120_000;
/** How long a stop waits for Redis before it lets go anyway (not at all while Redis is away). */
const STOP_WAIT_MS = 5_000;

type Reporter = (
  progress: Omit<RemoteProgress, "run" | "attempt" | "device" | "worker">,
  before?: () => Promise<unknown>,
) => void;

/** The run in progress on this device. */
interface ActiveRun {
  jobId: string;
  controller: AbortController;
}

export class DeviceConsumer {
  readonly id: string;
  private readonly timings: ConsumerTimings;
  private readonly redis: Redis;
  private readonly subscriber: Redis;
  private readonly heartbeat: WorkerHeartbeat;
  /** The models the device holds, least recently used first (advertised in the heartbeat). */
  private held: string[] = [];
  private readonly device: DeviceWorker;
  private readonly link: RedisLink;
  private worker: Worker<RemoteJobData, RemoteResult> | undefined;
  private bullConnection: Redis | undefined;
  private active: ActiveRun | undefined;
  /** The processor's promise for the job in hand: a stop waits for it to hand the job back. */
  private processing: Promise<unknown> = Promise.resolve();
  private stopping = false;

  constructor(private readonly options: DeviceConsumerOptions) {
    this.id = `${hostname()}:${process.pid}:${options.device}`;
    this.timings = { ...DEFAULT_CONSUMER_TIMINGS, ...options.timings };
    this.link =
      options.link ?? new RedisLink(options.logger.child({ device: options.device }), options.redisUrl);
    this.redis = this.link.watch(connectRedis(options.redisUrl));
    this.subscriber = this.link.watch(connectRedis(options.redisUrl));
    this.heartbeat = new WorkerHeartbeat(
      this.redis,
      {
        id: this.id,
        device: options.device,
        host: hostname(),
        pid: process.pid,
        ...(options.models
          ? { models: options.models.models.map((model) => model.name), held: [options.models.defaultName] }
          : {}),
      },
      this.timings.heartbeatMs,
      // While Redis is away the link has said so once; a failed write is news only when it is not.
      (error) =>
        options.logger[this.link.up ? "warn" : "debug"](
          { device: options.device, reason: describeRedisError(error) },
          "worker status not written",
        ),
    );
    this.device = new DeviceWorker({
      device: options.device,
      engine: options.engine,
      previewEvery: options.previewEvery,
      jobTimeoutMs: options.jobTimeoutMs,
      ...(options.modelsPerDevice !== undefined ? { modelsPerDevice: options.modelsPerDevice } : {}),
      ...(options.cancelGraceMs !== undefined ? { cancelGraceMs: options.cancelGraceMs } : {}),
    });
  }

  /** The folder of a job's model when it is not this worker's default; throws for a model it lacks. */
  private modelDirOf(name: string | undefined): string | undefined {
    const catalogue = this.options.models;
    if (!catalogue || name === undefined || name.toLowerCase() === catalogue.defaultName.toLowerCase()) {
      return undefined;
    }
    const model = modelNamed(catalogue, name);
    if (!model) throw new InvalidInputError(queueMessages.unknownModel(name), "model");
    return model.dir;
  }

  /** Mirrors the device's loaded models (its least recently used unloaded past the limit) for the heartbeat. */
  private ran(name: string | undefined): void {
    const catalogue = this.options.models;
    if (!catalogue) return;
    const model = (name && modelNamed(catalogue, name)?.name) || catalogue.defaultName;
    // The device starts holding its engine's own model, the default.
    if (this.held.length === 0) this.held = [catalogue.defaultName];
    this.held = [...this.held.filter((held) => held !== model), model].slice(
      -(this.options.modelsPerDevice ?? 1),
    );
    this.heartbeat.holding(this.held);
  }

  get state(): WorkerHeartbeat["state"] {
    return this.heartbeat.state;
  }

  /**
   * Reaches Redis (a `ConfigError` past `REDIS_START_TIMEOUT_MS`), loads the engine, then starts
   * taking jobs. Resolves false (status "failed", no jobs taken) when the model cannot be loaded,
   * and when a stop came first.
   */
  async start(): Promise<boolean> {
    const { logger, device, redisUrl } = this.options;
    await Promise.all([reachRedis(this.redis, redisUrl), reachRedis(this.subscriber, redisUrl)]);
    if (this.stopping) return false;
    await this.heartbeat.start();
    try {
      await this.device.warmUp();
    } catch (error) {
      if (this.stopping) return false;
      const reason = detailOf(error);
      logger.error({ err: error, device }, "cannot load the model: this device takes no jobs");
      await this.heartbeat.set("failed", reason);
      await this.device.stop();
      return false;
    }
    if (this.stopping) return false;
    await this.subscriber.subscribe(CANCEL_CHANNEL);
    this.subscriber.on("message", (_channel: string, jobId: string) => {
      if (this.active?.jobId === jobId) this.active.controller.abort("cancel");
    });
    if (this.stopping) return false;
    this.bullConnection = this.link.watch(connectRedis(redisUrl));
    this.worker = new Worker<RemoteJobData, RemoteResult>(
      QUEUE_NAME,
      (job, token) => {
        const processing = this.process(job, token);
        this.processing = processing.catch(() => {});
        return processing;
      },
      {
        connection: this.bullConnection,
        prefix: BULL_PREFIX,
        concurrency: 1,
        lockDuration: this.timings.lockDurationMs,
        stalledInterval: this.timings.stalledIntervalMs,
        maxStalledCount: this.timings.maxStalledCount,
      },
    );
    // BullMQ repeats Redis's connection errors, which the link tells once.
    this.worker.on("error", (error) =>
      logger[this.link.up && !this.stopping ? "warn" : "debug"](
        { device, reason: describeRedisError(error) },
        "BullMQ worker error",
      ),
    );
    await this.worker.waitUntilReady();
    if (this.stopping) return false;
    await this.heartbeat.set("ready");
    logger.info({ device, worker: this.id }, "device ready, taking jobs");
    return true;
  }

  /**
   * Stops taking jobs, within `STOP_WAIT_MS` plus the device's own stop whatever Redis does. A run
   * in progress is interrupted and its job put back in the queue, where another worker (or this one
   * after a restart) runs it again; with Redis away, BullMQ puts it back once its lock expires
   * (the stalled-job check of any worker, after `lockDurationMs`).
   */
  async stop(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    const { logger, device } = this.options;
    // Nothing below can reach a Redis that is away: then it is not waited for at all.
    const reachable = this.link.up && this.redis.status === "ready";
    const deadline = Date.now() + (reachable ? STOP_WAIT_MS : 0);
    const left = () => Math.max(0, deadline - Date.now());
    if (this.active && !reachable) {
      logger.warn(
        { device, jobId: this.active.jobId, lockDurationMs: this.timings.lockDurationMs },
        "Redis is away: the running job goes back to the queue once its lock expires",
      );
    }
    this.active?.controller.abort("stop");
    if (this.heartbeat.state !== "failed") await atMost(this.heartbeat.set("stopping"), left());
    // Forced: no new job, and the blocking connection ends now instead of after a reply from Redis.
    const closing = this.worker?.close(true) ?? Promise.resolve();
    await atMost(Promise.all([closing, this.processing]), left());
    await this.device.stop();
    await atMost(this.heartbeat.stop(), left());
    await Promise.all(
      [this.subscriber, this.bullConnection, this.redis].map((connection) =>
        connection ? this.link.close(connection, left()) : undefined,
      ),
    );
  }

  private async process(
    job: Job<RemoteJobData, RemoteResult>,
    token: string | undefined,
  ): Promise<RemoteResult> {
    const jobId = job.id!;
    const attempt = job.attemptsStarted;
    const { device, logger } = this.options;
    const controller = new AbortController();
    this.active = { jobId, controller };
    // A token per attempt keeps the bytes of a killed attempt apart from the re-run's.
    const run = token ?? `${this.id}:${Date.now()}`;
    const runToken = `${attempt}-${run.slice(-12).replace(/[^A-Za-z0-9-]/g, "")}`;
    let reports: Promise<unknown> = Promise.resolve();
    // Reports go out in order; a preview's bytes are written before the report that names them.
    const report: Reporter = (progress, before) => {
      const full: RemoteProgress = { run, attempt, device, worker: this.id, ...progress };
      reports = reports
        .then(before)
        .then(() => job.updateProgress(full as unknown as object))
        .catch(() => {});
    };
    try {
      if (await this.redis.exists(redisKeys.cancel(jobId))) throw new CancelledError();
      report({ step: 0, total: job.data.request.steps, stage: "base" });
      const source = await this.sourceOf(job.data);
      const mask = await this.maskOf(job.data);
      const started = performance.now();
      const modelDir = this.modelDirOf(job.data.request.model);
      const loras = loraSelectionsOf(
        job.data.request.loras,
        this.options.loras ?? [],
        this.options.loraDir ?? "",
      );
      this.ran(job.data.request.model);
      const result = await this.device.run(jobId, generateParamsOf(job.data.request, source, mask), {
        signal: controller.signal,
        ...(modelDir !== undefined ? { modelDir } : {}),
        ...(loras.length > 0 ? { loras } : {}),
        onProgress: (progress) => this.onProgress(jobId, runToken, progress, report),
      });
      const deviceMs = performance.now() - started;
      await reports;
      const images = [];
      const maxBytes = this.options.maxImageBytes ?? DEFAULT_MAX_IMAGE_BYTES;
      const multi = this.redis.multi();
      for (const [index, image] of result.images.entries()) {
        if (image.data.byteLength > maxBytes) {
          throw new EaselError("device_failure", queueMessages.deviceError(), {
            cause: new Error(`image of ${image.data.byteLength} bytes is above the ${maxBytes}-byte limit`),
          });
        }
        const key = redisKeys.result(jobId, runToken, index);
        multi.set(
          key,
          Buffer.from(image.data.buffer, image.data.byteOffset, image.data.byteLength),
          "PX",
          this.resultTtl(),
        );
        images.push({
          key,
          seed: image.seed.toString(),
          mime: image.mime,
          width: image.width,
          height: image.height,
          bytes: image.data.byteLength,
          ...(image.source ? { source: image.source } : {}),
        });
      }
      await multi.exec();
      logger.debug({ jobId, device, attempt }, "job done");
      return { run, attempt, device, worker: this.id, images, timings: result.timings, deviceMs };
    } catch (error) {
      if (controller.signal.reason === "stop" && token) {
        // This worker is stopping: hand the job back for another worker instead of failing it.
        // Should Redis not take it (away), the job stays active until its lock expires and
        // BullMQ's stalled-job check puts it back.
        await job.moveToWait(token).catch(() => {});
        throw new WaitingError();
      }
      logger.debug({ jobId, device, attempt, err: error }, "job failed");
      // BullMQ must not retry on its own: the gateway tells the user and decides.
      throw new UnrecoverableError(encodeFailure(error));
    } finally {
      this.active = undefined;
    }
  }

  private onProgress(jobId: string, runToken: string, progress: Progress, report: Reporter): void {
    const base = { step: progress.step, total: progress.totalSteps, stage: progress.stage };
    const preview = progress.preview;
    if (!preview) {
      report(base);
      return;
    }
    const key = redisKeys.preview(jobId, runToken, progress.step);
    const bytes = Buffer.from(preview.data.buffer, preview.data.byteOffset, preview.data.byteLength);
    report(
      { ...base, preview: { key, mime: preview.mime, width: preview.width, height: preview.height } },
      () => this.redis.set(key, bytes, "PX", PREVIEW_TTL_MS),
    );
  }

  private async sourceOf(data: RemoteJobData): Promise<Uint8Array | undefined> {
    if (!data.request.source) return undefined;
    const bytes = data.sourceKey ? await this.redis.getBuffer(data.sourceKey) : null;
    if (!bytes) {
      const source = data.request.source;
      throw new EaselError(
        "not_found",
        isUploadSource(source)
          ? queueMessages.uploadGone()
          : queueMessages.sourceImageGone(source.imageIndex + 1),
      );
    }
    return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  private async maskOf(data: RemoteJobData): Promise<Uint8Array | undefined> {
    if (maskUploadIdOf(data.request) === undefined) return undefined;
    const bytes = data.maskKey ? await this.redis.getBuffer(data.maskKey) : null;
    if (!bytes) throw new EaselError("not_found", queueMessages.maskGone());
    return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  private resultTtl(): number {
    return this.options.resultTtlMs ?? DEFAULT_RESULT_TTL_MS;
  }
}
