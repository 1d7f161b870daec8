/**
 * Several models on the Redis backend: a device advertises the models it can load and the ones it
 * holds in its heartbeat, runs a job for another model, and a job for a model the catalogue lacks
 * is refused at submit with nothing queued.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Redis } from "ioredis";
import { InvalidInputError } from "../../src/errors.js";
import { silentLogger } from "../../src/logger.js";
import { DeviceConsumer } from "../../src/queue/redis/consumer.js";
import { readWorkers } from "../../src/queue/redis/registry.js";
import {
  FAST_TIMINGS,
  gateway,
  redisConfig,
  redisServer,
  request,
  simulated,
  tempDir,
  until,
} from "./support.js";

describe("models on the Redis backend", () => {
  it("advertises what a device can load and holds, and refuses an unknown model at submit", async (t) => {
    const server = await redisServer(t);
    const dataDir = await tempDir(t);
    const base = redisConfig(dataDir, server.url);
    const config = {
      ...base,
      models: {
        models: [
          { name: "photo", dir: `${dataDir}/photo`, label: "photo", description: "", settings: {} },
          { name: "turbo", dir: `${dataDir}/turbo`, label: "turbo", description: "", settings: { steps: 1 } },
        ],
        defaultName: "photo",
      },
    };
    const queue = await gateway(t, config, { devices: ["cpu"], engine: simulated(5) });
    await queue.start();
    const redis = new Redis(server.url);
    t.after(() => redis.quit());

    const status = async () => (await readWorkers(redis)).find((worker) => worker.device === "cpu");
    await until(async () => (await status())?.state === "ready", "the device is ready");
    assert.deepEqual((await status())?.models, ["photo", "turbo"]);
    assert.deepEqual((await status())?.held, ["photo"]);

    const { jobId } = await queue.submit(request("ann", { model: "turbo", steps: 1, guidance: 0 }));
    assert.equal((await queue.wait(jobId)).status, "done");
    await until(async () => (await status())?.held?.[0] === "turbo", "the heartbeat says it holds turbo");

    await assert.rejects(
      queue.submit(request("bob", { model: "rocket" })),
      (error) =>
        error instanceof InvalidInputError &&
        /"rocket" isn't offered here; the models are photo, turbo/.test(error.userMessage),
    );
    assert.equal((await queue.history("discord:bob")).length, 0);
  });

  it("refuses at submit a model that no ready worker advertises, with its reason", async (t) => {
    const server = await redisServer(t);
    const dataDir = await tempDir(t);
    const entry = (name: string) => ({
      name,
      dir: `${dataDir}/${name}`,
      label: name,
      description: "",
      settings: {},
    });
    const gatewayConfig = {
      ...redisConfig(dataDir, server.url),
      models: { models: [entry("anime"), entry("photo")], defaultName: "photo" },
    };
    const queue = await gateway(t, gatewayConfig);
    await queue.start();
    // A worker of its own whose catalogue has only the photo model.
    const worker = new DeviceConsumer({
      redisUrl: server.url,
      device: "cpu",
      engine: simulated(5),
      previewEvery: 0,
      jobTimeoutMs: 60_000,
      logger: silentLogger,
      timings: FAST_TIMINGS,
      models: { models: [entry("photo")], defaultName: "photo" },
    });
    t.after(() => worker.stop());
    assert.equal(await worker.start(), true);
    const photo = await queue.submit(request("ann", { model: "photo" }));
    assert.equal((await queue.wait(photo.jobId)).status, "done");
    // Until the gateway's poll has read the worker's status, a job for anime may still be taken
    // (it would wait for a worker); such a one is cancelled here.
    let refusal: unknown;
    await until(async () => {
      try {
        const taken = await queue.submit(request("ann", { model: "anime" }));
        await queue.cancel(taken.jobId, "discord:ann");
        return false;
      } catch (error) {
        refusal = error;
        return true;
      }
    }, "the gateway knows the worker's models");
    assert.ok(refusal instanceof InvalidInputError, String(refusal));
    assert.match(refusal.userMessage, /No image worker can run the model "anime"/);
    const records = await queue.history("discord:ann");
    assert.equal(
      records.filter((record) => record.status !== "cancelled").length,
      1,
      "nothing else was queued",
    );
  });
});
