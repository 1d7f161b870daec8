import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Redis } from "ioredis";
import { checkRedis } from "../../src/doctor/redis.js";
import { WorkerHeartbeat } from "../../src/queue/redis/registry.js";
import { freePort } from "./redis-server.js";
import { onCleanup, redisServer } from "./support.js";

describe("easel doctor's Redis check", () => {
  it("says Redis answers, which devices are ready, and why one could not load", async (t) => {
    const server = await redisServer(t);
    const redis = new Redis(server.url);
    onCleanup(t, async () => redis.disconnect());
    const identity = (device: string) => ({ id: `box:1:${device}`, device, host: "box", pid: 1 });
    const ready = new WorkerHeartbeat(redis, identity("cuda:0"), 60_000, () => {});
    const broken = new WorkerHeartbeat(redis, identity("cuda:1"), 60_000, () => {});
    await ready.start();
    await broken.start();
    await ready.set("ready");
    await broken.set("failed", "models/sdxl/unet/model.onnx: no such file");
    onCleanup(t, () => Promise.all([ready.stop(), broken.stop()]));

    const results = await checkRedis(server.url);
    assert.deepEqual(
      results.map((result) => [result.name, result.status]),
      [
        ["redis", "ok"],
        ["worker box:1:cuda:1", "fail"],
        ["workers", "ok"],
      ],
    );
    assert.match(results[1]!.message, /unet\/model\.onnx: no such file/);
    assert.match(results[2]!.message, /1 device\(s\) ready: box:1:cuda:0/);
  });

  it("fails clearly when nothing answers, without the URL's password", async () => {
    const port = await freePort();
    const [result] = await checkRedis(`redis://:hunter2@127.0.0.1:${port}`, 1_000);
    assert.equal(result?.status, "fail");
    assert.match(result?.message ?? "", /cannot reach redis:\/\/:\*\*\*@127\.0\.0\.1/);
    assert.doesNotMatch(result?.message ?? "", /hunter2/);
  });
});
