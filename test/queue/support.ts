/** Shared pieces of the queue tests: configs, requests, a queue on simulated devices, event waits. */
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import type { TestContext } from "node:test";
import { type Config, loadConfig } from "../../src/config.js";
import { createLogger, type Logger } from "../../src/logger.js";
import {
  EmbeddedJobQueue,
  type EmbeddedJobQueueOptions,
  type JobQueue,
  type JobQueueEventName,
  type JobQueueEvents,
  type JobQueueOptions,
  type SimulatedEngineSpec,
} from "../../src/queue/index.js";
import type { GenerationRequest, Requester, UserId } from "../../src/requests/request.js";
import { onCleanup } from "../redis/support.js";

export { onCleanup } from "../redis/support.js";

/** A fresh folder, removed when the test ends (after the queues opened later are stopped). */
export async function tempDir(t: TestContext): Promise<string> {
  const path = await mkdtemp(join(tmpdir(), "easel-queue-"));
  onCleanup(t, () => rm(path, { recursive: true, force: true }));
  return path;
}

export type TestSettings = Partial<Config["queue"]> & {
  devices?: string[];
  previewEvery?: number;
  retentionHours?: number;
};

/** Defaults with no previews and one CPU device, plus the given settings. */
export function testConfig(dataDir: string, overrides: TestSettings = {}): Config {
  const base = loadConfig({});
  const { devices, previewEvery, retentionHours, ...queue } = overrides;
  return {
    ...base,
    dataDir,
    devices: devices ?? ["cpu"],
    generation: { ...base.generation, previewEvery: previewEvery ?? 0 },
    retentionHours: retentionHours ?? base.retentionHours,
    queue: { ...base.queue, ...queue },
  };
}

/** A Discord user's request; `user` and `roles` are bare names, qualified here (`discord:<user>`). */
export const discordUser = (name: string): UserId =>
  name.includes(":") ? (name as UserId) : `discord:${name}`;

export function request(
  user: string,
  overrides: Partial<GenerationRequest> & { roles?: string[] } = {},
): GenerationRequest {
  const { roles, ...rest } = overrides;
  const userId = discordUser(user);
  const requester: Requester = {
    platform: "discord",
    userId,
    channelId: "c1",
    ...(roles ? { roles: roles.map((role) => `discord-role:${role}` as const) } : {}),
  };
  return {
    prompt: `a picture for ${userId}`,
    width: 1024,
    height: 1024,
    seed: "42",
    steps: 4,
    guidance: 5,
    scheduler: "euler",
    count: 1,
    refiner: { enabled: false },
    requester,
    ...rest,
  };
}

export const FAST_ENGINE: SimulatedEngineSpec = { kind: "simulated", stepMs: 2 };

/** A queue under test: the JobQueue interface and the image sweep both backends have. */
export type TestQueue = JobQueue & Pick<EmbeddedJobQueue, "sweep">;

/**
 * The backend the queue behaviour tests run on: the embedded one (`npm test`), or the Redis
 * gateway with its devices in-process on a redis-server per test (test/e2e/redis-queue.e2e.ts).
 */
export interface QueueBackend {
  name: "embedded" | "redis";
  /** A queue on `options.config`; a Redis one is started (its line moves only once started). */
  open(t: TestContext, options: EmbeddedJobQueueOptions): Promise<TestQueue>;
}

const embeddedBackend: QueueBackend = {
  name: "embedded",
  open: async (_t, options) => new EmbeddedJobQueue(options),
};

let backend = embeddedBackend;

/** Runs the queue tests imported after this call on `next`. */
export function useBackend(next: QueueBackend): void {
  backend = next;
}

export const backendName = (): QueueBackend["name"] => backend.name;

/** A reason to skip a test that pins the embedded backend's own workings, on another backend. */
export const embeddedOnly = (why: string): { skip?: string } =>
  backend.name === "embedded" ? {} : { skip: `embedded backend only: ${why}` };

/**
 * The embedded backend's worker threads started on the first device so far: how a test sees that
 * a worker was (or was not) replaced. Checked on the embedded backend only: a gateway's devices
 * are worker processes it does not count.
 */
export async function assertThreadsStarted(queue: JobQueue, count: number, message?: string): Promise<void> {
  if (backend.name !== "embedded") return;
  assert.equal((await queue.status()).devices[0]!.threadsStarted, count, message);
}

/** A queue of the backend under test, stopped when the test ends. */
export async function openQueue(t: TestContext, options: EmbeddedJobQueueOptions): Promise<TestQueue> {
  const queue = await backend.open(t, { cancelGraceMs: 2000, shutdownGraceMs: 2000, ...options });
  onCleanup(t, () => queue.stop());
  return queue;
}

/**
 * The backend's queue on simulated devices with its store under a fresh folder; stopped when the
 * test ends. Tests use its JobQueue methods, plus sweep() where they test the image files.
 */
export async function simulatedQueue(
  t: TestContext,
  overrides: TestSettings = {},
  engine: SimulatedEngineSpec = FAST_ENGINE,
  options: JobQueueOptions = {},
): Promise<{ queue: TestQueue; config: Config; dir: string }> {
  const dir = await mkdtemp(join(tmpdir(), "easel-queue-"));
  onCleanup(t, () => rm(dir, { recursive: true, force: true }));
  const config = testConfig(dir, overrides);
  const queue = await openQueue(t, { config, engineFor: () => engine, ...options });
  return { queue, config, dir };
}

/** Resolves with the first `name` event that matches. */
export function nextEvent<E extends JobQueueEventName>(
  queue: JobQueue,
  name: E,
  matches: (event: JobQueueEvents[E]) => boolean = () => true,
): Promise<JobQueueEvents[E]> {
  return new Promise((resolve) => {
    const off = queue.on(name, (event) => {
      if (!matches(event)) return;
      off();
      resolve(event);
    });
  });
}

/** The job's end: done, failed or cancelled (its event, or its record when it had already ended). */
export function settled(
  queue: JobQueue,
  jobId: string,
): Promise<{ kind: "done" | "failed" | "cancelled"; event: unknown }> {
  const of = (kind: "done" | "failed" | "cancelled") =>
    nextEvent(queue, kind, (event) => event.jobId === jobId).then((event) => ({ kind, event }));
  const ended = queue.wait(jobId).then((record) => ({
    kind: record.status as "done" | "failed" | "cancelled",
    event: record as unknown,
  }));
  return Promise.race([of("done"), of("failed"), of("cancelled"), ended]);
}

/** Every job event in order, as "event:jobId" (with the position for queued). */
export function recordEvents(queue: JobQueue): string[] {
  const log: string[] = [];
  queue.on("queued", (event) => log.push(`queued:${event.jobId}:${event.position}`));
  for (const name of ["started", "done", "failed", "cancelled"] as const) {
    queue.on(name, (event) => log.push(`${name}:${event.jobId}`));
  }
  return log;
}

/** Resolves once `condition()` holds (checked every few ms); rejects after `timeoutMs`. */
export async function until(condition: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
}

/** A logger whose lines the test reads back, parsed (pino's JSON lines). */
export function capturingLogger(level: "debug" | "info" = "debug"): {
  logger: Logger;
  lines: Array<Record<string, unknown>>;
} {
  const lines: Array<Record<string, unknown>> = [];
  const destination = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      for (const text of chunk.toString("utf8").split("\n")) {
        if (text.trim()) lines.push(JSON.parse(text) as Record<string, unknown>);
      }
      callback();
    },
  });
  return { logger: createLogger({ logLevel: level }, { destination, pretty: false }), lines };
}
