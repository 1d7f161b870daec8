/**
 * Several models on the Redis backend: a device advertises the models it can load and the ones it
 * holds in its heartbeat, runs a job for another model, and a job for a model the catalogue lacks
 * is refused at submit with nothing queued.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Redis } from "ioredis";
import { InvalidInputError } from "../../src/errors.js";
import { readWorkers } from "../../src/queue/redis/registry.js";
import { gateway, redisConfig, redisServer, request, simulated, tempDir, until } from "./support.js";

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
});
