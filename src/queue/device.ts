/**
 * One device (a GPU, or the CPU): owns the worker thread its engine runs in, hands it one job at a
 * time, and keeps the device usable whatever the job does. A job that times out or ignores a
 * cancellation gets its thread terminated; a thread that crashes or reports an unexpected engine
 * error is replaced by a fresh one (engine reloaded) before the next job.
 */

import type { Worker } from "node:worker_threads";
import { CancelledError, DeviceFailureError, EaselError } from "../errors.js";
import type { LoraSelection } from "../pipeline/lora/merge.js";
import type { GeneratedImage, GenerateParams, GenerateTimings, Progress } from "../pipeline/types.js";
import { siblingModule, startWorker } from "../workers.js";
import type { EngineSpec } from "./engine.js";
import { detailOf } from "./failures.js";
import { queueMessages } from "./messages.js";
import {
  type DeviceWorkerData,
  deserializeError,
  type FromWorker,
  ownBuffer,
  type ToWorker,
} from "./worker-protocol.js";

export interface DeviceWorkerOptions {
  /** "cpu" or "cuda:N"; also the name in events. */
  device: string;
  engine: EngineSpec;
  /** A live preview every k steps; 0 = none. */
  previewEvery: number;
  /** A run taking longer is failed and its thread terminated. */
  jobTimeoutMs: number;
  /** How long a cancelled run may take to notice before its thread is terminated. */
  cancelGraceMs?: number;
  /** How long a retiring thread may take to release its engine before it is terminated. */
  shutdownGraceMs?: number;
  /** Take the next job while a run's images are encoded (default true); false only to measure it. */
  freeBeforeEncode?: boolean;
  /** Models the device keeps loaded (EASEL_MODELS_PER_DEVICE; default 1). */
  modelsPerDevice?: number;
}

export interface DeviceRunHooks {
  signal?: AbortSignal;
  /** The job's model folder when it is not the engine's own; the device loads it on demand. */
  modelDir?: string;
  /** LoRA files (absolute paths) merged into the model for this run; absent = none. */
  loras?: LoraSelection[];
  onProgress?: (progress: Progress) => void;
}

export interface DeviceResult {
  images: GeneratedImage[];
  timings: GenerateTimings;
}

/** A run handed to the device: when the device can take the next job, and when the run ends. */
export interface DeviceRun {
  /**
   * Resolves when the device may take the next job: "free" when the run let it go while its images
   * are still being encoded, "ended" when `result` has settled (done, failed, cancelled).
   */
  freed: Promise<"free" | "ended">;
  result: Promise<DeviceResult>;
}

interface Deferred<T> {
  promise: Promise<T>;
  resolve: (value: T) => void;
  reject: (error: unknown) => void;
}

function deferred<T>(): Deferred<T> {
  let resolve!: (value: T) => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  promise.catch(() => {}); // rejections are observed by whoever awaits; none is unhandled
  return { promise, resolve, reject };
}

/** Settles with `promise`, or rejects with a CancelledError as soon as `signal` aborts. */
function untilAborted<T>(promise: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return promise;
  if (signal.aborted) return Promise.reject(new CancelledError());
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(new CancelledError());
    signal.addEventListener("abort", onAbort, { once: true });
    promise.then(resolve, reject).finally(() => signal.removeEventListener("abort", onAbort));
  });
}

interface ActiveRun {
  jobId: string;
  onProgress: ((progress: Progress) => void) | undefined;
  result: Deferred<DeviceResult>;
  freed: Deferred<"free" | "ended">;
}

/** One worker thread and what it is doing. */
interface Thread {
  worker: Worker;
  ready: Deferred<void>;
  exited: Deferred<number>;
  /** The run holding the device. */
  run: ActiveRun | undefined;
  /** Runs that let the device go and are encoding their images. */
  encoding: Map<string, ActiveRun>;
}

export class DeviceWorker {
  readonly device: string;
  /** Worker threads started so far; a replacement after a crash, timeout or engine error adds one. */
  threadsStarted = 0;
  /** Why the latest engine load failed (for the operator); undefined once one succeeds. */
  loadError: string | undefined;
  private thread: Thread | undefined;
  /** Threads being let go; a new one starts only after they are gone (their memory is freed). */
  private retiring: Promise<unknown> = Promise.resolve();
  private stopped = false;
  private readonly cancelGraceMs: number;
  private readonly shutdownGraceMs: number;

  constructor(private readonly options: DeviceWorkerOptions) {
    this.device = options.device;
    this.cancelGraceMs = options.cancelGraceMs ?? 15_000;
    this.shutdownGraceMs = options.shutdownGraceMs ?? 10_000;
  }

  /** Whether the device can take jobs: not stopped, and its engine did not fail to load last time. */
  get ready(): boolean {
    return !this.stopped && this.loadError === undefined;
  }

  /** Starts the thread and loads the engine now rather than on the first job; rejects if loading fails. */
  async warmUp(): Promise<void> {
    const thread = await this.currentThread();
    await thread.ready.promise;
  }

  /** Runs one job to its end; see start(). */
  async run(jobId: string, params: GenerateParams, hooks: DeviceRunHooks = {}): Promise<DeviceResult> {
    return (await this.start(jobId, params, hooks)).result;
  }

  /**
   * Hands one job to the device, which takes one at a time (the dispatcher guarantees it, waiting
   * for `freed` before the next). Rejects when the job cannot start (cancelled first, a stopped
   * device, an engine that failed to load); how the run ends is `result`.
   */
  async start(jobId: string, params: GenerateParams, hooks: DeviceRunHooks = {}): Promise<DeviceRun> {
    if (hooks.signal?.aborted) throw new CancelledError();
    const thread = await this.currentThread();
    // A stop or a cancellation must not wait for a whole model load (e.g. after a restart).
    await untilAborted(thread.ready.promise, hooks.signal);
    if (hooks.signal?.aborted) throw new CancelledError();
    if (thread.run) throw new Error(`${this.device} is already running job ${thread.run.jobId}`);

    const run: ActiveRun = { jobId, onProgress: hooks.onProgress, result: deferred(), freed: deferred() };
    thread.run = run;
    const timers: NodeJS.Timeout[] = [];
    const onAbort = () => {
      this.post(thread, { type: "cancel", jobId });
      timers.push(
        setTimeout(() => {
          // The engine did not notice in time (a long synchronous step): stop the thread instead.
          this.settle(thread, run, new CancelledError());
          this.terminate(thread);
        }, this.cancelGraceMs),
      );
    };
    hooks.signal?.addEventListener("abort", onAbort, { once: true });
    timers.push(
      setTimeout(() => {
        this.settle(
          thread,
          run,
          new EaselError("timeout", queueMessages.timedOut(this.options.jobTimeoutMs)),
        );
        this.terminate(thread);
      }, this.options.jobTimeoutMs),
    );

    const transfer: ArrayBuffer[] = [];
    if (params.source) {
      const image = ownBuffer(params.source.image);
      params = { ...params, source: { ...params.source, image } };
      transfer.push(image.buffer as ArrayBuffer);
    }
    this.post(
      thread,
      {
        type: "run",
        jobId,
        params,
        previewEvery: this.options.previewEvery,
        ...(hooks.modelDir !== undefined ? { modelDir: hooks.modelDir } : {}),
        ...(hooks.loras && hooks.loras.length > 0 ? { loras: hooks.loras } : {}),
      },
      transfer,
    );
    // Timeouts and cancellation cover the device's part; encoding is bounded and cannot be stopped.
    void run.freed.promise.then(() => {
      for (const timer of timers) clearTimeout(timer);
      hooks.signal?.removeEventListener("abort", onAbort);
    });
    return { freed: run.freed.promise, result: run.result.promise };
  }

  /** Lets the thread go (its engine disposed); a running job is cancelled. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.thread) this.retire(this.thread);
    await this.retiring;
  }

  private async currentThread(): Promise<Thread> {
    if (this.stopped) throw new DeviceFailureError(queueMessages.stopping());
    while (!this.thread) {
      const retiring = this.retiring;
      await retiring;
      if (this.stopped) throw new DeviceFailureError(queueMessages.stopping());
      // Another caller may have started one, or another retirement begun, while this one waited.
      if (!this.thread && this.retiring === retiring) this.thread = this.spawn();
    }
    return this.thread;
  }

  private spawn(): Thread {
    const workerData: DeviceWorkerData = {
      engine: this.options.engine,
      freeBeforeEncode: this.options.freeBeforeEncode ?? true,
      modelsPerDevice: this.options.modelsPerDevice ?? 1,
    };
    const worker = startWorker(siblingModule(import.meta.url, "device-worker"), { workerData });
    this.threadsStarted += 1;
    const thread: Thread = {
      worker,
      ready: deferred(),
      exited: deferred(),
      run: undefined,
      encoding: new Map(),
    };
    let crash: unknown;
    worker.on("message", (message: FromWorker) => this.onMessage(thread, message));
    worker.on("error", (error) => {
      crash = error;
    });
    worker.on("exit", (code) => {
      if (this.thread === thread) this.thread = undefined;
      const error = new DeviceFailureError(queueMessages.workerCrashed(), {
        cause: crash ?? new Error(`worker thread exited with code ${code}`),
      });
      thread.ready.reject(error);
      for (const run of [thread.run, ...thread.encoding.values()]) if (run) this.settle(thread, run, error);
      thread.exited.resolve(code);
    });
    return thread;
  }

  private onMessage(thread: Thread, message: FromWorker): void {
    switch (message.type) {
      case "ready":
        this.loadError = undefined;
        thread.ready.resolve();
        break;
      case "load-failed": {
        const error = deserializeError(message.error);
        this.loadError = detailOf(error);
        thread.ready.reject(error);
        this.retire(thread);
        break;
      }
      case "progress":
        if (thread.run?.jobId === message.jobId) thread.run.onProgress?.(message.progress);
        break;
      case "device-free":
        if (thread.run?.jobId === message.jobId) {
          const run = thread.run;
          thread.run = undefined;
          thread.encoding.set(run.jobId, run);
          run.freed.resolve("free");
        }
        break;
      case "done": {
        const run = this.runOf(thread, message.jobId);
        if (run) this.settle(thread, run, undefined, { images: message.images, timings: message.timings });
        break;
      }
      case "failed": {
        const run = this.runOf(thread, message.jobId);
        if (run) this.settle(thread, run, deserializeError(message.error));
        if (message.recycle) this.retire(thread);
        break;
      }
    }
  }

  private runOf(thread: Thread, jobId: string): ActiveRun | undefined {
    return thread.run?.jobId === jobId ? thread.run : thread.encoding.get(jobId);
  }

  /** Ends a run once: the first outcome wins (a late message about it is ignored). */
  private settle(thread: Thread, run: ActiveRun, error: unknown, result?: DeviceResult): void {
    if (thread.run === run) thread.run = undefined;
    else if (thread.encoding.get(run.jobId) === run) thread.encoding.delete(run.jobId);
    else return;
    if (result) run.result.resolve(result);
    else run.result.reject(error);
    run.freed.resolve("ended");
  }

  private post(thread: Thread, message: ToWorker, transfer: ArrayBuffer[] = []): void {
    thread.worker.postMessage(message, transfer);
  }

  /** Asks the thread to dispose its engine and end; terminates it if it does not within the grace time. */
  private retire(thread: Thread): void {
    if (this.thread === thread) this.thread = undefined;
    this.post(thread, { type: "shutdown" });
    const grace = setTimeout(() => void thread.worker.terminate(), this.shutdownGraceMs);
    this.letGo(
      thread,
      thread.exited.promise.finally(() => clearTimeout(grace)),
    );
  }

  /** Ends the thread at once (a hung or timed-out run); native memory is freed when it exits. */
  private terminate(thread: Thread): void {
    if (this.thread === thread) this.thread = undefined;
    this.letGo(thread, thread.worker.terminate());
  }

  private letGo(thread: Thread, gone: Promise<unknown>): void {
    const previous = this.retiring;
    this.retiring = Promise.all([previous, gone.catch(() => {}), thread.exited.promise]);
  }
}
