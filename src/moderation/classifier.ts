/**
 * The image classifier as the queue uses it: a worker thread of its own (classifier-worker.ts) that
 * holds TensorFlow.js and the model, so the queue's thread never runs a classification. `start()`
 * loads the model and rejects with a ClassifierLoadError saying why; `classify()` answers one
 * encoded image's class probabilities, or rejects with a ClassificationError. A thread that dies is
 * started again for the next image; its pending images fail (never pass unclassified).
 */
import type { Worker } from "node:worker_threads";
import { EaselError } from "../errors.js";
import { type Logger, silentLogger } from "../logger.js";
import { siblingModule, startWorker } from "../workers.js";
import type { ClassScores } from "./decision.js";
import type { ClassifierInfo, ClassifierWorkerData, FromClassifier, ToClassifier } from "./protocol.js";

/** The classifier cannot be loaded: `message` is the operator's (setting, path, reason). */
export class ClassifierLoadError extends EaselError {
  constructor(model: string, reason: string) {
    super(
      "config",
      "Output moderation on this server is not set up correctly, so nothing is posted; its owner can see why in the logs.",
    );
    this.message = `The moderation classifier (EASEL_MODERATION_MODEL=${model}) cannot be loaded: ${reason}`;
  }
}

/** An image could not be classified: its job fails, nothing is posted unchecked. */
export class ClassificationError extends EaselError {
  constructor(reason: string, options?: { cause?: unknown }) {
    super(
      "moderation",
      "The bot could not check this image before posting it, so it was not posted. Please try again.",
      options,
    );
    this.message = `The moderation classifier failed: ${reason}`;
  }
}

export interface ImageClassifierOptions {
  /** EASEL_MODERATION_MODEL. */
  model: string;
  logger?: Logger;
  /** An image taking longer fails and the thread is replaced (default 60 s; a 1024² image takes ~0.1 s). */
  timeoutMs?: number;
}

interface Pending {
  resolve: (scores: ClassScores) => void;
  reject: (error: unknown) => void;
  timer: NodeJS.Timeout;
}

interface Thread {
  worker: Worker;
  ready: Promise<ClassifierInfo>;
}

export class ImageClassifier {
  private readonly model: string;
  private readonly logger: Logger;
  private readonly timeoutMs: number;
  private thread: Thread | undefined;
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private stopped = false;

  constructor(options: ImageClassifierOptions) {
    this.model = options.model;
    this.logger = options.logger ?? silentLogger;
    this.timeoutMs = options.timeoutMs ?? 60_000;
  }

  /** Loads the model in its thread; rejects with a ClassifierLoadError saying why it cannot. */
  async start(): Promise<ClassifierInfo> {
    this.stopped = false;
    return this.threadOf().ready;
  }

  /** The five class probabilities of an encoded image (PNG, WebP, JPEG). */
  async classify(image: Uint8Array): Promise<ClassScores> {
    if (this.stopped) throw new ClassificationError("the classifier was stopped");
    const thread = this.threadOf();
    try {
      await thread.ready;
    } catch (error) {
      throw new ClassificationError(error instanceof Error ? error.message : String(error), { cause: error });
    }
    const id = this.nextId++;
    // A copy the thread may own: the caller keeps its bytes (it writes them to disk next).
    const copy = new Uint8Array(image);
    return new Promise<ClassScores>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new ClassificationError(`no answer within ${this.timeoutMs} ms`));
        this.replace(thread, "a classification timed out");
      }, this.timeoutMs);
      this.pending.set(id, { resolve, reject, timer });
      const message: ToClassifier = { type: "classify", id, image: copy };
      thread.worker.postMessage(message, [copy.buffer]);
    });
  }

  /** Lets the thread go; images still being classified fail. */
  async stop(): Promise<void> {
    this.stopped = true;
    const thread = this.thread;
    this.thread = undefined;
    this.failPending("the classifier was stopped");
    if (thread) await thread.worker.terminate();
  }

  private threadOf(): Thread {
    if (this.thread) return this.thread;
    const data: ClassifierWorkerData = { model: this.model };
    // Its own stdout and stderr: nsfwjs and TensorFlow.js print notices there, kept out of the logs' stream.
    const worker = startWorker(siblingModule(import.meta.url, "classifier-worker"), {
      workerData: data,
      stdout: true,
      stderr: true,
    });
    for (const stream of [worker.stdout, worker.stderr]) {
      stream.setEncoding("utf8");
      stream.on("data", (text: string) => {
        const line = text.trim();
        if (line) this.logger.debug({ classifier: line }, "moderation classifier output");
      });
    }
    let settle!: { resolve: (info: ClassifierInfo) => void; reject: (error: unknown) => void };
    const ready = new Promise<ClassifierInfo>((resolve, reject) => {
      settle = { resolve, reject };
    });
    ready.catch(() => {}); // observed by start() or classify()
    const thread: Thread = { worker, ready };
    this.thread = thread;
    worker.on("message", (message: FromClassifier) => {
      switch (message.type) {
        case "ready": {
          const { type: _, ...info } = message;
          this.logger.info(
            info,
            `moderation classifier loaded: ${info.model} (${info.size}², ${info.backend})`,
          );
          settle.resolve(info);
          break;
        }
        case "load_failed":
          settle.reject(new ClassifierLoadError(this.model, message.message));
          break;
        case "scores":
        case "failed": {
          const pending = this.pending.get(message.id);
          if (!pending) break;
          this.pending.delete(message.id);
          clearTimeout(pending.timer);
          if (message.type === "scores") pending.resolve(message.scores);
          else pending.reject(new ClassificationError(message.message));
          break;
        }
      }
    });
    worker.on("error", (error) => {
      settle.reject(new ClassifierLoadError(this.model, error.message));
      this.logger.error({ err: error }, "moderation classifier thread crashed");
      this.forget(thread, `its thread crashed: ${error.message}`);
    });
    worker.on("exit", (code) => {
      settle.reject(new ClassifierLoadError(this.model, `its thread exited (code ${code}) before loading`));
      this.forget(thread, `its thread exited (code ${code})`);
    });
    return thread;
  }

  /** A thread that is gone: the next image starts a new one; images it held fail. */
  private forget(thread: Thread, reason: string): void {
    if (this.thread !== thread) return;
    this.thread = undefined;
    this.failPending(reason);
  }

  private replace(thread: Thread, reason: string): void {
    this.forget(thread, reason);
    void thread.worker.terminate();
  }

  private failPending(reason: string): void {
    for (const [id, pending] of this.pending) {
      clearTimeout(pending.timer);
      pending.reject(new ClassificationError(reason));
      this.pending.delete(id);
    }
  }
}
