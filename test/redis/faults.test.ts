/**
 * Redis faults in-process, against a real redis-server: the link that says once that Redis is
 * lost and once that it is back, the start's bounded wait with one short reason, a device's stop
 * that does not wait on a Redis that is gone, and the doctor's one line for each fault.
 */
import assert from "node:assert/strict";
import { Writable } from "node:stream";
import { describe, it } from "node:test";
import { Redis } from "ioredis";
import { checkRedis } from "../../src/doctor/redis.js";
import { ConfigError } from "../../src/errors.js";
import { createLogger } from "../../src/logger.js";
import { connectRedis, RedisLink, reachRedis } from "../../src/queue/redis/connection.js";
import { DeviceConsumer } from "../../src/queue/redis/consumer.js";
import { FAST_TIMINGS, onCleanup, redisServer, simulated, until } from "./support.js";

/** A logger whose JSON lines are kept for the test to read. */
function memoryLogger(level: "debug" | "info" | "warn" = "debug") {
  const lines: Array<{ level: number; msg: string } & Record<string, unknown>> = [];
  const destination = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString().split("\n")) if (line.trim()) lines.push(JSON.parse(line));
      done();
    },
  });
  return { logger: createLogger({ logLevel: level }, { destination, pretty: false }), lines };
}

const WARN = 40;

async function requirePassword(url: string, password: string): Promise<void> {
  const admin = new Redis(url);
  await admin.config("SET", "requirepass", password);
  admin.disconnect();
}

describe("Redis faults", () => {
  it("RedisLink says once that Redis is lost and once that it is back, over every connection", async (t) => {
    const server = await redisServer(t);
    const { logger, lines } = memoryLogger();
    const link = new RedisLink(logger, server.url);
    const connections = [0, 1, 2].map(() => link.watch(connectRedis(server.url)));
    onCleanup(t, () => Promise.all(connections.map((connection) => link.close(connection, 1_000))));
    await until(() => link.up && connections.every((c) => c.status === "ready"), "connections ready");

    await server.kill();
    const warnings = () => lines.filter((line) => line.level === WARN).map((line) => line.msg);
    await until(() => warnings().length > 0, "the loss reported", 10_000);
    assert.equal(link.up, false);
    // Several reconnect tries by every connection (they back off to one every 2 s): none is a warning.
    await until(() => lines.filter((line) => line.msg === "redis connection error").length >= 6, "retries");
    await server.launch();
    await until(() => warnings().length > 1, "the return reported", 20_000);
    assert.equal(link.up, true);
    assert.deepEqual(warnings(), ["lost Redis; retrying until it is back", "Redis is back"]);
    const back = lines.find((line) => line.msg === "Redis is back");
    assert.ok(typeof back?.downMs === "number" && back.downMs > 0);
  });

  it("RedisLink names a password Redis starts asking for as the reason it is lost", async (t) => {
    const server = await redisServer(t);
    const { logger, lines } = memoryLogger("warn");
    const link = new RedisLink(logger, server.url);
    const connections = [0, 1].map(() => link.watch(connectRedis(server.url)));
    onCleanup(t, () => Promise.all(connections.map((connection) => link.close(connection, 1_000))));
    await until(() => connections.every((c) => c.status === "ready"), "connections ready");
    const admin = new Redis(server.url);
    onCleanup(t, async () => admin.disconnect());
    await admin.config("SET", "requirepass", "now-required");
    await admin.call("AUTH", "now-required");
    // Every client is cut off and reconnects without a password.
    await admin.client("KILL", "TYPE", "normal");
    await until(() => lines.length > 0, "the loss reported", 10_000);
    assert.equal(lines[0]?.msg, "lost Redis; retrying until it is back");
    assert.equal(lines[0]?.reason, "Redis needs a password and EASEL_REDIS_URL gives none");
  });

  it("a start gives up after its bound with one short reason and no password when Redis refuses it", async (t) => {
    const server = await redisServer(t);
    await requirePassword(server.url, "the-right-one");
    const url = server.url.replace("redis://", "redis://:not-it@");
    const redis = connectRedis(url);
    redis.on("error", () => {});
    onCleanup(t, async () => redis.disconnect());
    const started = performance.now();
    await assert.rejects(reachRedis(redis, url, 1_500), (error: unknown) => {
      assert.ok(error instanceof ConfigError);
      assert.equal(
        error.message,
        `EASEL_REDIS_URL: cannot reach Redis at redis://:***@127.0.0.1:${server.port} within 2 s: Redis refused the user name or password in EASEL_REDIS_URL.`,
      );
      return true;
    });
    assert.ok(performance.now() - started < 10_000);
  });

  it("a device's stop does not wait on a Redis that is gone", async (t) => {
    const server = await redisServer(t);
    const { logger, lines } = memoryLogger("warn");
    const consumer = new DeviceConsumer({
      redisUrl: server.url,
      device: "cpu",
      engine: simulated(5),
      previewEvery: 0,
      jobTimeoutMs: 60_000,
      logger,
      timings: FAST_TIMINGS,
    });
    onCleanup(t, () => consumer.stop());
    assert.equal(await consumer.start(), true);
    await server.kill();
    await until(() => lines.some((line) => line.msg.startsWith("lost Redis")), "the loss reported", 10_000);
    const started = performance.now();
    await consumer.stop();
    const stopMs = performance.now() - started;
    t.diagnostic(`stop with Redis down: ${Math.round(stopMs)} ms`);
    // Before, each of three steps waited its 5 s for Redis (15 s in all).
    assert.ok(stopMs < 5_000, `stopped in ${Math.round(stopMs)} ms`);
  });

  it("easel doctor says in one line that Redis refused the password or wants one, without it", async (t) => {
    const server = await redisServer(t);
    await requirePassword(server.url, "the-right-one");
    const wrong = await checkRedis(server.url.replace("redis://", "redis://:not-it@"), 2_000);
    assert.deepEqual(wrong, [
      {
        name: "redis",
        status: "fail",
        message: `Redis refused the user name or password in EASEL_REDIS_URL (redis://:***@127.0.0.1:${server.port})`,
      },
    ]);
    const none = await checkRedis(server.url, 2_000);
    assert.equal(none[0]?.status, "fail");
    assert.match(none[0]?.message ?? "", /^Redis needs a password and EASEL_REDIS_URL gives none \(/);
  });

  it("easel doctor names a refused connection rather than a closed one", async (t) => {
    const server = await redisServer(t);
    const url = server.url;
    await server.stop();
    const [result] = await checkRedis(url, 2_000);
    assert.equal(result?.status, "fail");
    assert.match(result?.message ?? "", /cannot reach redis:\/\/127\.0\.0\.1:\d+\/?: connect ECONNREFUSED/);
  });
});
