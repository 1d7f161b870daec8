/**
 * The queue's events as a small typed emitter. A listener that throws must not break the queue's
 * bookkeeping, so listener errors go to a sink instead of up the call stack.
 */
import type { JobQueueEventName, JobQueueEvents, JobQueueListener } from "./job-queue.js";

export class QueueEventEmitter {
  private readonly listeners = new Map<JobQueueEventName, Set<(event: never) => void>>();

  constructor(private readonly onListenerError: (error: unknown, event: JobQueueEventName) => void) {}

  on<E extends JobQueueEventName>(name: E, listener: JobQueueListener<E>): () => void {
    let set = this.listeners.get(name);
    if (!set) {
      set = new Set();
      this.listeners.set(name, set);
    }
    set.add(listener as (event: never) => void);
    return () => {
      this.listeners.get(name)?.delete(listener as (event: never) => void);
    };
  }

  emit<E extends JobQueueEventName>(name: E, event: JobQueueEvents[E]): void {
    const set = this.listeners.get(name);
    if (!set) return;
    for (const listener of [...set]) {
      try {
        (listener as JobQueueListener<E>)(event);
      } catch (error) {
        this.onListenerError(error, name);
      }
    }
  }
}
