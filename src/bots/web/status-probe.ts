/**
 * The queue's status for /healthz and /metrics, within a deadline: a queue whose backend hangs
 * (Redis away) must not hang the probes that would report it. Probes that come while a status()
 * call is younger than the deadline share it, so a stuck queue holds at most one pending call per
 * deadline, not one per probe; an older one is given up, so the probe sees the queue come back.
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
  queue: Pick<JobQueue, "status">,
  logger: Logger,
  deadlineMs: number = STATUS_DEADLINE_MS,
): StatusProbe {
  let inFlight: { reading: Promise<StatusReading>; since: number } | undefined;
  let failing = false;
  /** Logs only the changes, not every probe of a queue that stays down. */
  const note = (ok: boolean, error?: unknown): void => {
    if (ok && failing) logger.info("the queue reports its status again");
    if (!ok && !failing) logger.warn({ err: error }, "the queue did not report its status");
    failing = !ok;
  };

  const ask = (): Promise<StatusReading> =>
    // A status() that throws at once is a failure like a rejection.
    Promise.resolve()
      .then(() => queue.status())
      .then(
        (status): StatusReading => {
          note(true);
          return { ok: true, status };
        },
        (error: unknown): StatusReading => {
          note(false, error);
          // The cause (which may name a Redis URL) stays in the log; probes see what is down.
          return { ok: false, problem: { component: "queue", message: "could not report its status" } };
        },
      );

  return () => {
    const now = performance.now();
    if (!inFlight || now - inFlight.since >= deadlineMs) {
      const reading = ask();
      const call = { reading, since: now };
      inFlight = call;
      void reading.then(() => {
        if (inFlight === call) inFlight = undefined;
      });
    }
    const { reading } = inFlight;
    return new Promise<StatusReading>((resolve) => {
      const timer = setTimeout(() => {
        note(false, new Error(`no answer within ${deadlineMs} ms`));
        resolve({
          ok: false,
          problem: { component: "queue", message: `did not answer within ${deadlineMs / 1000} s` },
        });
      }, deadlineMs);
      void reading.then((result) => {
        clearTimeout(timer);
        resolve(result);
      });
    });
  };
}
