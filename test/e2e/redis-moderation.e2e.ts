/**
 * Output moderation (test/moderation/queue.test.ts) on the Redis backend: the gateway classifies
 * the images its workers send back through Redis, in the same job book as the embedded queue.
 * A real redis-server per test.
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

await import("../moderation/queue.test.js");
