/**
 * The gateway when Redis goes away: status() answers within 2 s and names Redis, the log says once
 * that Redis was lost and once that it is back, and stop() ends within its bound.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { describe, it } from "node:test";
import { JobStore } from "../../src/queue/store.js";
import { capturingLogger } from "../queue/support.js";
import { gateway, redisConfig, redisServer, request, tempDir, until } from "./support.js";

const timed = async <T>(work: Promise<T>): Promise<{ value: T; ms: number }> => {
  const start = performance.now();
  const value = await work;
  return { value, ms: performance.now() - start };
};

describe("the gateway without Redis", () => {
  it("reports Redis and its devices in status() within 2 s, logs losing and regaining Redis once each", async (t) => {
    const server = await redisServer(t);
    const { logger, lines } = capturingLogger();
    const config = redisConfig(await tempDir(t), server.url);
    const queue = await gateway(t, config, { devices: ["cpu"], logger });
    await queue.start();
    const { jobId } = await queue.submit(request("ann"));
    assert.equal((await queue.wait(jobId)).status, "done");
    const healthy = await queue.status();
    assert.deepEqual(healthy.problems, []);
    assert.deepEqual(
      healthy.devices.map((device) => device.ready),
      [true],
    );

    await server.kill();
    const down = await timed(queue.status());
    assert.ok(down.ms < 2_000, `status() took ${Math.round(down.ms)} ms`);
    assert.ok(
      down.value.problems.some((problem) => problem.component === "redis"),
      JSON.stringify(down.value.problems),
    );
    // Retries go on for a while: still one line.
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    const lost = () => lines.filter((line) => line.msg === "lost Redis; retrying until it is back");
    assert.equal(lost().length, 1);

    await server.launch();
    await until(() => lines.some((line) => line.msg === "Redis is back"), "the line saying Redis is back");
    assert.equal(lost().length, 1);
    await until(async () => (await queue.status()).problems.length === 0, "healthy again");
  });

  it("answers a cancel and stops within their bounds while Redis is gone, and the cancel holds", async (t) => {
    const server = await redisServer(t);
    const dir = await tempDir(t);
    const config = redisConfig(dir, server.url);
    const queue = await gateway(t, config, { devices: ["cpu"] });
    await queue.start();
    const { jobId } = await queue.submit(request("ann", { prompt: "[sim:step-ms=50] slow", steps: 100 }));
    await until(async () => (await queue.job(jobId))?.status === "running", "the job to start");
    await server.kill();
    const cancel = await timed(queue.cancel(jobId, "discord:ann"));
    assert.equal(cancel.value, "stopping");
    assert.ok(cancel.ms < 3_000, `cancel() took ${Math.round(cancel.ms)} ms`);
    assert.equal((await queue.job(jobId))?.cancelledBy, "discord:ann", "recorded before it was answered");
    const stopped = await timed(queue.stop());
    assert.ok(stopped.ms < 7_000, `stop() took ${Math.round(stopped.ms)} ms`);
    const store = JobStore.open(join(dir, "jobs.sqlite"));
    t.after(() => store.close());
    assert.equal(store.get(jobId)?.status, "cancelled", "no later start runs it");
    await server.launch(); // for the clean-up
  });
});
