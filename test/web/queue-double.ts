/**
 * A JobQueue at the adapter's boundary that forwards to a real one (the embedded queue of a
 * running easel) except where a test makes it fail: a submit or cancel that throws as a broken
 * store would, a status() that never settles as a queue whose Redis is away, or one that names
 * problems. The chat service and the web server above it are the real ones.
 */
import type { Writable } from "node:stream";
import pino, { type Logger } from "pino";
import { startWebServer, type WebServer } from "../../src/bots/web/index.js";
import { createChatService } from "../../src/commands/chat-service.js";
import type {
  JobQueue,
  JobQueueEventName,
  JobQueueListener,
  QueueStatus,
  SubmitResult,
} from "../../src/requests/jobs.js";
import type { GenerationRequest, UserId } from "../../src/requests/request.js";
import type { Scope, WebEasel } from "./support.js";

export interface Faults {
  submit?: (request: GenerationRequest) => Promise<SubmitResult>;
  cancel?: () => Promise<"cancelled" | "stopping">;
  status?: () => Promise<QueueStatus>;
}

export class FaultyQueue implements JobQueue {
  /** Times status() was called. */
  statusCalls = 0;

  constructor(
    private readonly inner: JobQueue,
    readonly faults: Faults,
  ) {}

  get images() {
    return this.inner.images;
  }
  get ledger() {
    return this.inner.ledger;
  }
  start() {
    return this.inner.start();
  }
  recover() {
    return this.inner.recover();
  }
  submit(request: GenerationRequest) {
    return this.faults.submit ? this.faults.submit(request) : this.inner.submit(request);
  }
  cancel(jobId: string, byUserId: UserId, options?: { anyone?: boolean }) {
    return this.faults.cancel ? this.faults.cancel() : this.inner.cancel(jobId, byUserId, options);
  }
  job(jobId: string) {
    return this.inner.job(jobId);
  }
  history(userId: UserId, limit?: number) {
    return this.inner.history(userId, limit);
  }
  position(jobId: string) {
    return this.inner.position(jobId);
  }
  wait(jobId: string, signal?: AbortSignal) {
    return this.inner.wait(jobId, signal);
  }
  on<E extends JobQueueEventName>(name: E, listener: JobQueueListener<E>) {
    return this.inner.on(name, listener);
  }
  markPosted(jobId: string, where: string) {
    return this.inner.markPosted(jobId, where);
  }
  status() {
    this.statusCalls++;
    return this.faults.status ? this.faults.status() : this.inner.status();
  }
  stop() {
    return Promise.resolve(); // the easel it wraps stops its own queue
  }
}

/** A logger whose JSON lines a test reads. */
export function memoryLogger(): { logger: Logger; lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = [];
  const stream = {
    write(line: string) {
      lines.push(JSON.parse(line) as Record<string, unknown>);
      return true;
    },
  } as unknown as Writable;
  return { logger: pino({ level: "debug" }, stream), lines };
}

/**
 * A second web server over `easel`'s own queue, seen through `queue` (a FaultyQueue), with a real
 * chat service; stopped when the scope ends.
 */
export async function startFaultyServer(
  scope: Scope,
  easel: WebEasel,
  faults: Faults,
): Promise<{ server: WebServer; queue: FaultyQueue; lines: Array<Record<string, unknown>> }> {
  const { config } = easel.easel;
  const queue = new FaultyQueue(easel.easel.queue, faults);
  const { logger, lines } = memoryLogger();
  const chat = createChatService({ config, queue, logger });
  const server = await startWebServer({ config, logger, chat, queue });
  scope.after(() => server.stop());
  return { server, queue, lines };
}
