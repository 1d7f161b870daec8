/**
 * The backend-neutral queue suites (test/queue/support.ts' openQueue) on the Redis gateway: its
 * devices in-process, one real redis-server per test, shared by the queues the test opens (a
 * restart finds its jobs). Call before importing a suite.
 */
import type { TestContext } from "node:test";
import { RedisJobQueue } from "../../src/queue/redis/gateway.js";
import { onCleanup, useBackend } from "../queue/support.js";
import { RedisServer } from "../redis/redis-server.js";
import { FAST_TIMINGS } from "../redis/support.js";

const servers = new WeakMap<TestContext, Promise<RedisServer>>();

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

export function useRedisBackend(): void {
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
      try {
        await queue.start();
      } catch (error) {
        // Never handed to the test, so nobody else stops it: its Redis connections would keep the
        // process alive after the last test.
        await queue.stop();
        throw error;
      }
      return queue;
    },
  });
}
