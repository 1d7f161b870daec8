/**
 * The queue behaviour suites (test/queue/queue.test.ts, failures.test.ts, persistence.test.ts) on
 * the Redis backend: the gateway with its devices in-process, a real redis-server per test. Tests
 * that pin the embedded backend's own workings (its worker threads) are skipped here, by name.
 */
import type { TestContext } from "node:test";
import { RedisJobQueue } from "../../src/queue/redis/gateway.js";
import { onCleanup, useBackend } from "../queue/support.js";
import { RedisServer } from "../redis/redis-server.js";
import { FAST_TIMINGS } from "../redis/support.js";

const servers = new WeakMap<TestContext, Promise<RedisServer>>();

/** One redis-server per test, shared by the queues it opens (a restart finds its jobs). */
function serverFor(t: TestContext): Promise<RedisServer> {
  let server = servers.get(t);
  if (!server) {
    server = RedisServer.start();
    servers.set(t, server);
    const started = server;
    onCleanup(t, async () => (await started).dispose());
  }
  return server;
}

useBackend({
  name: "redis",
  open: async (t, options) => {
    const server = await serverFor(t);
    const queue = new RedisJobQueue({
      ...options,
      config: { ...options.config, redisUrl: server.url },
      localDevices: options.config.devices,
      consumerTimings: FAST_TIMINGS,
      pollMs: 100,
      workerStaleMs: 2_000,
      // Released only to an idle worker: places in line then read as on the embedded backend.
      releaseMargin: 0,
    });
    await queue.start();
    return queue;
  },
});

await import("../queue/queue.test.js");
await import("../queue/failures.test.js");
await import("../queue/persistence.test.js");
