/**
 * Following a job on a platform: the one loop every adapter uses to keep a job's message in step
 * with the chat service's views. Views are sent one at a time, in order; views that arrive while a
 * send is in flight collapse into the newest; a view that shows nothing new is skipped; sends keep
 * at least `minIntervalMs` apart (a slow call that bunched views up does not make a burst); the
 * final view is always sent, at once, and ends the follow. What a send does is the platform's:
 * a `JobSink` posts the job's message the first time and edits it after.
 */
import type { Logger } from "pino";
import type { ChatService, JobView, ViewChange } from "../commands/chat.js";
import { changesBetween } from "../commands/view-changes.js";

export interface JobSink {
  /** Posts the job's first message. A throw ends the follow (the sink has dealt with the job). */
  post(view: JobView, changes: readonly ViewChange[]): Promise<void>;
  /** Shows a later view (the final one too): edits the message, or posts the result. */
  edit(view: JobView, changes: readonly ViewChange[]): Promise<void>;
}

export interface FollowOptions {
  logger: Logger;
  /** At least this long between two sends, except the final one (default 0). */
  minIntervalMs?: number;
  /** The view already on screen (sent with the first answer): not posted again. */
  shown?: JobView;
  /** What a view puts on screen; a non-final view with the same signature as the last is skipped. */
  signature?: (view: JobView) => string;
}

/** The parts of a view a message shows. */
export function viewSignature(view: JobView): string {
  return JSON.stringify([
    view.state,
    view.text,
    view.buttons.map((row) => row.map((button) => [button.id, button.label, button.style])),
    view.images.map((image) => image.id),
    view.preview ? [view.preview.data.length, view.step] : null,
  ]);
}

/** One job followed to its final view on one sink. */
export class JobFollower {
  /** Resolves once the final view was sent (or given up on), or the follow was stopped. */
  readonly done: Promise<void>;
  private finish!: () => void;
  private pending: JobView | undefined;
  private shown: JobView | undefined;
  private shownSignature: string | undefined;
  private sending: Promise<void> | undefined;
  /** A drain loop runs; cleared by the loop itself as it ends, so no view waits without one. */
  private draining = false;
  private lastSendAt = Number.NEGATIVE_INFINITY;
  private unwatch: (() => void) | undefined;
  private ended = false;
  private wake: (() => void) | undefined;

  constructor(
    private readonly chat: ChatService,
    readonly jobId: string,
    private readonly sink: JobSink,
    private readonly options: FollowOptions,
  ) {
    this.done = new Promise((resolve) => (this.finish = resolve));
    if (options.shown) this.markShown(options.shown);
  }

  /** Posts `first` (unless it is already on screen) and follows the job to its end. */
  async start(first: JobView): Promise<void> {
    if (!this.shown) {
      try {
        await this.sink.post(first, changesBetween(undefined, first));
        this.markShown(first);
      } catch (error) {
        this.options.logger.warn({ err: error, jobId: this.jobId }, "a job's first message was not posted");
        this.end();
        return;
      }
    }
    if (this.ended) return; // stopped while the message was being posted
    if (first.final) {
      // Posted whole (a sink's post shows a final view as it shows the last edit), or on screen.
      this.end();
      return;
    }
    this.unwatch = this.chat.watch(this.jobId, (view) => this.show(view), {
      minIntervalMs: this.options.minIntervalMs ?? 0,
    });
  }

  /** Queues a view behind the send in flight, replacing any view still waiting. */
  show(view: JobView): void {
    if (this.ended) return;
    this.pending = view;
    if (view.final) this.wake?.();
    if (!this.draining) {
      this.draining = true;
      this.sending = this.drain();
    }
  }

  /** Waits for the send in flight and any waiting view. */
  async flush(): Promise<void> {
    while (this.draining) await this.sending;
  }

  /** Stops following (the job goes on in the queue). */
  stop(): void {
    this.end();
  }

  /** Takes no new views; the one waiting is still sent (see flush). */
  detach(): void {
    this.unwatch?.();
  }

  private markShown(view: JobView): void {
    this.shown = view;
    this.shownSignature = (this.options.signature ?? viewSignature)(view);
    this.lastSendAt = performance.now();
  }

  private end(): void {
    if (this.ended) return;
    this.ended = true;
    this.unwatch?.();
    this.wake?.();
    this.finish();
  }

  /** One send at a time; the flag is cleared in the same turn the loop ends, so no view waits. */
  private async drain(): Promise<void> {
    try {
      while (this.pending && !this.ended) {
        if (!this.pending.final) {
          const wait = this.lastSendAt + (this.options.minIntervalMs ?? 0) - performance.now();
          if (wait > 0) {
            // A final view arriving meanwhile goes at once.
            await new Promise<void>((resolve) => {
              const timer = setTimeout(resolve, wait);
              this.wake = () => {
                clearTimeout(timer);
                resolve();
              };
            });
            this.wake = undefined;
            if (!this.pending || this.ended) break;
          }
        }
        const view = this.pending;
        this.pending = undefined;
        const signature = (this.options.signature ?? viewSignature)(view);
        if (!view.final && signature === this.shownSignature) continue;
        const changes = changesBetween(this.shown, view);
        this.lastSendAt = performance.now();
        try {
          await this.sink.edit(view, changes);
          this.shown = view;
          this.shownSignature = signature;
        } catch (error) {
          this.options.logger.warn(
            { err: error, jobId: this.jobId, state: view.state },
            "a job's message update failed",
          );
        }
        if (view.final) this.end();
      }
    } finally {
      this.draining = false;
    }
  }
}

/** The jobs one adapter follows, each once per process (so nothing is posted twice). */
export class Followers {
  private readonly jobs = new Map<string, JobFollower>();
  private stopped = false;

  constructor(
    private readonly chat: ChatService,
    private readonly options: Omit<FollowOptions, "shown">,
  ) {}

  /**
   * Follows a job on `sink` from `first` (already on screen when `shown`); resolves once its first
   * message is up. A job already followed, or any job after stop(), is left alone.
   */
  async follow(first: JobView, sink: JobSink, shown?: JobView): Promise<void> {
    if (this.stopped || this.jobs.has(first.jobId)) return;
    const follower = new JobFollower(this.chat, first.jobId, sink, {
      ...this.options,
      ...(shown ? { shown } : {}),
    });
    this.jobs.set(first.jobId, follower);
    void follower.done.then(() => {
      if (this.jobs.get(first.jobId) === follower) this.jobs.delete(first.jobId);
    });
    await follower.start(first);
  }

  has(jobId: string): boolean {
    return this.jobs.has(jobId);
  }

  /** Resolves when every followed job has sent its final view. */
  async idle(): Promise<void> {
    await Promise.all([...this.jobs.values()].map((job) => job.done));
  }

  /** Stops following every job, letting sends in flight and waiting views go within `graceMs`. */
  async stop(graceMs = 0): Promise<void> {
    this.stopped = true;
    const jobs = [...this.jobs.values()];
    for (const job of jobs) job.detach();
    if (graceMs > 0) {
      const flushed = Promise.all(jobs.map((job) => job.flush()));
      await Promise.race([flushed, new Promise((resolve) => setTimeout(resolve, graceMs).unref())]);
    }
    for (const job of jobs) job.stop();
    this.jobs.clear();
  }
}
