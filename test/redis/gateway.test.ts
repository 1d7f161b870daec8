import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  endsOf,
  eventLog,
  gateway,
  redisConfig,
  redisServer,
  request,
  simulated,
  tempDir,
  until,
} from "./support.js";

describe("the BullMQ gateway with in-process devices", () => {
  it("runs jobs on the workers and stores their images, each job ending once", async (t) => {
    const server = await redisServer(t);
    const config = redisConfig(await tempDir(t), server.url, { previewEvery: 2 });
    const queue = await gateway(t, config, { devices: ["cpu", "cuda:0"], engine: simulated(5) });
    const log = eventLog(queue);
    await queue.start();
    const ids = [];
    for (const name of ["ann", "bob", "cat"]) ids.push((await queue.submit(request(name))).jobId);
    const records = await Promise.all(ids.map((id) => queue.wait(id)));
    assert.deepEqual(
      records.map((record) => record.status),
      ["done", "done", "done"],
    );
    for (const record of records) {
      assert.equal(record.images.length, 1);
      const image = await queue.images.get(record.images[0]!.id);
      assert.equal(image?.mime, "image/png");
      assert.ok(image && image.data.byteLength > 0);
    }
    await until(() => endsOf(log).size === 3, "three ends");
    for (const id of ids) assert.deepEqual(endsOf(log).get(id), ["done"]);
    assert.ok(
      log.some((entry) => entry.name === "progress" && entry.event.preview),
      "a preview arrives",
    );
    assert.ok(
      log.some((entry) => entry.name === "started"),
      "started events arrive",
    );
  });
});
