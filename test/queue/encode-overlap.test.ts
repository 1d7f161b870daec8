/**
 * A device takes the next job as soon as a run's pixels exist: the next job's denoising starts
 * while the previous job's images are still being encoded, and a job still ends only once its
 * images are stored.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { DeviceWorker } from "../../src/queue/device.js";
import type { SimulatedEngineSpec } from "../../src/queue/index.js";
import { generateParamsOf } from "../../src/queue/params.js";
import { request, simulatedQueue } from "./support.js";

/** Encoding takes far longer than a few steps, so an overlap cannot go unseen. */
const SLOW_ENCODE: SimulatedEngineSpec = { kind: "simulated", stepMs: 2, encodeMs: 300 };

describe("encoding off the device", () => {
  it("starts the next job's first step before the previous job's images are encoded and stored", async (t) => {
    const { queue } = await simulatedQueue(t, {}, SLOW_ENCODE);
    await queue.start();
    const log: string[] = [];
    queue.on("started", (event) => log.push(`started:${event.jobId}`));
    queue.on("progress", (event) => {
      if (event.step === 1) log.push(`step1:${event.jobId}`);
    });
    queue.on("done", (event) => log.push(`done:${event.jobId}`));
    const a = (await queue.submit(request("ann", { seed: "1" }))).jobId;
    const b = (await queue.submit(request("bob", { seed: "2" }))).jobId;
    const [recordA, recordB] = await Promise.all([queue.wait(a), queue.wait(b)]);

    assert.ok(log.indexOf(`step1:${b}`) >= 0, log.join(" "));
    assert.ok(log.indexOf(`step1:${b}`) < log.indexOf(`done:${a}`), log.join(" "));
    // The job ended with its images stored and readable.
    for (const record of [recordA, recordB]) {
      assert.equal(record.status, "done");
      assert.equal(record.images.length, 1);
      const image = await queue.images.get(record.images[0]!.id);
      assert.ok(image && image.data.length > 0);
    }
  });

  it("runs the next job's first step before the previous job's result (its encoded images) is back", async () => {
    const params = generateParamsOf(request("ann"));
    for (const freeBeforeEncode of [true, false]) {
      const device = new DeviceWorker({
        device: "cpu",
        engine: SLOW_ENCODE,
        previewEvery: 0,
        jobTimeoutMs: 10_000,
        freeBeforeEncode,
      });
      try {
        const order: string[] = [];
        const a = await device.start("a", params);
        const aEnded = a.result.then((result) => {
          order.push("a:encoded");
          return result;
        });
        order.push(`a:freed:${await a.freed}`);
        const b = await device.start("b", params, {
          onProgress: (progress) => {
            if (progress.step === 1) order.push("b:step1");
          },
        });
        const [resultA, resultB] = await Promise.all([aEnded, b.result]);
        assert.deepEqual(
          order,
          freeBeforeEncode
            ? ["a:freed:free", "b:step1", "a:encoded"]
            : ["a:encoded", "a:freed:ended", "b:step1"],
        );
        assert.equal(resultA.images.length, 1);
        assert.equal(resultB.images.length, 1);
      } finally {
        await device.stop();
      }
    }
  });

  it("fails a run whose thread dies while it encodes, and the device recovers", async (t) => {
    const { queue } = await simulatedQueue(t, {}, SLOW_ENCODE);
    await queue.start();
    const a = (await queue.submit(request("ann", { seed: "1" }))).jobId;
    const b = (await queue.submit(request("bob", { prompt: "boom [sim:crash]", steps: 2 }))).jobId;
    const c = (await queue.submit(request("cat", { seed: "3" }))).jobId;
    const [recordA, recordB, recordC] = await Promise.all([queue.wait(a), queue.wait(b), queue.wait(c)]);
    // B's crash ends the thread that was still encoding A's images: A fails with it, C runs on a new one.
    assert.equal(recordB.status, "failed");
    assert.equal(recordA.status, "failed");
    assert.equal(recordC.status, "done");
  });
});
