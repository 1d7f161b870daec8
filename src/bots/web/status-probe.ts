/**
 * The queue's status for /healthz and /metrics, within a deadline: a queue whose backend hangs
 * (Redis away) must not hang the probes that would report it. Callers share one status() call in
 * flight, so a queue that never answers holds one pending call, not one per probe.
 */
import type { Logger } from "pino";
import type { JobQueue, QueueStatus } from "../../requests/jobs.js";

/** How long /healthz and /metrics wait for the queue's status. */
export const STATUS_DEADLINE_MS = 2000;

/** A part of the service that is down: the queue's own problems, or the queue itself. */
export interface Problem {
  component: NonNullable<QueueStatus["problems"]>[number]["component"] | "queue";
  message: string;
}

export type StatusReading = { ok: true; status: QueueStatus } | { ok: false; problem: Problem };

export type StatusProbe = () => Promise<StatusReading>;

export function createStatusProbe(
  queue: JobQueue,
  logger: Logger,
  deadlineMs: number = STATUS_DEADLINE_MS,
): StatusProbe {
  let inFlight: Promise<StatusReading> | undefined;
  let failing = false;

  const ask = (): Promise<StatusReading> => {
    // A status() that throws at once is a failure like a rejection.
    const reading = Promise.resolve()
      .then(() => queue.status())
      .then(
        (status): StatusReading => {
          if (failing) logger.info("the queue reports its status again");
          failing = false;
          return { ok: true, status };
        },
        (error: unknown): StatusReading => {
          if (!failing) logger.warn({ err: error }, "the queue could not report its status");
          failing = true;
          // The cause (which may name a Redis URL) stays in the log; probes see what is down.
          return { ok: false, problem: { component: "queue", message: "could not report its status" } };
        },
      );
    const clear = () => {
      if (inFlight === reading) inFlight = undefined;
    };
    void reading.then(clear);
    return reading;
  };

  return () => {
    inFlight ??= ask();
    const reading = inFlight;
    return new Promise<StatusReading>((resolve) => {
      const timer = setTimeout(() => {
        const seconds = deadlineMs / 1000;
        resolve({
          ok: false,
          problem: { component: "queue", message: `did not answer within ${seconds} s` },
        });
      }, deadlineMs);
      void reading.then((result) => {
        clearTimeout(timer);
        resolve(result);
      });
    });
  };
}
