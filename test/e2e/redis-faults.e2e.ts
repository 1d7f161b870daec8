/**
 * `easel worker` when Redis fails under it, as an operator meets it: a real redis-server killed
 * and started again, a worker process stopped with SIGTERM while Redis is away, and a worker given
 * the wrong password. The worker must end within its bound whatever Redis does, hand its running
 * job back (the job runs again once Redis is back, nothing lost), say once that Redis is gone and
 * once that it is back, and refuse a wrong password with one short line and a non-zero exit.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Redis } from "ioredis";
import { freePort } from "../redis/redis-server.js";
import {
  endsOf,
  eventLog,
  FAST_TIMINGS,
  gateway,
  onCleanup,
  redisConfig,
  redisServer,
  request,
  tempDir,
  until,
} from "../redis/support.js";
import { untilReady, WorkerProcess } from "../redis/worker-process.js";

/** What `easel worker` allows itself for a stop (STOP_BOUND_MS 20 s, then 1 s to exit) plus slack for a busy machine. */
const STOP_LIMIT_MS = 25_000;

/** Resolves with the exit code and how long the exit took, or "still running" past `limitMs`. */
async function timedExit(
  worker: WorkerProcess,
  limitMs: number,
): Promise<{ code: number | null | "still running"; ms: number }> {
  const started = performance.now();
  let timer: NodeJS.Timeout | undefined;
  const code = await Promise.race([
    worker.exited,
    new Promise<"still running">((resolve) => {
      timer = setTimeout(() => resolve("still running"), limitMs);
    }),
  ]);
  clearTimeout(timer);
  return { code, ms: Math.round(performance.now() - started) };
}

const lines = (log: string) => log.split("\n").filter((line) => line.trim() !== "");
const count = (log: string, message: string) => lines(log).filter((line) => line.includes(message)).length;

/** Log lines stay short: no stack, no failed command (an AUTH carries the password), no error chain. */
function assertShortLines(log: string): void {
  for (const line of lines(log)) {
    assert.ok(line.length <= 300, `a ${line.length}-character log line: ${line.slice(0, 200)}…`);
    assert.doesNotMatch(line, /"stack"|previousErrors|"command"/);
  }
}

describe("easel worker when Redis fails", { timeout: 300_000 }, () => {
  it("stops within its bound on SIGTERM while Redis is down; the running job runs again once Redis is back", async (t) => {
    const server = await redisServer(t);
    const config = redisConfig(await tempDir(t), server.url);
    const first = WorkerProcess.start({
      redisUrl: server.url,
      engine: { stepMs: 20 },
      timings: FAST_TIMINGS,
    });
    onCleanup(t, () => first.kill());
    await untilReady(server.url, 1);
    const queue = await gateway(t, config);
    const log = eventLog(queue);
    await queue.start();
    const { jobId } = await queue.submit(
      request("ann", { prompt: "a picture for ann [sim:step-ms=300]", steps: 20 }),
    );
    await until(
      () => log.some((e) => e.name === "progress" && e.event.jobId === jobId && e.event.step >= 1),
      "the job running on the worker",
      60_000,
    );

    await server.kill();
    await until(() => first.log.includes("lost Redis"), "the worker saying Redis is lost", 30_000);
    first.signal("SIGTERM");
    const stop = await timedExit(first, STOP_LIMIT_MS);
    t.diagnostic(`SIGTERM to exit with Redis down and a job running: ${stop.ms} ms`);
    assert.equal(stop.code, 0, `the worker ended within ${STOP_LIMIT_MS} ms (log:\n${first.log})`);
    assert.equal(count(first.log, "lost Redis"), 1, first.log);
    assert.match(first.log, /the running job goes back to the queue once its lock expires/);
    assertShortLines(first.log);

    // Redis comes back from its append-only file; the job, still held by the stopped worker's
    // expired lock, goes back to the queue and runs on the next worker, once.
    await server.launch();
    const second = WorkerProcess.start({
      redisUrl: server.url,
      engine: { stepMs: 20 },
      timings: FAST_TIMINGS,
    });
    onCleanup(t, () => second.kill());
    const record = await queue.wait(jobId);
    assert.equal(record.status, "done");
    assert.deepEqual(endsOf(log).get(jobId), ["done"]);
    assert.ok(
      log.filter((e) => e.name === "started" && e.event.jobId === jobId).length >= 2,
      "started again after the stop",
    );
  });

  it("says once that Redis is lost and once that it is back, then takes jobs again", async (t) => {
    const server = await redisServer(t);
    const worker = WorkerProcess.start({
      redisUrl: server.url,
      engine: { stepMs: 20 },
      timings: FAST_TIMINGS,
    });
    onCleanup(t, () => worker.kill());
    await untilReady(server.url, 1);

    await server.kill();
    await until(() => worker.log.includes("lost Redis"), "the worker saying Redis is lost", 30_000);
    // Long enough for several reconnect tries (they back off to one every 2 s): none is logged.
    await new Promise((resolve) => setTimeout(resolve, 5_000));
    await server.launch();
    await until(() => worker.log.includes("Redis is back"), "the worker saying Redis is back", 60_000);
    assert.equal(count(worker.log, "lost Redis"), 1, worker.log);
    assert.equal(count(worker.log, "Redis is back"), 1, worker.log);
    assertShortLines(worker.log);

    const queue = await gateway(t, redisConfig(await tempDir(t), server.url));
    const log = eventLog(queue);
    await queue.start();
    const { jobId } = await queue.submit(request("bob"));
    assert.equal((await queue.wait(jobId)).status, "done");
    const started = log.find((e) => e.name === "started" && e.event.jobId === jobId);
    assert.equal(started?.name === "started" ? started.event.device : undefined, "cpu", "run by the worker");
    const stop = await timedExit(worker.signal("SIGTERM"), STOP_LIMIT_MS);
    assert.equal(stop.code, 0);
  });

  it("exits non-zero with one short line when Redis refuses its password, never printing it", async (t) => {
    const server = await redisServer(t);
    const admin = new Redis(server.url);
    await admin.config("SET", "requirepass", "the-right-one");
    admin.disconnect();
    const worker = WorkerProcess.start({
      redisUrl: server.url.replace("redis://", "redis://:not-the-password@"),
      engine: { stepMs: 20 },
      logLevel: "info",
    });
    onCleanup(t, () => worker.kill());
    // The gateway's bound at start (10 s), then the exit; generous for a busy machine.
    const exit = await timedExit(worker, 60_000);
    t.diagnostic(`wrong password to exit: ${exit.ms} ms, ${lines(worker.log).length} lines`);
    assert.equal(exit.code, 2, worker.log);
    assert.match(
      worker.log,
      /^error: EASEL_REDIS_URL: cannot reach Redis at redis:\/\/:\*\*\*@127\.0\.0\.1:\d+\/? within 10 s: Redis refused the user name or password in EASEL_REDIS_URL\.$/m,
    );
    assert.doesNotMatch(worker.log, /not-the-password/);
    assert.ok(lines(worker.log).length <= 3, `a few lines, not one per retry:\n${worker.log}`);
    assertShortLines(worker.log);
  });

  it("stops within its bound on SIGTERM while Redis hangs without closing its connections", async (t) => {
    const server = await redisServer(t);
    const worker = WorkerProcess.start({
      redisUrl: server.url,
      engine: { stepMs: 20 },
      timings: FAST_TIMINGS,
    });
    onCleanup(t, () => worker.kill());
    await untilReady(server.url, 1);
    const admin = new Redis(server.url);
    const pid = Number(/process_id:(\d+)/.exec(await admin.info("server"))?.[1]);
    admin.disconnect();
    assert.ok(pid > 0);
    // Frozen: the sockets stay open and nothing is ever answered.
    process.kill(pid, "SIGSTOP");
    onCleanup(t, async () => process.kill(pid, "SIGCONT"));
    const stop = await timedExit(worker.signal("SIGTERM"), STOP_LIMIT_MS);
    t.diagnostic(`SIGTERM to exit with Redis frozen: ${stop.ms} ms`);
    assert.equal(stop.code, 0, worker.log);
    assertShortLines(worker.log);
  });

  it("stops at once on SIGTERM while it is still waiting for a Redis that is not there", async (t) => {
    const port = await freePort();
    const worker = WorkerProcess.start({
      redisUrl: `redis://127.0.0.1:${port}`,
      engine: { stepMs: 20 },
      logLevel: "info",
    });
    onCleanup(t, () => worker.kill());
    // Its stop signals are handled from this line on; it then waits up to 10 s for Redis.
    await until(() => worker.log.includes("easel worker starting"), "the worker starting", 60_000);
    const stop = await timedExit(worker.signal("SIGTERM"), STOP_LIMIT_MS);
    t.diagnostic(`SIGTERM to exit while reaching Redis: ${stop.ms} ms`);
    assert.equal(stop.code, 0, worker.log);
    assertShortLines(worker.log);
  });
});
