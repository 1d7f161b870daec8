/**
 * Queue benchmark. Part 1, simulated devices (no models): 4 devices, 200 jobs from 20 users who
 * each submit a burst of 10 (user 1's ten, then user 2's, ...: the order in which plain FIFO is least
 * fair). Reports the queue's own cost per job, the makespan against the ideal, and how evenly the
 * waiting was shared. Part 2, two back-to-back 1024x1024 jobs on one device with the bench
 * fixture: the makespan when the device waits for each job's PNG encode, and when it takes the next
 * job as soon as the pixels exist. Part 3 (skipped with --quick), the real pipeline in a device
 * worker: the main thread's event-loop delay while it generates (what the chat gateways'
 * heartbeats would feel), against running the same pipeline on the main thread.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { monitorEventLoopDelay } from "node:perf_hooks";
import { type Config, loadConfig } from "../src/config.js";
import { writeFixtureModels } from "../src/fixtures/index.js";
import { loadPipeline } from "../src/pipeline/index.js";
import { DeviceWorker } from "../src/queue/device.js";
import { createJobQueue, type JobQueue, type JobQueueEvents } from "../src/queue/index.js";
import { generateParamsOf } from "../src/queue/params.js";
import type { GenerationRequest, UserId } from "../src/requests/request.js";

const DEVICES = ["cuda:0", "cuda:1", "cuda:2", "cuda:3"];
const USERS = 20;
const JOBS_PER_USER = 10;
const STEPS = 20;
const STEP_MS = 2.5;

const ms = (value: number) => `${value.toFixed(value < 10 ? 2 : 1)} ms`;
const line = (label: string, value: string, note = "") =>
  process.stdout.write(`  ${label.padEnd(46)} ${value.padStart(12)}  ${note}\n`);
const quantile = (sorted: readonly number[], q: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;

function configFor(dataDir: string, devices: string[], modelDir = ""): Config {
  const base = loadConfig({});
  return {
    ...base,
    dataDir,
    devices,
    ...(modelDir ? { modelDir } : {}),
    generation: { ...base.generation, previewEvery: 0 },
    queue: { ...base.queue, maxJobsPerUser: JOBS_PER_USER, maxJobsTotal: USERS * JOBS_PER_USER },
  };
}

function requestOf(userId: UserId, overrides: Partial<GenerationRequest> = {}): GenerationRequest {
  return {
    prompt: "a lighthouse on a cliff at dusk, volumetric light, highly detailed",
    width: 1024,
    height: 1024,
    seed: "42",
    steps: STEPS,
    guidance: 5,
    scheduler: "euler",
    count: 1,
    refiner: { enabled: false },
    requester: { platform: "discord", userId },
    ...overrides,
  };
}

/** Resolves once every job in `ids` has its done event; collects them by id. */
function allDone(queue: JobQueue, ids: Set<string>): Promise<Map<string, JobQueueEvents["done"]>> {
  const done = new Map<string, JobQueueEvents["done"]>();
  return new Promise((resolve, reject) => {
    queue.on("failed", (event) =>
      reject(new Error(`${event.jobId} failed: ${event.detail ?? event.message}`)),
    );
    queue.on("done", (event) => {
      done.set(event.jobId, event);
      if (ids.size > 0 && done.size === ids.size) resolve(done);
    });
  });
}

async function benchDispatch(dir: string): Promise<void> {
  const queue = createJobQueue(configFor(join(dir, "dispatch"), DEVICES), {
    engineFor: () => ({ kind: "simulated", stepMs: STEP_MS, work: "sleep" }),
  });
  await queue.start();
  const started = new Map<string, { at: number; device: string }>();
  const submittedAt = new Map<string, number>();
  const userOf = new Map<string, string>();
  queue.on("started", (event) => started.set(event.jobId, { at: performance.now(), device: event.device }));
  const ids = new Set<string>();
  const finished = allDone(queue, ids);

  let submitMs = 0;
  const t0 = performance.now();
  for (let u = 0; u < USERS; u++) {
    for (let j = 0; j < JOBS_PER_USER; j++) {
      const userId: UserId = `discord:user${String(u + 1).padStart(2, "0")}`;
      const before = performance.now();
      const { jobId } = await queue.submit(requestOf(userId, { seed: String(u * 100 + j) }));
      submitMs += performance.now() - before;
      ids.add(jobId);
      submittedAt.set(jobId, before);
      userOf.set(jobId, userId);
    }
  }
  const done = [...(await finished).values()];
  await queue.stop();

  const jobs = done.length;
  const deviceFreeAt = (event: JobQueueEvents["done"]) => started.get(event.jobId)!.at + event.deviceMs;
  const makespan = Math.max(...done.map(deviceFreeAt)) - t0;
  // The engine's time on the device: its run up to the pixels (the PNG encode comes after the device is free).
  const onDevice = (event: JobQueueEvents["done"]) => event.timings.totalMs - event.timings.encodeImageMs;
  const engineMs = done.reduce((sum, event) => sum + onDevice(event), 0);
  const ideal = engineMs / DEVICES.length;
  // Per job, the device time the queue costs: holding the device beyond the engine's own run, and
  // the device's idle gap before its next job.
  const overhead = new Map(done.map((event) => [event.jobId, event.deviceMs - onDevice(event)]));
  const heldMs = [...overhead.values()].reduce((a, b) => a + b, 0) / jobs;
  for (const device of DEVICES) {
    const jobsOnDevice = done
      .filter((event) => started.get(event.jobId)!.device === device)
      .sort((a, b) => started.get(a.jobId)!.at - started.get(b.jobId)!.at);
    for (let i = 0; i + 1 < jobsOnDevice.length; i++) {
      const gap = started.get(jobsOnDevice[i + 1]!.jobId)!.at - deviceFreeAt(jobsOnDevice[i]!);
      overhead.set(jobsOnDevice[i]!.jobId, overhead.get(jobsOnDevice[i]!.jobId)! + gap);
    }
  }
  const perJob = [...overhead.values()].sort((a, b) => a - b);
  const waits = new Map<string, number[]>();
  for (const [jobId, userId] of userOf) {
    waits.set(userId, [...(waits.get(userId) ?? []), started.get(jobId)!.at - submittedAt.get(jobId)!]);
  }
  const meanWaits = [...waits.values()]
    .map((list) => list.reduce((a, b) => a + b, 0) / list.length)
    .sort((a, b) => a - b);
  const jobMs = engineMs / jobs;

  process.stdout.write(
    `\nQueue, simulated devices: ${DEVICES.length} devices, ${jobs} jobs from ${USERS} users (bursts of ${JOBS_PER_USER}), ` +
      `${STEPS} steps x ${STEP_MS} ms (~${ms(jobMs)} a job)\n`,
  );
  line("submit() (store insert, enqueue), main thread", ms(submitMs / jobs), "mean per job");
  line(
    "dispatch overhead per job (device time",
    ms(perJob.reduce((a, b) => a + b, 0) / jobs),
    `mean; p95 ${ms(quantile(perJob, 0.95))}  (goal < 1 ms)`,
  );
  line("  outside the engine, incl. idle gaps)", "", "");
  line("  of which: round trip to the worker thread", ms(heldMs), "mean");
  line(
    "  of which: idle between a device's jobs",
    ms(perJob.reduce((a, b) => a + b, 0) / jobs - heldMs),
    "mean",
  );
  line("makespan", ms(makespan), `ideal ${ms(ideal)} (engine time / devices)`);
  line("utilisation (ideal / makespan)", `${((100 * ideal) / makespan).toFixed(1)}%`, "(goal >= 95%)");
  line("users' mean wait: fastest / median user", `${ms(meanWaits[0]!)} / ${ms(quantile(meanWaits, 0.5))}`);
  line(
    "users' mean wait: slowest user",
    ms(meanWaits.at(-1)!),
    `(first-come-first-served: ~${ms(((USERS - 1) * JOBS_PER_USER * jobMs) / DEVICES.length)} between first and last user)`,
  );
}

/** Runs `work` while sampling the main thread's event-loop delay. */
async function loopDelayDuring(
  work: () => Promise<void>,
): Promise<{ p99: number; max: number; mean: number }> {
  const histogram = monitorEventLoopDelay({ resolution: 1 });
  histogram.enable();
  await work();
  histogram.disable();
  return { p99: histogram.percentile(99) / 1e6, max: histogram.max / 1e6, mean: histogram.mean / 1e6 };
}

/**
 * Two back-to-back 1024x1024 jobs on one device with the bench fixture: the device holding on
 * until a job's PNG is encoded, against taking the next job as soon as the pixels exist. Rounds
 * alternate the two modes so that the machine's load drifts evenly over both.
 */
async function benchEncodeOverlap(modelDir: string): Promise<void> {
  const params = generateParamsOf(requestOf("discord:someone", { steps: 20 }));
  const rounds = 3;
  const makespans: Record<"hold" | "free", number[]> = { hold: [], free: [] };
  let encodeMs = 0;
  const devices = {
    hold: new DeviceWorker({
      device: "cpu",
      engine: { kind: "sdxl", modelDir, device: "cpu" },
      previewEvery: 0,
      jobTimeoutMs: 600_000,
      freeBeforeEncode: false,
    }),
    free: new DeviceWorker({
      device: "cpu",
      engine: { kind: "sdxl", modelDir, device: "cpu" },
      previewEvery: 0,
      jobTimeoutMs: 600_000,
    }),
  };
  try {
    for (const device of Object.values(devices)) {
      await device.warmUp();
      await device.run("warm-up", params);
    }
    for (let round = 0; round < rounds; round++) {
      for (const mode of ["hold", "free"] as const) {
        const device = devices[mode];
        const t0 = performance.now();
        const first = await device.start(`a${round}`, params);
        await first.freed;
        const second = await device.start(`b${round}`, { ...params, seed: params.seed + 1n });
        const [a, b] = await Promise.all([first.result, second.result]);
        makespans[mode].push(performance.now() - t0);
        encodeMs += (a.timings.encodeImageMs + b.timings.encodeImageMs) / 2;
      }
    }
  } finally {
    await Promise.all(Object.values(devices).map((device) => device.stop()));
  }
  const median = (values: number[]) =>
    quantile(
      [...values].sort((x, y) => x - y),
      0.5,
    );
  const hold = median(makespans.hold);
  const free = median(makespans.free);
  process.stdout.write(
    `\nTwo back-to-back jobs on one device, bench fixture, 1024x1024, 20 steps (median of ${rounds} rounds; PNG encode ~${ms(encodeMs / (2 * rounds))} a job)\n`,
  );
  line("makespan, device held until the PNG is encoded", ms(hold), "(before)");
  line("makespan, device free once the pixels exist", ms(free), `(after: ${ms(hold - free)} less)`);
}

async function benchEventLoop(dir: string, modelDir: string): Promise<void> {
  const models = { bench: modelDir };
  const jobs = 3;
  const request = requestOf("discord:someone", { steps: 30 });

  const queue = createJobQueue(configFor(join(dir, "loop"), ["cpu"], models.bench));
  await queue.start();
  const ids = new Set<string>();
  const finished = allDone(queue, ids);
  let perImage = 0;
  const inWorker = await loopDelayDuring(async () => {
    for (let i = 0; i < jobs; i++) ids.add((await queue.submit({ ...request, seed: String(i) })).jobId);
    const done = await finished;
    perImage = [...done.values()].reduce((sum, event) => sum + event.durationMs, 0) / jobs;
  });
  await queue.stop();

  const pipeline = await loadPipeline({ modelDir: models.bench, device: "cpu" });
  const onMain = await loopDelayDuring(async () => {
    for (let i = 0; i < jobs; i++) await pipeline.generate(generateParamsOf({ ...request, seed: String(i) }));
  });
  await pipeline.dispose();

  process.stdout.write(
    `\nMain thread's event-loop delay while the bench fixture generates (1024x1024, 30 steps, ${jobs} images, ~${ms(perImage)} each)\n`,
  );
  line("pipeline in a device worker: p99", ms(inWorker.p99), `max ${ms(inWorker.max)}  (goal p99 < 20 ms)`);
  line("same pipeline on the main thread: p99", ms(onMain.p99), `max ${ms(onMain.max)}  (for comparison)`);
}

const dir = await mkdtemp(join(tmpdir(), "easel-bench-queue-"));
try {
  await benchDispatch(dir);
  const models = await writeFixtureModels(join(dir, "models"), { variants: ["bench"] });
  await benchEncodeOverlap(models.bench);
  if (!process.argv.includes("--quick")) await benchEventLoop(dir, models.bench);
} finally {
  await rm(dir, { recursive: true, force: true });
}
