/**
 * The scale-out check: Redis answers at EASEL_REDIS_URL (PING, within a few seconds), and what the
 * `easel worker` devices report there — how many are ready, and why any could not load its model.
 */
import { Redis } from "ioredis";
import { describeRedisError, isRedisAuthError, redactRedisUrl } from "../queue/redis/connection.js";
import { readWorkers, readyWorkers } from "../queue/redis/registry.js";
import { type CheckResult, fail, ok, warn } from "./types.js";

export async function checkRedis(url: string, timeoutMs = 3_000): Promise<CheckResult[]> {
  const where = redactRedisUrl(url);
  const redis = new Redis(url, {
    lazyConnect: true,
    connectTimeout: timeoutMs,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
  });
  // ioredis rejects with "Connection is closed."; the reason is the error it emitted before.
  let lastError: unknown;
  redis.on("error", (error: unknown) => {
    lastError = error;
  });
  try {
    await redis.connect();
    const pong = await redis.ping();
    if (pong !== "PONG") return [fail("redis", `${where} answered PING with "${pong}"`)];
    const statuses = await readWorkers(redis);
    const ready = readyWorkers(statuses, Date.now(), 10_000);
    const results = [ok("redis", `${where} answers PING`)];
    for (const status of statuses.filter((s) => s.state === "failed")) {
      results.push(
        fail(`worker ${status.id}`, `cannot load its model: ${status.error ?? "no reason given"}`),
      );
    }
    results.push(
      ready.length > 0
        ? ok("workers", `${ready.length} device(s) ready: ${ready.map((s) => s.id).join(", ")}`)
        : warn("workers", "no `easel worker` device is ready: jobs wait until one starts"),
    );
    return results;
  } catch (error) {
    const cause = lastError ?? error;
    const reason = describeRedisError(cause);
    if (isRedisAuthError(cause)) return [fail("redis", `${reason} (${where})`)];
    return [fail("redis", `cannot reach ${where}: ${reason}; start Redis or fix EASEL_REDIS_URL`)];
  } finally {
    redis.disconnect();
  }
}
