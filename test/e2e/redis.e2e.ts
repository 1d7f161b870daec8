/**
 * The scale-out backend end to end: a real redis-server (AOF on), the gateway in this process and
 * two `easel worker` child processes on loopback running the simulated engine. Priority, fairness,
 * cancellation, a worker SIGKILLed mid-job, a Redis restart, a gateway restart and a worker that
 * cannot load its model; in every one, each job ends exactly once for the user and none is lost.
 */
import assert from "node:assert/strict";
import type { TestContext } from "node:test";
import { describe, it } from "node:test";
import type { Config } from "../../src/config.js";
import type { JobQueue } from "../../src/queue/job-queue.js";
import type { RedisJobQueue } from "../../src/queue/redis/gateway.js";
import type { RedisServer } from "../redis/redis-server.js";
import {
  endsOf,
  eventLog,
  FAST_TIMINGS,
  gateway,
  type Logged,
  onCleanup,
  redisConfig,
  redisServer,
  request,
  tempDir,
  until,
} from "../redis/support.js";
import { untilReady, WorkerProcess, workerStatuses } from "../redis/worker-process.js";

interface Cluster {
  server: RedisServer;
  config: Config & { redisUrl: string };
  queue: RedisJobQueue;
  log: Logged[];
  workers: WorkerProcess[];
}

/** Redis, a gateway and `workers` worker processes (devices "cpu", "cuda:0", …), all ready. */
async function cluster(
  t: TestContext,
  options: { workers?: number; priority?: Config["queue"]["priority"]; stepMs?: number } = {},
): Promise<Cluster> {
  const server = await redisServer(t);
  const config = redisConfig(await tempDir(t), server.url, {
    maxJobsPerUser: 20,
    ...(options.priority ? { priority: options.priority } : {}),
  });
  const workers: WorkerProcess[] = [];
  const count = options.workers ?? 2;
  for (let i = 0; i < count; i++) {
    const worker = WorkerProcess.start({
      redisUrl: server.url,
      devices: i === 0 ? "cpu" : `cuda:${i - 1}`,
      engine: { stepMs: options.stepMs ?? 20 },
      timings: FAST_TIMINGS,
    });
    workers.push(worker);
    onCleanup(t, () => worker.kill());
  }
  await untilReady(server.url, count);
  const queue = await gateway(t, config, { releaseMargin: 1 });
  const log = eventLog(queue);
  await queue.start();
  return { server, config, queue, log, workers };
}

const startsOf = (log: readonly Logged[]) =>
  log.flatMap((entry) => (entry.name === "started" ? [entry.event.jobId] : []));

/** Every job ended exactly once, with the given final event. */
function assertEndedOnce(
  log: readonly Logged[],
  ids: readonly string[],
  how: "done" | "cancelled" = "done",
): void {
  const ends = endsOf(log);
  for (const id of ids) assert.deepEqual(ends.get(id), [how], `job ${id}`);
}

async function submitAll(queue: JobQueue, requests: Parameters<JobQueue["submit"]>[0][]): Promise<string[]> {
  const ids: string[] = [];
  for (const r of requests) ids.push((await queue.submit(r)).jobId);
  return ids;
}

/** A request whose simulated steps take `stepMs` each. */
const slow = (name: string, stepMs: number, steps = 4) =>
  request(name, { prompt: `a picture for ${name} [sim:step-ms=${stepMs}]`, steps });

describe("scale-out on Redis with two easel worker processes", { timeout: 600_000 }, () => {
  it("keeps priority and fairness, a job overtaken by at most the release margin", async (t) => {
    const { queue, log } = await cluster(t, { priority: [{ kind: "user", id: "discord:bob", tier: 1 }] });
    // Both workers busy (the second a little longer), then a burst from ann, then bob (tier 1), then cat.
    const blockers = await submitAll(queue, [slow("zed", 100), slow("zed", 200)]);
    await until(() => startsOf(log).length === 2, "both workers busy");
    const ann = await submitAll(
      queue,
      Array.from({ length: 5 }, () => slow("ann", 30)),
    );
    const [bob] = await submitAll(queue, [slow("bob", 30)]);
    const [cat] = await submitAll(queue, [slow("cat", 30)]);
    const all = [...blockers, ...ann, bob!, cat!];
    await Promise.all(all.map((id) => queue.wait(id)));
    // The embedded queue would start bob, then ann's first, then cat (whose first job ranks with
    // ann's first), then ann's others. One of ann's was already released into Redis (the margin),
    // so it goes ahead of bob: bob is overtaken by exactly one job, nobody by more.
    const starts = startsOf(log);
    assert.deepEqual(new Set(starts.slice(0, 2)), new Set(blockers), "the two blockers, in either order");
    assert.deepEqual(starts.slice(2), [ann[0], bob, cat, ...ann.slice(1)]);
    assertEndedOnce(log, all);
  });

  it("cancels jobs waiting at the gateway, waiting in Redis and running on a worker", async (t) => {
    const { queue, log } = await cluster(t);
    const [running, alsoRunning] = await submitAll(queue, [slow("ann", 200, 20), slow("bob", 100, 10)]);
    await until(() => startsOf(log).length === 2, "both running");
    // With two busy workers and a margin of 1, the first of these is released, the second waits here.
    const [released, held] = await submitAll(queue, [slow("cat", 20), slow("dan", 20)]);
    assert.equal(await queue.cancel(held!, "discord:dan"), "cancelled");
    assert.equal(await queue.cancel(released!, "discord:cat"), "cancelled");
    assert.equal(await queue.cancel(running!, "discord:ann"), "stopping");
    await Promise.all([running, alsoRunning].map((id) => queue.wait(id!)));
    assert.equal((await queue.job(running!))?.status, "cancelled");
    assert.equal((await queue.job(alsoRunning!))?.status, "done");
    assertEndedOnce(log, [running!, released!, held!], "cancelled");
    assertEndedOnce(log, [alsoRunning!]);
    assert.ok(
      !startsOf(log).includes(released!) && !startsOf(log).includes(held!),
      "cancelled before a start",
    );
    // The worker that ran the cancelled job is free again.
    const [after] = await submitAll(queue, [slow("ann", 10), slow("bob", 10)]);
    assert.equal((await queue.wait(after!)).status, "done");
  });

  it("runs a job again on the other worker when its worker is SIGKILLed mid-job", async (t) => {
    const { queue, log, workers } = await cluster(t);
    const [id] = await submitAll(queue, [slow("ann", 150, 12)]);
    await until(
      () => log.some((e) => e.name === "progress" && e.event.jobId === id && e.event.step >= 2),
      "progress",
    );
    const first = log.find((e) => e.name === "started" && e.event.jobId === id);
    assert.ok(first?.name === "started");
    const victim = first.event.device === "cpu" ? workers[0]! : workers[1]!;
    await victim.kill();
    const record = await queue.wait(id!);
    assert.equal(record.status, "done");
    const starts = log.filter((e) => e.name === "started" && e.event.jobId === id);
    assert.equal(starts.length, 2, "started again after the stall");
    assert.notEqual(starts[1]?.name === "started" && starts[1].event.device, first.event.device);
    assert.equal(record.attempts, 2);
    assertEndedOnce(log, [id!]);
    assert.ok(await queue.images.get(record.images[0]!.id), "the re-run's image is stored");
  });

  it("hands a running job back to the queue when its worker is stopped with SIGTERM", async (t) => {
    const { queue, log, workers } = await cluster(t);
    const [id] = await submitAll(queue, [slow("ann", 150, 12)]);
    await until(() => log.some((e) => e.name === "progress" && e.event.jobId === id), "progress");
    const first = log.find((e) => e.name === "started" && e.event.jobId === id);
    assert.ok(first?.name === "started");
    const leaving = first.event.device === "cpu" ? workers[0]! : workers[1]!;
    assert.equal(await leaving.stop(), 0, "a clean exit");
    assert.equal((await queue.wait(id!)).status, "done");
    const devices = log.flatMap((e) =>
      e.name === "started" && e.event.jobId === id ? [e.event.device] : [],
    );
    assert.equal(devices.length, 2);
    assert.notEqual(devices[1], devices[0]);
    assertEndedOnce(log, [id!]);
  });

  it("loses nothing when Redis is killed and restarted from its append-only file", async (t) => {
    const { queue, log, server } = await cluster(t);
    const ids = await submitAll(queue, [
      ...["ann", "bob", "cat", "dan"].map((name) => slow(name, 60, 8)),
      ...["ann", "bob"].map((name) => slow(name, 20)),
    ]);
    await until(() => startsOf(log).length >= 2, "jobs running");
    await server.restart({ hard: true });
    await Promise.all(ids.map((id) => queue.wait(id)));
    assertEndedOnce(log, ids);
    for (const id of ids) assert.equal((await queue.job(id))?.status, "done");
  });

  it("picks up queued and running jobs after a gateway restart; a result's refine button still works", async (t) => {
    const { queue, log, config } = await cluster(t);
    const [first] = await submitAll(queue, [slow("ann", 10)]);
    await queue.wait(first!);
    const ids = await submitAll(queue, [
      slow("ann", 100, 6),
      slow("bob", 100, 6),
      slow("cat", 20),
      slow("dan", 20),
      slow("eve", 20),
    ]);
    await until(() => startsOf(log).length >= 3, "jobs running");
    await queue.stop();
    const ended = new Set(endsOf(log).keys());
    // Jobs go on finishing on the workers while no gateway listens.
    await new Promise((resolve) => setTimeout(resolve, 800));
    const restarted = await gateway(t, config, { releaseMargin: 1 });
    const log2 = eventLog(restarted);
    await restarted.start();
    const report = await restarted.recover();
    assert.deepEqual(new Set(report.requeued), new Set(ids.filter((id) => !ended.has(id))));
    await Promise.all(ids.map((id) => restarted.wait(id)));
    for (const id of ids) {
      const before = endsOf(log).get(id) ?? [];
      const after = endsOf(log2).get(id) ?? [];
      assert.deepEqual([...before, ...after], ["done"], `job ${id} ends once over both gateways`);
      assert.equal((await restarted.job(id))?.status, "done");
    }
    // A button on the first result: refine its image (the source travels to a worker through Redis).
    const refine = await restarted.submit(
      request("ann", { source: { jobId: first!, imageIndex: 0, strength: 0.5, upscale: 1 } }),
    );
    assert.equal((await restarted.wait(refine.jobId)).status, "done");
  });

  it("a worker that cannot load its model reports it and takes no jobs", async (t) => {
    const server = await redisServer(t);
    const broken = WorkerProcess.start({
      redisUrl: server.url,
      devices: "cuda:7",
      engine: { stepMs: 5, loadError: "the model folder has no unet/model.onnx" },
      timings: FAST_TIMINGS,
    });
    onCleanup(t, () => broken.kill());
    assert.notEqual(await broken.exited, 0, "no device loaded: the command fails");
    const statuses = await workerStatuses(server.url);
    assert.equal(statuses.length, 1);
    assert.equal(statuses[0]?.state, "failed");
    assert.match(statuses[0]?.error ?? "", /no unet\/model\.onnx/);
    assert.match(broken.log, /cannot load the model/);

    const config = redisConfig(await tempDir(t), server.url);
    const queue = await gateway(t, config, { releaseMargin: 0 });
    const log = eventLog(queue);
    await queue.start();
    const { jobId } = await queue.submit(request("ann"));
    await new Promise((resolve) => setTimeout(resolve, 500));
    assert.equal(startsOf(log).length, 0, "nothing runs without a ready worker");
    assert.equal((await queue.job(jobId))?.status, "queued");
    const good = WorkerProcess.start({ redisUrl: server.url, engine: { stepMs: 5 }, timings: FAST_TIMINGS });
    onCleanup(t, () => good.kill());
    assert.equal((await queue.wait(jobId)).status, "done");
    assertEndedOnce(log, [jobId]);
  });
});
