/**
 * The JobQueue contract suite (test/queue/contract.ts) on the BullMQ backend: createJobQueue with
 * EASEL_REDIS_URL pointing at a real redis-server, the gateway running its device in-process
 * (EASEL_DEVICES set explicitly) with the simulated engine.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createJobQueue, type JobQueue } from "../../src/queue/index.js";
import { describeJobQueueContract } from "../queue/contract.js";
import { testConfig } from "../queue/support.js";
import { RedisServer } from "../redis/redis-server.js";
import { FAST_TIMINGS } from "../redis/support.js";

describeJobQueueContract("redis", async (t, settings) => {
  const server = await RedisServer.start();
  const dir = await mkdtemp(join(tmpdir(), "easel-contract-redis-"));
  const opened: JobQueue[] = [];
  // Queues first, then Redis: a gateway stopping after its Redis is gone would wait for it.
  t.after(async () => {
    for (const queue of opened) await queue.stop();
    await server.dispose();
    await rm(dir, { recursive: true, force: true });
  });
  const { stepMs = 2, ...limits } = settings;
  const config = { ...testConfig(dir, limits), redisUrl: server.url, devicesExplicit: true };
  return {
    open: (options = {}) => {
      const queue = createJobQueue(config, {
        ...options,
        engineFor: () => ({ kind: "simulated", stepMs }),
        cancelGraceMs: 2000,
        shutdownGraceMs: 2000,
        redis: { consumerTimings: FAST_TIMINGS, pollMs: 100, workerStaleMs: 2_000 },
      });
      opened.push(queue);
      return queue;
    },
  };
});
