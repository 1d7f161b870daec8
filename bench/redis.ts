/**
 * Scale-out benchmark: a real redis-server (AOF, fsync always), the gateway in this process and one
 * `easel worker` process with 8 simulated devices (sleeping steps, as a GPU leaves its thread idle).
 *   1. Throughput: 200 jobs from 20 users in bursts of 10 through the gateway; jobs/s, and the
 *      workers' utilisation (device time / (devices x makespan)).
 *   2. Dispatch latency added over the embedded queue: one job at a time on an idle queue, the time
 *      from submit() to the done event beyond the device's own time, Redis minus embedded.
 */
import { spawn } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { Redis } from "ioredis";
import { type Config, loadConfig } from "../src/config.js";
import { EmbeddedJobQueue } from "../src/queue/index.js";
import type { JobQueueEvents } from "../src/queue/job-queue.js";
import { RedisJobQueue } from "../src/queue/redis/gateway.js";
import { readWorkers } from "../src/queue/redis/registry.js";
import type { GenerationRequest, UserId } from "../src/requests/request.js";
import { RedisServer } from "../test/redis/redis-server.js";

const DEVICES = Array.from({ length: 8 }, (_, i) => `cuda:${i}`);
const USERS = 20;
const JOBS_PER_USER = 10;
const STEPS = 20;
const STEP_MS = 25;
const LATENCY_JOBS = 60;
const ENTRY = fileURLToPath(new URL("../test/helpers/cli-entry.ts", import.meta.url));

const ms = (value: number) => `${value.toFixed(value < 10 ? 2 : 1)} ms`;
const line = (label: string, value: string, note = "") =>
  process.stdout.write(`  ${label.padEnd(46)} ${value.padStart(12)}  ${note}\n`);
const quantile = (sorted: readonly number[], q: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;

function configFor(dataDir: string, redisUrl?: string): Config {
  const base = loadConfig({});
  return {
    ...base,
    dataDir,
    devices: DEVICES,
    redisUrl,
    generation: { ...base.generation, previewEvery: 0 },
    queue: { ...base.queue, maxJobsPerUser: JOBS_PER_USER, maxJobsTotal: USERS * JOBS_PER_USER },
  };
}

function requestOf(userId: UserId, seed: number, steps = STEPS): GenerationRequest {
  return {
    prompt: "a lighthouse on a cliff at dusk",
    width: 1024,
    height: 1024,
    seed: String(seed),
    steps,
    guidance: 5,
    scheduler: "euler",
    count: 1,
    refiner: { enabled: false },
    requester: { platform: "discord", userId },
  };
}

/** The minimal queue surface the bench drives, over both backends. */
interface BenchQueue {
  submit(request: GenerationRequest): Promise<{ jobId: string }>;
  onDone(listener: (event: JobQueueEvents["done"]) => void): void;
  onFailed(listener: (event: JobQueueEvents["failed"]) => void): void;
}

function allDone(queue: BenchQueue, count: () => number): Promise<JobQueueEvents["done"][]> {
  const done = new Map<string, JobQueueEvents["done"]>();
  return new Promise((resolve, reject) => {
    queue.onFailed((event) => reject(new Error(`${event.jobId} failed: ${event.detail ?? event.message}`)));
    queue.onDone((event) => {
      done.set(event.jobId, event);
      if (done.size >= count()) resolve([...done.values()]);
    });
  });
}

/** One job at a time: submit → done, minus the device's own time. */
async function overheads(queue: BenchQueue): Promise<number[]> {
  const out: number[] = [];
  let pending: ((event: JobQueueEvents["done"]) => void) | undefined;
  queue.onDone((event) => pending?.(event));
  for (let i = 0; i < LATENCY_JOBS; i++) {
    const t0 = performance.now();
    const done = new Promise<JobQueueEvents["done"]>((resolve) => (pending = resolve));
    await queue.submit(requestOf(`discord:solo`, i, 2));
    const event = await done;
    if (i >= 5) out.push(performance.now() - t0 - event.deviceMs); // the first runs warm up
  }
  return out.sort((a, b) => a - b);
}

async function untilWorkersReady(redisUrl: string, count: number): Promise<void> {
  const redis = new Redis(redisUrl);
  try {
    for (;;) {
      const ready = (await readWorkers(redis)).filter((status) => status.state === "ready").length;
      if (ready >= count) return;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  } finally {
    redis.disconnect();
  }
}

const dir = await mkdtemp(join(tmpdir(), "easel-bench-redis-"));
const server = await RedisServer.start();
const worker = spawn(
  process.execPath,
  ["--import", "tsx", ENTRY, "worker", "--test-simulated-engine", JSON.stringify({ stepMs: STEP_MS })],
  {
    env: {
      ...process.env,
      EASEL_REDIS_URL: server.url,
      EASEL_DEVICES: DEVICES.join(","),
      EASEL_LOG_LEVEL: "warn",
    },
    stdio: ["ignore", "inherit", "inherit"],
  },
);
try {
  await untilWorkersReady(server.url, DEVICES.length);
  process.stdout.write(
    `\nScale-out on Redis: gateway + 1 easel worker process with ${DEVICES.length} simulated devices, ` +
      `${USERS * JOBS_PER_USER} jobs from ${USERS} users (bursts of ${JOBS_PER_USER}), ${STEPS} steps x ${STEP_MS} ms\n`,
  );
  for (const margin of [1, 2]) {
    const gateway = new RedisJobQueue({
      config: { ...configFor(join(dir, `gateway-${margin}`), server.url), redisUrl: server.url },
      releaseMargin: margin,
    });
    await gateway.start();
    const finished = allDone(
      {
        submit: (r) => gateway.submit(r),
        onDone: (l) => void gateway.on("done", l),
        onFailed: (l) => void gateway.on("failed", l),
      },
      () => USERS * JOBS_PER_USER,
    );
    const t0 = performance.now();
    for (let u = 0; u < USERS; u++) {
      for (let j = 0; j < JOBS_PER_USER; j++)
        await gateway.submit(requestOf(`discord:user${u}`, u * 100 + j));
    }
    const done = await finished;
    const makespan = performance.now() - t0;
    await gateway.stop();
    const deviceMs = done.reduce((sum, event) => sum + event.deviceMs, 0);
    const jobMs = deviceMs / done.length;
    process.stdout.write(`  release margin ${margin} (a job is overtaken by at most ${margin}):\n`);
    line(
      "  throughput through the gateway",
      `${((1000 * done.length) / makespan).toFixed(1)} jobs/s`,
      `ideal ${((1000 * DEVICES.length) / jobMs).toFixed(1)} jobs/s (devices / ${ms(jobMs)} a job)`,
    );
    line(
      "  workers' utilisation (device time / 8 x makespan)",
      `${((100 * deviceMs) / (DEVICES.length * makespan)).toFixed(1)}%`,
      `(goal >= 95%; makespan ${ms(makespan)}, ideal ${ms(deviceMs / DEVICES.length)})`,
    );
  }

  const gateway = new RedisJobQueue({
    config: { ...configFor(join(dir, "gateway"), server.url), redisUrl: server.url },
  });
  const redisBench: BenchQueue = {
    submit: (request) => gateway.submit(request),
    onDone: (listener) => void gateway.on("done", listener),
    onFailed: (listener) => void gateway.on("failed", listener),
  };
  await gateway.start();

  // 2. Added dispatch latency, one job at a time.
  const redisOverheads = await overheads(redisBench);
  await gateway.stop();
  const embedded = new EmbeddedJobQueue({
    config: configFor(join(dir, "embedded")),
    engineFor: () => ({ kind: "simulated", stepMs: STEP_MS, work: "sleep" }),
  });
  await embedded.start();
  const embeddedOverheads = await overheads({
    submit: (request) => embedded.submit(request),
    onDone: (listener) => void embedded.on("done", listener),
    onFailed: (listener) => void embedded.on("failed", listener),
  });
  await embedded.stop();
  const median = quantile(redisOverheads, 0.5) - quantile(embeddedOverheads, 0.5);
  const p99 = quantile(redisOverheads, 0.99) - quantile(embeddedOverheads, 0.99);
  process.stdout.write(
    `\nDispatch latency, one job at a time on an idle queue (submit → done, beyond device time; ${LATENCY_JOBS - 5} jobs)\n`,
  );
  line(
    "embedded queue: median / p99",
    `${ms(quantile(embeddedOverheads, 0.5))} / ${ms(quantile(embeddedOverheads, 0.99))}`,
  );
  line(
    "Redis gateway + worker: median / p99",
    `${ms(quantile(redisOverheads, 0.5))} / ${ms(quantile(redisOverheads, 0.99))}`,
  );
  line("added by Redis: median / p99", `${ms(median)} / ${ms(p99)}`);
} finally {
  worker.kill("SIGTERM");
  await new Promise((resolve) => worker.once("exit", resolve));
  await server.dispose();
  await rm(dir, { recursive: true, force: true });
}
