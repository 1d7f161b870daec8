/**
 * The embedded JobQueue backend: the job book (job-book.ts) with a local runner: one worker thread
 * per device in this process, fed by the dispatcher's fair line. The runner hands each job to a
 * free device, passes on its progress, and gives its result to the book, which writes the images
 * and records the end.
 */
import { join } from "node:path";
import type { Config } from "../config.js";
import { InvalidInputError } from "../errors.js";
import { type CatalogueModel, modelOfRequest } from "../requests/models.js";
import type { UserId } from "../requests/request.js";
import { type DeviceRun, DeviceWorker } from "./device.js";
import { type AbortReason, Dispatcher } from "./dispatcher.js";
import type { EngineSpec } from "./engine.js";
import { type BookedJob, bookedJobOf, JobBook, type JobBookOptions, type JobRunner } from "./job-book.js";
import type { QueueStatus } from "./job-queue.js";
import { heldKeyOf, loraSelectionsOf } from "./loras.js";
import { queueMessages } from "./messages.js";
import { generateParamsOf } from "./params.js";
import type { StoredJob } from "./store.js";

export { imageIdOf, jobRecordOf } from "./job-book.js";

export type EmbeddedJobQueueOptions = JobBookOptions;

/** The SDXL engine the config describes, for one device. */
export function sdxlEngineFor(config: Config, device: string): EngineSpec {
  return {
    kind: "sdxl",
    modelDir: config.modelDir,
    ...(config.refinerDir ? { refinerDir: config.refinerDir } : {}),
    ...(config.vaeFallback ? { vaeFallback: config.vaeFallback } : {}),
    ...(config.textEncoderDevice ? { textEncoderDevice: config.textEncoderDevice } : {}),
    ...(config.taesd.dir ? { tinyVaeDir: config.taesd.dir, tinyVaePreviews: config.taesd.previews } : {}),
    device,
    intraOpThreads: config.ort.intraOpThreads,
    webgpu: config.ort.webgpu,
    exclamationAsPad: !config.generation.openClipExclamation,
    // Big models load from ONNX Runtime's saved optimised graph after their first load.
    optimizedCacheDir: join(config.dataDir, "onnx-cache"),
  };
}

export class EmbeddedJobQueue extends JobBook<LocalJob> {
  constructor(options: EmbeddedJobQueueOptions) {
    super(options, (book) => new LocalRunner(book, options));
  }
}

/** A job with the model it needs: undefined for the default one (every device's own engine). */
/** `model`: what a device must hold to run it without a load (the model and its LoRA set). */
export type LocalJob = BookedJob & { model: string | undefined };

/** Device worker threads in this process, fed by the dispatcher. */
class LocalRunner implements JobRunner<LocalJob> {
  private readonly devices: readonly DeviceWorker[];
  private readonly dispatcher: Dispatcher<LocalJob>;
  private readonly config: Config;
  /** Finished runs whose images are still being written. */
  private readonly finishing = new Set<Promise<void>>();

  constructor(
    private readonly book: JobBook<LocalJob>,
    options: EmbeddedJobQueueOptions,
  ) {
    const { config } = options;
    this.config = config;
    const engineFor = options.engineFor ?? ((device: string) => sdxlEngineFor(config, device));
    this.devices = config.devices.map(
      (device) =>
        new DeviceWorker({
          device,
          engine: engineFor(device),
          previewEvery: config.generation.previewEvery,
          jobTimeoutMs: config.queue.jobTimeoutMs,
          modelsPerDevice: config.modelsPerDevice,
          ...(options.cancelGraceMs !== undefined ? { cancelGraceMs: options.cancelGraceMs } : {}),
          ...(options.shutdownGraceMs !== undefined ? { shutdownGraceMs: options.shutdownGraceMs } : {}),
        }),
    );
    this.dispatcher = new Dispatcher<LocalJob>({
      devices: this.devices,
      modelsPerDevice: config.modelsPerDevice,
      run: (job, device, signal) => this.run(job, device, signal),
      onPositions: (changes) => {
        for (const { job, position } of changes) {
          book.emit("queued", { jobId: job.id, requester: job.request.requester, position });
        }
      },
    });
  }

  /** Starts every device's worker and loads its engine; rejects when one cannot load. */
  async start(): Promise<void> {
    await Promise.all(this.devices.map((device) => device.warmUp()));
  }

  liveOf(stored: StoredJob): LocalJob {
    const name = stored.request.model;
    const model = this.modelOf(name);
    const isDefault = name === undefined || model?.name === this.config.models.defaultName;
    // A model gone from the catalogue since (a restart) keeps its name and fails when it runs.
    const held = heldKeyOf(isDefault ? undefined : (model?.name ?? name), stored.request.loras);
    return { ...bookedJobOf(stored), model: held };
  }

  private modelOf(name: string | undefined): CatalogueModel | undefined {
    return modelOfRequest(this.config.models, name);
  }

  enqueue(job: LocalJob): number {
    return this.dispatcher.enqueue(job);
  }

  isWaiting(jobId: string): boolean {
    return this.dispatcher.isWaiting(jobId);
  }

  remove(jobId: string): LocalJob | undefined {
    return this.dispatcher.remove(jobId);
  }

  runningJob(jobId: string): LocalJob | undefined {
    return this.dispatcher.runningJob(jobId);
  }

  async stopRun(job: LocalJob, byUserId: UserId): Promise<"stopping"> {
    this.dispatcher.abort(job.id, { kind: "cancel", byUserId });
    return "stopping";
  }

  position(jobId: string): number | undefined {
    return this.dispatcher.positionOf(jobId);
  }

  /** Nothing runs anywhere else: the book requeues or fails what it finds. */
  async adopt(): Promise<undefined> {
    return undefined;
  }

  recovered(): void {}

  size(): { waiting: number; running: number } {
    return this.dispatcher.size;
  }

  async status(): Promise<QueueStatus> {
    return {
      ...this.dispatcher.size,
      devices: this.dispatcher.devicesStatus().map((entry, i) => {
        const device = this.devices[i]!;
        return { ...entry, ready: device.ready, threadsStarted: device.threadsStarted };
      }),
      problems: this.devices
        .filter((device) => device.loadError !== undefined)
        .map((device) => ({
          component: "devices" as const,
          // The reason may name model files: it is in the logs, not in what /healthz shows.
          message: `${device.device} cannot load its model; the logs say why.`,
        })),
    };
  }

  /** Running jobs are interrupted (queued again in the store); the device threads let go. */
  async stop(): Promise<void> {
    await this.dispatcher.stop();
    await Promise.all([...this.devices.map((device) => device.stop()), ...this.finishing]);
  }

  /**
   * One job on one device; never rejects. Resolves (freeing the device for the next job) as soon as
   * the device lets the run go, which is before its images are encoded; encoding, writing the
   * images and recording the job carry on beside the next job.
   */
  private async run(job: LocalJob, device: DeviceWorker, signal: AbortSignal): Promise<void> {
    const startedAt = this.book.now();
    const clock = performance.now();
    if (!this.book.started(job, device.device, startedAt)) return;
    let run: DeviceRun;
    try {
      const { source, mask } = await this.book.files.requestImagesOf(job.request);
      const name = job.request.model;
      const model = this.modelOf(name);
      const isDefault = name === undefined || model?.name === this.config.models.defaultName;
      if (!isDefault && !model) throw new InvalidInputError(queueMessages.unknownModel(name), "model");
      const modelDir = isDefault ? undefined : model?.dir;
      const loras = loraSelectionsOf(job.request.loras, this.config.loras, this.config.loraDir);
      run = await device.start(job.id, generateParamsOf(job.request, source, mask), {
        signal,
        ...(modelDir !== undefined ? { modelDir } : {}),
        ...(loras.length > 0 ? { loras } : {}),
        onProgress: (progress) =>
          this.book.emit("progress", {
            jobId: job.id,
            requester: job.request.requester,
            step: progress.step,
            total: progress.totalSteps,
            stage: progress.stage,
            ...(progress.preview ? { preview: progress.preview } : {}),
          }),
      });
    } catch (error) {
      this.ended(job, error, signal);
      return;
    }
    const freed = await run.freed;
    const deviceMs = performance.now() - clock;
    const tail = run.result.then(
      (result) =>
        this.book.finish(
          job,
          {
            images: result.images.map((image) => ({ ...image, seed: image.seed.toString() })),
            timings: result.timings,
          },
          { startedAt, clock, deviceMs },
        ),
      (error: unknown) => this.ended(job, error, signal),
    );
    // Ended on the device (failed, cancelled, or done without letting it go early): the job's end
    // is recorded before the next job starts, as it always was.
    if (freed === "ended") await tail;
    else this.track(tail);
  }

  /** A run that ended without a result: cancelled, put back (a stop), or failed. */
  private ended(job: LocalJob, error: unknown, signal: AbortSignal): void {
    const reason = signal.aborted ? (signal.reason as AbortReason) : undefined;
    if (reason?.kind === "stop" && !job.cancelRequest) this.book.interrupted(job);
    else this.book.fail(job, error);
  }

  /** Keeps a job's tail (encoding, writing images) until it ends, so stop() can wait for it. */
  private track(tail: Promise<void>): void {
    const finishing = tail.catch((error: unknown) => this.book.onInternalError(error, "finish"));
    this.finishing.add(finishing);
    void finishing.finally(() => this.finishing.delete(finishing));
  }
}
