/** Shared pieces of the scale-out tests: a gateway on a real redis-server, requests, event logs. */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { TestContext } from "node:test";
import { type Config, loadConfig } from "../../src/config.js";
import type { JobQueue, JobQueueEventName, JobQueueEvents } from "../../src/queue/job-queue.js";
import { RedisJobQueue, type RedisJobQueueOptions } from "../../src/queue/redis/gateway.js";
import type { SimulatedEngineSpec } from "../../src/queue/simulated-engine.js";
import type { GenerationRequest, UserId } from "../../src/requests/request.js";
import { RedisServer } from "./redis-server.js";

const cleanups = new WeakMap<TestContext, Array<() => Promise<unknown>>>();

/** Runs `fn` when the test ends, after everything registered later (last in, first out). */
export function onCleanup(t: TestContext, fn: () => Promise<unknown>): void {
  let stack = cleanups.get(t);
  if (!stack) {
    const fresh: Array<() => Promise<unknown>> = [];
    stack = fresh;
    cleanups.set(t, fresh);
    t.after(async () => {
      for (const cleanup of fresh.reverse()) await cleanup();
    });
  }
  stack.push(fn);
}

export async function tempDir(t: TestContext): Promise<string> {
  const path = await mkdtemp(join(tmpdir(), "easel-redis-test-"));
  onCleanup(t, () => rm(path, { recursive: true, force: true }));
  return path;
}

export async function redisServer(t: TestContext): Promise<RedisServer> {
  const server = await RedisServer.start();
  onCleanup(t, () => server.dispose());
  return server;
}

export function redisConfig(
  dataDir: string,
  redisUrl: string,
  overrides: Partial<Config["queue"]> & { previewEvery?: number } = {},
): Config & { redisUrl: string } {
  const base = loadConfig({});
  const { previewEvery, ...queue } = overrides;
  return {
    ...base,
    dataDir,
    redisUrl,
    generation: { ...base.generation, previewEvery: previewEvery ?? 0 },
    queue: { ...base.queue, ...queue },
  };
}

/** BullMQ timings short enough for a test to see a dead worker's job run again in seconds. */
export const FAST_TIMINGS = {
  lockDurationMs: 1_500,
  stalledIntervalMs: 500,
  maxStalledCount: 2,
  heartbeatMs: 200,
};

export const simulated = (stepMs: number, extra: Partial<SimulatedEngineSpec> = {}): SimulatedEngineSpec => ({
  kind: "simulated",
  stepMs,
  ...extra,
});

/** A gateway (and, when `devices` are given, its own simulated devices); stopped when the test ends. */
export async function gateway(
  t: TestContext,
  config: Config & { redisUrl: string },
  options: Partial<RedisJobQueueOptions> & { devices?: string[]; engine?: SimulatedEngineSpec } = {},
): Promise<RedisJobQueue> {
  const { devices, engine, ...rest } = options;
  const queue = new RedisJobQueue({
    config,
    localDevices: devices ?? [],
    engineFor: () => engine ?? simulated(5),
    consumerTimings: FAST_TIMINGS,
    pollMs: 100,
    workerStaleMs: 2_000,
    sweepEveryMs: 0,
    ...rest,
  });
  onCleanup(t, () => queue.stop());
  return queue;
}

export const user = (name: string): UserId => `discord:${name}`;

export function request(
  name: string,
  overrides: Partial<GenerationRequest> & { roles?: string[] } = {},
): GenerationRequest {
  const { roles, ...rest } = overrides;
  return {
    prompt: `a picture for ${name}`,
    width: 1024,
    height: 1024,
    seed: "42",
    steps: 4,
    guidance: 5,
    scheduler: "euler",
    count: 1,
    refiner: { enabled: false },
    requester: {
      platform: "discord",
      userId: user(name),
      channelId: "c1",
      ...(roles ? { roles: roles.map((role) => `discord-role:${role}` as const) } : {}),
    },
    ...rest,
  };
}

export type Logged = { [E in JobQueueEventName]: { name: E; event: JobQueueEvents[E] } }[JobQueueEventName];

/** Every event the queue emits, in order. */
export function eventLog(queue: JobQueue): Logged[] {
  const log: Logged[] = [];
  const names: JobQueueEventName[] = [
    "queued",
    "started",
    "progress",
    "done",
    "failed",
    "cancelled",
    "recovered",
  ];
  for (const name of names) queue.on(name, (event) => log.push({ name, event } as Logged));
  return log;
}

/** Resolves when `check` holds, polling; rejects after `timeoutMs` with `what`. */
export async function until(
  check: () => boolean | Promise<boolean>,
  what: string,
  timeoutMs = 20_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

/** The final events (done, failed, cancelled) per job id. */
export function endsOf(log: readonly Logged[]): Map<string, string[]> {
  const ends = new Map<string, string[]>();
  for (const entry of log) {
    if (entry.name !== "done" && entry.name !== "failed" && entry.name !== "cancelled") continue;
    const list = ends.get(entry.event.jobId) ?? [];
    list.push(entry.name);
    ends.set(entry.event.jobId, list);
  }
  return ends;
}
