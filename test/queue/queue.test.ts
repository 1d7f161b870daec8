/** The queue's order, limits, events and cancellation, on simulated devices. */
import assert from "node:assert/strict";
import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, it } from "node:test";
import { EaselError, InvalidInputError } from "../../src/errors.js";
import { validateGenerateParams } from "../../src/pipeline/validate.js";
import type { JobQueueEvents } from "../../src/queue/index.js";
import { generateParamsOf } from "../../src/queue/params.js";
import {
  assertThreadsStarted,
  backendName,
  embeddedOnly,
  nextEvent,
  recordEvents,
  request,
  settled,
  simulatedQueue,
  until,
} from "./support.js";

/** A job long enough to keep a device busy while a test looks at the line. */
const LONG = "[sim:step-ms=40] a slow one";

function isQueueFull(pattern: RegExp) {
  return (error: unknown) => {
    assert.ok(error instanceof EaselError);
    assert.equal(error.code, "queue_full");
    assert.match(error.userMessage, pattern);
    return true;
  };
}

describe("order", () => {
  it("starts jobs by priority tier, then round-robin between users, then arrival", async (t) => {
    const { queue } = await simulatedQueue(t, {
      priority: [
        { kind: "user", id: "discord:vip", tier: 2 },
        { kind: "role", id: "discord-role:mods", tier: 1 },
      ],
      maxJobsPerUser: 5,
    });
    const started: string[] = [];
    queue.on("started", (event) => started.push(event.requester.userId.replace("discord:", "")));
    const submissions = [
      request("a"),
      request("a"),
      request("b"),
      request("a"),
      request("c"),
      request("m", { roles: ["mods"] }),
      request("vip"),
    ].map((r) => queue.submit(r));
    const ids = (await Promise.all(submissions)).map((s) => s.jobId);
    await Promise.all(ids.map((id) => settled(queue, id)));
    assert.deepEqual(started, ["vip", "m", "a", "b", "c", "a", "a"]);
  });

  it("lets a newcomer's first job pass a user's second, even one that is already waiting", async (t) => {
    const { queue } = await simulatedQueue(t, { maxJobsPerUser: 5 });
    const started: string[] = [];
    queue.on("started", (event) => started.push(event.requester.userId.replace("discord:", "")));
    const firstStarted = nextEvent(queue, "started");
    await queue.submit(request("a", { prompt: LONG, steps: 3 }));
    const second = (await queue.submit(request("a"))).jobId;
    const third = (await queue.submit(request("a"))).jobId;
    await firstStarted;
    const late = (await queue.submit(request("b"))).jobId;
    assert.equal(await queue.position(late), 1, "b is next, ahead of a's two waiting jobs");
    await Promise.all([second, third, late].map((id) => settled(queue, id)));
    assert.deepEqual(started, ["a", "b", "a", "a"]);
  });

  it("keeps every device busy while jobs wait", async (t) => {
    const { queue } = await simulatedQueue(t, { devices: ["cuda:0", "cuda:1", "cuda:2"] });
    await queue.start();
    const devices = new Map<string, string>();
    queue.on("started", (event) => devices.set(event.jobId, event.device));
    let doneBeforeAllStarted = false;
    queue.on("done", () => {
      if (devices.size < 3) doneBeforeAllStarted = true;
    });
    const submitted = await Promise.all(
      ["a", "b", "c", "d"].map((user) => queue.submit(request(user, { prompt: LONG, steps: 3 }))),
    );
    assert.deepEqual(
      submitted.map((s) => s.position),
      [0, 0, 0, 1],
    );
    await Promise.all(submitted.map((s) => settled(queue, s.jobId)));
    assert.equal(doneBeforeAllStarted, false);
    const firstThree = submitted.slice(0, 3).map((s) => devices.get(s.jobId));
    assert.deepEqual([...firstThree].sort(), ["cuda:0", "cuda:1", "cuda:2"]);
  });
});

describe("places in line", () => {
  it(
    "counts down as jobs ahead start, and reports each change once",
    embeddedOnly("a gateway hears of a start after its worker took the job"),
    async (t) => {
      const { queue } = await simulatedQueue(t);
      const log = recordEvents(queue);
      const ids = await Promise.all(["a", "b", "c", "d"].map((user) => queue.submit(request(user))));
      assert.deepEqual(
        ids.map((s) => s.position),
        [0, 1, 2, 3],
      );
      await settled(queue, ids[3]!.jobId);
      const [a, b, c, d] = ids.map((s) => s.jobId);
      // A device takes its next job as soon as the engine's result is back, while the images of the
      // last one are still being written: done events interleave, the line itself moves in this order.
      assert.deepEqual(
        log.filter((entry) => !entry.startsWith("done")),
        [
          `started:${a}`,
          `started:${b}`,
          `queued:${c}:1`,
          `queued:${d}:2`,
          `started:${c}`,
          `queued:${d}:1`,
          `started:${d}`,
        ],
      );
      for (const id of [a, b, c, d]) assert.ok(log.indexOf(`done:${id}`) > log.indexOf(`started:${id}`));
      assert.equal(log.filter((entry) => entry.startsWith("done")).length, 4);
    },
  );

  it("moves waiting jobs back when a higher tier arrives, and forward when one ahead is cancelled", async (t) => {
    const { queue } = await simulatedQueue(t, { priority: [{ kind: "user", id: "discord:vip", tier: 1 }] });
    const started = nextEvent(queue, "started");
    const running = (await queue.submit(request("a", { prompt: LONG, steps: 20 }))).jobId;
    const b = (await queue.submit(request("b"))).jobId;
    await queue.submit(request("c"));
    await started;
    const moves: string[] = [];
    queue.on("queued", (event) => moves.push(`${event.requester.userId}:${event.position}`));
    const vip = await queue.submit(request("vip"));
    assert.equal(vip.position, 1);
    await until(() => moves.length >= 2);
    assert.deepEqual(moves, ["discord:b:2", "discord:c:3"]);
    assert.equal(await queue.cancel(vip.jobId, "discord:vip"), "cancelled");
    await until(() => moves.length >= 4);
    assert.deepEqual(moves, ["discord:b:2", "discord:c:3", "discord:b:1", "discord:c:2"]);
    assert.equal(await queue.position(b), 1);
    queue.cancel(running, "discord:a");
  });
});

describe("limits", () => {
  it("refuses a user's job past their limit, and any job past the total, storing nothing", async (t) => {
    const { queue } = await simulatedQueue(t, { maxJobsPerUser: 2, maxJobsTotal: 3 });
    const first = (await queue.submit(request("a", { prompt: LONG, steps: 5 }))).jobId;
    queue.submit(request("a"));
    await assert.rejects(queue.submit(request("a")), isQueueFull(/2 image jobs queued or running/));
    queue.submit(request("b"));
    await assert.rejects(queue.submit(request("c")), isQueueFull(/queue is full/));
    assert.deepEqual(await queue.history("discord:c"), []);
    assert.equal((await queue.history("discord:a")).length, 2);
    await settled(queue, first);
    const again = await queue.submit(request("a"));
    assert.ok(again.jobId, "a finished job frees a place");
  });
});

describe("requests the pipeline would refuse", () => {
  function isInvalid(field: string, message?: string) {
    return (error: unknown) => {
      assert.ok(error instanceof InvalidInputError, String(error));
      assert.equal(error.field, field);
      if (message !== undefined) assert.equal(error.userMessage, message);
      return true;
    };
  }

  it("are refused at submit with the pipeline's own error, storing and queueing nothing", async (t) => {
    const { queue } = await simulatedQueue(t, { maxJobsPerUser: 1 });
    const log = recordEvents(queue);
    // Image i uses seed + i: four images from the largest seed run past 2^64 - 1.
    const overflowing = request("a", { seed: "18446744073709551615", count: 4 });
    const pipelineSays = (() => {
      try {
        validateGenerateParams(generateParamsOf(overflowing));
      } catch (error) {
        return error instanceof InvalidInputError ? error.userMessage : undefined;
      }
    })();
    assert.ok(pipelineSays, "the pipeline refuses it");
    await assert.rejects(queue.submit(overflowing), isInvalid("seed", pipelineSays));
    await assert.rejects(queue.submit(request("a", { seed: "0x10" })), isInvalid("seed"));
    await assert.rejects(queue.submit(request("a", { steps: 0 })), isInvalid("steps"));
    // A refining request is checked too, all but the image bytes (those are read on the device).
    const source = { jobId: "no-such-job", imageIndex: 0, strength: 1.5, upscale: 1 as const };
    await assert.rejects(queue.submit(request("a", { source })), isInvalid("strength"));
    await new Promise((resolve) => setImmediate(resolve));
    assert.deepEqual(await queue.history("discord:a"), []);
    assert.deepEqual(log, []);
    const status = await queue.status();
    assert.deepEqual(
      [status.waiting, status.running, status.devices.map((device) => [device.jobId, device.ready])],
      [0, 0, [[undefined, true]]],
    );
    await assertThreadsStarted(queue, 0);

    const fits = await queue.submit(request("a", { seed: "18446744073709551612", count: 4 }));
    assert.equal(fits.position, 0, "the refusals took no place in line nor count against the limit");
    const { kind, event } = await settled(queue, fits.jobId);
    assert.equal(kind, "done");
    assert.deepEqual((event as { seeds: string[] }).seeds.at(-1), "18446744073709551615");
  });
});

describe("cancellation", () => {
  it("takes a waiting job out of line: it never starts, and the store says who cancelled it", async (t) => {
    const { queue } = await simulatedQueue(t);
    const log = recordEvents(queue);
    const running = (await queue.submit(request("a", { prompt: LONG, steps: 4 }))).jobId;
    const waiting = (await queue.submit(request("b"))).jobId;
    const cancelled = nextEvent(queue, "cancelled");
    assert.equal(await queue.cancel(waiting, "discord:b"), "cancelled");
    assert.deepEqual(await cancelled, {
      jobId: waiting,
      requester: request("b").requester,
      byUserId: "discord:b",
    });
    assert.equal((await queue.job(waiting))!.status, "cancelled");
    assert.equal((await queue.job(waiting))!.cancelledBy, "discord:b");
    await settled(queue, running);
    assert.ok(!log.includes(`started:${waiting}`));
    await assert.rejects(
      queue.cancel(waiting, "discord:b"),
      (error: unknown) => error instanceof EaselError && /already finished/.test(error.userMessage),
    );
  });

  it("lets only the job's owner cancel, unless told anyone may", async (t) => {
    const { queue } = await simulatedQueue(t);
    const running = (await queue.submit(request("a", { prompt: LONG, steps: 4 }))).jobId;
    const waiting = (await queue.submit(request("b"))).jobId;
    await assert.rejects(
      queue.cancel(waiting, "discord:mallory"),
      (error: unknown) => error instanceof EaselError && error.code === "forbidden",
    );
    await assert.rejects(
      queue.cancel("no-such-job", "discord:b"),
      (error: unknown) => error instanceof EaselError && error.code === "not_found",
    );
    assert.equal(await queue.cancel(waiting, "discord:moderator", { anyone: true }), "cancelled");
    assert.equal((await queue.job(waiting))!.cancelledBy, "discord:moderator");
    await settled(queue, running);
  });

  it("stops a running job at its next step, keeps the engine, and runs the next job", async (t) => {
    const { queue } = await simulatedQueue(t);
    const running = (await queue.submit(request("a", { prompt: LONG, steps: 50 }))).jobId;
    const next = (await queue.submit(request("b"))).jobId;
    await nextEvent(queue, "progress", (event) => event.jobId === running);
    const end = settled(queue, running);
    assert.equal(await queue.cancel(running, "discord:a"), "stopping");
    const { kind, event } = await end;
    assert.equal(kind, "cancelled");
    assert.deepEqual(event, { jobId: running, requester: request("a").requester, byUserId: "discord:a" });
    assert.equal((await settled(queue, next)).kind, "done");
    assert.equal((await queue.job(running))!.status, "cancelled");
    await assertThreadsStarted(queue, 1, "a cancellation does not restart the worker");
  });

  it("keeps its word when the run finishes before the device hears of the cancel", async (t) => {
    const { queue, config } = await simulatedQueue(t);
    const log = recordEvents(queue);
    const { jobId } = await queue.submit(request("a", { steps: 3, count: 2 }));
    const end = settled(queue, jobId);
    await nextEvent(queue, "progress", (event) => event.jobId === jobId && event.step === 3);
    // Hold the main thread while the worker finishes and posts its images: the cancel reaches the
    // worker after its result has left it.
    const until = performance.now() + 400;
    while (performance.now() < until) {
      // busy, as a main thread stuck in a long synchronous task
    }
    const answer = await queue.cancel(jobId, "discord:a");
    // The embedded queue still runs it ("stopping"). A gateway may find the finished run not yet
    // collected in Redis and remove it there at once ("cancelled"). Either way its word is kept below.
    if (backendName() === "embedded") assert.equal(answer, "stopping");
    else assert.ok(answer === "stopping" || answer === "cancelled", answer);
    const { kind, event } = await end;
    assert.equal(kind, "cancelled");
    assert.deepEqual(event, { jobId, requester: request("a").requester, byUserId: "discord:a" });
    assert.ok(!log.includes(`done:${jobId}`));
    const stored = (await queue.job(jobId))!;
    assert.equal(stored.status, "cancelled");
    assert.deepEqual(stored.images, []);
    const files = await readdir(join(config.dataDir, "images"));
    assert.deepEqual(
      files.filter((file) => file.startsWith(jobId)),
      [],
      "no image of a cancelled job is kept",
    );
    assert.equal((await settled(queue, (await queue.submit(request("b"))).jobId)).kind, "done");
    await assertThreadsStarted(queue, 1);
  });
});

describe("events", () => {
  it("reports progress with previews, then the images with their seeds, written to disk", async (t) => {
    const { queue, config } = await simulatedQueue(t, { previewEvery: 2 });
    const progress: Array<[number, number, boolean]> = [];
    queue.on("progress", (event) => progress.push([event.step, event.total, event.preview !== undefined]));
    const started = nextEvent(queue, "started");
    const ended = nextEvent(queue, "done");
    const { jobId } = await queue.submit(request("a", { count: 2, seed: "41", steps: 4 }));
    assert.equal((await started).device, "cpu");
    const done: JobQueueEvents["done"] = await ended;
    assert.deepEqual(progress, [
      [1, 4, false],
      [2, 4, true],
      [3, 4, false],
      [4, 4, true],
    ]);
    assert.deepEqual(done.seeds, ["41", "42"]);
    assert.ok(done.timings.totalMs > 0);
    assert.ok(done.durationMs >= 0 && done.waitedMs >= 0);
    for (const image of done.images) {
      assert.equal(image.id, `${jobId}-${image.index}`);
      assert.equal("path" in image || "data" in image, false, "no paths or bytes in events");
      const onDisk = await readFile(join(config.dataDir, "images", `${jobId}-${image.index}.png`));
      const fetched = (await queue.images.get(image.id))!;
      assert.deepEqual(fetched.data, new Uint8Array(onDisk));
      assert.deepEqual([...onDisk.subarray(1, 4)], [0x50, 0x4e, 0x47], "a PNG");
    }
    const stored = (await queue.job(jobId))!;
    assert.equal(stored.status, "done");
    assert.deepEqual(stored.seeds, done.seeds);
    assert.deepEqual(stored.images, done.images);
  });

  it("keeps going when a listener throws, and hands the error to the sink", async (t) => {
    const sunk: string[] = [];
    const { queue } = await simulatedQueue(t, {}, undefined, {
      onInternalError: (error, where) => sunk.push(`${where}:${(error as Error).message}`),
    });
    queue.on("started", () => {
      throw new Error("adapter bug");
    });
    const { jobId } = await queue.submit(request("a"));
    assert.equal((await settled(queue, jobId)).kind, "done");
    assert.deepEqual(sunk, ["listener:started:adapter bug"]);
  });
});
