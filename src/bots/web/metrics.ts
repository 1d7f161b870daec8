/**
 * Prometheus metrics from the queue's status and events, in a registry of this server's own (not
 * prom-client's global one), so two servers in one process never share or clash.
 */
import { Counter, Gauge, Histogram, Registry } from "prom-client";
import type { JobQueue, QueueStatus } from "../../requests/jobs.js";
import type { StatusProbe, StatusReading } from "./status-probe.js";

/** Seconds: from a fast GPU step to a long CPU run. */
const DURATION_BUCKETS = [0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300, 600];
const WAIT_BUCKETS = [0.01, 0.1, 0.5, 1, 5, 10, 30, 60, 120, 300, 900];

export interface QueueMetrics {
  registry: Registry;
  /** The Prometheus text exposition. */
  render(): Promise<string>;
  /** Unsubscribes from the queue's events. */
  close(): void;
}

export function createQueueMetrics(queue: Pick<JobQueue, "on">, probe: StatusProbe): QueueMetrics {
  const registry = new Registry();
  // One status reading per scrape, taken before the registry collects and read by the gauges; within
  // the probe's deadline, so a stuck queue leaves its gauges at their last values and the scrape answers.
  let reading: StatusReading | undefined;
  const status = (): QueueStatus | undefined => (reading?.ok ? reading.status : undefined);
  new Gauge({
    name: "easel_queue_up",
    help: "1 when the queue reported its status within the deadline, else 0.",
    registers: [registry],
    collect() {
      this.set(status() === undefined ? 0 : 1);
    },
  });
  new Gauge({
    name: "easel_problems",
    help: "What is down, by component (redis, devices, store; queue when it did not report).",
    labelNames: ["component"],
    registers: [registry],
    collect() {
      this.reset();
      const problems =
        reading === undefined ? [] : reading.ok ? (reading.status.problems ?? []) : [reading.problem];
      for (const problem of problems) this.inc({ component: problem.component });
    },
  });
  new Gauge({
    name: "easel_queue_waiting_jobs",
    help: "Jobs waiting for a device.",
    registers: [registry],
    collect() {
      const current = status();
      if (current) this.set(current.waiting);
    },
  });
  new Gauge({
    name: "easel_queue_running_jobs",
    help: "Jobs running on a device.",
    registers: [registry],
    collect() {
      const current = status();
      if (current) this.set(current.running);
    },
  });
  new Gauge({
    name: "easel_device_busy",
    help: "1 while the device runs a job, else 0.",
    labelNames: ["device"],
    registers: [registry],
    collect() {
      for (const device of status()?.devices ?? []) {
        this.set({ device: device.device }, device.jobId === undefined ? 0 : 1);
      }
    },
  });
  const waits = new Histogram({
    name: "easel_job_wait_seconds",
    help: "Time from submission to the start on a device, of jobs that finished.",
    buckets: WAIT_BUCKETS,
    registers: [registry],
  });
  const durations = new Histogram({
    name: "easel_job_duration_seconds",
    help: "Time from the start on a device to the job's end, by outcome (done, failed, cancelled).",
    labelNames: ["outcome"],
    buckets: DURATION_BUCKETS,
    registers: [registry],
  });
  const jobs = new Counter({
    name: "easel_jobs_finished_total",
    help: "Jobs that ended, by outcome (done, failed, cancelled).",
    labelNames: ["outcome"],
    registers: [registry],
  });
  const busy = new Counter({
    name: "easel_device_busy_seconds_total",
    help: "Time each device spent on jobs.",
    labelNames: ["device"],
    registers: [registry],
  });
  const failures = new Counter({
    name: "easel_job_failures_total",
    help: "Failed jobs by error code.",
    labelNames: ["code"],
    registers: [registry],
  });
  const moderation = new Counter({
    name: "easel_moderation_decisions_total",
    help: "Images output moderation classified, by action (none, spoiler, blur, withhold) and whether the score was flagged (an exempt NSFW channel's flagged image: action none).",
    labelNames: ["action", "flagged"],
    registers: [registry],
  });
  for (const outcome of ["done", "failed", "cancelled"]) jobs.inc({ outcome }, 0);

  // Where and since when each job runs: `done` carries its own timings, failures do not.
  const running = new Map<string, { device: string; since: number }>();
  const ended = (jobId: string, outcome: "failed" | "cancelled"): void => {
    jobs.inc({ outcome });
    const run = running.get(jobId);
    running.delete(jobId);
    if (!run) return; // cancelled while waiting: it never ran
    const seconds = (performance.now() - run.since) / 1000;
    durations.observe({ outcome }, seconds);
    busy.inc({ device: run.device }, seconds);
  };
  const unsubscribe = [
    queue.on("started", (event) => {
      running.set(event.jobId, { device: event.device, since: performance.now() });
    }),
    queue.on("done", (event) => {
      const device = running.get(event.jobId)?.device;
      running.delete(event.jobId);
      jobs.inc({ outcome: "done" });
      durations.observe({ outcome: "done" }, event.durationMs / 1000);
      waits.observe(event.waitedMs / 1000);
      if (device !== undefined) busy.inc({ device }, event.deviceMs / 1000);
      for (const { moderation: decision } of event.images) {
        if (decision) moderation.inc({ action: decision.action, flagged: String(decision.flagged) });
      }
    }),
    queue.on("failed", (event) => {
      failures.inc({ code: event.code });
      ended(event.jobId, "failed");
    }),
    queue.on("cancelled", (event) => ended(event.jobId, "cancelled")),
  ];

  return {
    registry,
    async render() {
      reading = await probe();
      return registry.metrics();
    },
    close() {
      for (const off of unsubscribe) off();
      running.clear();
    },
  };
}
