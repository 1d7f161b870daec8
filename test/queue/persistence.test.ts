/** Images on disk and their sweep, jobs that reuse an image, and jobs put back after a stop. */
import assert from "node:assert/strict";
import { access, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, it } from "node:test";
import { EaselError } from "../../src/errors.js";
import { GenerationQueue, JobStore, type QueueEvents } from "../../src/queue/index.js";
import { FAST_ENGINE, nextEvent, request, settled, simulatedQueue, tempDir, testConfig } from "./support.js";

const exists = (path: string) =>
  access(path).then(
    () => true,
    () => false,
  );

const HOUR = 3_600_000;

async function done(queue: GenerationQueue, jobId: string): Promise<QueueEvents["done"]> {
  const { kind, event } = await settled(queue, jobId);
  assert.equal(kind, "done");
  return event as QueueEvents["done"];
}

function notFound(error: unknown): boolean {
  return error instanceof EaselError && error.code === "not_found";
}

describe("image files", () => {
  it("sweeps posted images, images past the retention time and stray files; keeps the rest", async (t) => {
    let clock = 1_000_000;
    const { queue, dir } = await simulatedQueue(t, { retentionHours: 1 }, FAST_ENGINE, { now: () => clock });
    const posted = await done(queue, queue.submit(request("a")).jobId);
    const old = await done(queue, queue.submit(request("b")).jobId);
    clock += 2 * HOUR;
    const fresh = await done(queue, queue.submit(request("c")).jobId);
    queue.markPosted(posted.jobId, "discord:c1/m1");
    assert.throws(() => queue.markPosted("nope", "x"), notFound);
    const stray = join(dir, "images", "0123456789abcdef-0.png");
    await writeFile(stray, "left by a crash");
    clock += 1;

    assert.deepEqual(await queue.sweep(), { deleted: 3 });
    assert.equal(await exists(posted.images[0]!.path), false);
    assert.equal(await exists(old.images[0]!.path), false);
    assert.equal(await exists(stray), false);
    assert.equal(await exists(fresh.images[0]!.path), true);
    assert.equal(queue.job(posted.jobId)!.images[0]!.deleted, true);
    assert.equal(queue.job(posted.jobId)!.postedTo, "discord:c1/m1");
    assert.equal(queue.job(fresh.jobId)!.images[0]!.deleted, false);
    assert.deepEqual(await queue.sweep(), { deleted: 0 }, "a second sweep finds nothing");
  });

  it("sweeps on its own every sweepEveryMs once started", async (t) => {
    const { queue } = await simulatedQueue(t, {}, FAST_ENGINE, { sweepEveryMs: 20 });
    await queue.start();
    const result = await done(queue, queue.submit(request("a")).jobId);
    queue.markPosted(result.jobId, "web:1");
    const deadline = Date.now() + 5000;
    while ((await exists(result.images[0]!.path)) && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    assert.equal(await exists(result.images[0]!.path), false);
  });
});

describe("jobs that refine an earlier image", () => {
  it("send that image to the device, running the strength's share of the steps", async (t) => {
    const { queue } = await simulatedQueue(t);
    const first = await done(queue, queue.submit(request("a", { count: 2 })).jobId);
    const totals: number[] = [];
    queue.on("progress", (event) => totals.push(event.total));
    const source = { jobId: first.jobId, imageIndex: 1, strength: 0.5, upscale: 1 as const };
    const refined = await done(queue, queue.submit(request("a", { steps: 8, source })).jobId);
    assert.equal(refined.images.length, 1);
    assert.deepEqual(new Set(totals), new Set([4]));
    assert.deepEqual(queue.job(refined.jobId)!.request.source, source);
  });

  it("are refused, storing nothing, when the job or image does not exist", async (t) => {
    const { queue } = await simulatedQueue(t);
    const first = await done(queue, queue.submit(request("a")).jobId);
    const source = (jobId: string, imageIndex: number) => ({
      jobId,
      imageIndex,
      strength: 0.3,
      upscale: 1 as const,
    });
    assert.throws(() => queue.submit(request("b", { source: source("missing", 0) })), notFound);
    assert.throws(() => queue.submit(request("b", { source: source(first.jobId, 1) })), /no longer stored/);
    assert.deepEqual(queue.historyOf("discord:b"), []);
  });

  it("fetch an image that was posted and swept through loadPostedImage, or are refused without it", async (t) => {
    const asked: string[] = [];
    const { queue } = await simulatedQueue(t, {}, FAST_ENGINE, {
      loadPostedImage: async (job, index) => {
        asked.push(`${job.postedTo}#${index}`);
        return Uint8Array.of(1, 2, 3);
      },
    });
    const first = await done(queue, queue.submit(request("a")).jobId);
    queue.markPosted(first.jobId, "slack:C1/1700000000.1");
    await queue.sweep();
    const source = { jobId: first.jobId, imageIndex: 0, strength: 0.3, upscale: 1 as const };
    await done(queue, queue.submit(request("a", { source })).jobId);
    assert.deepEqual(asked, ["slack:C1/1700000000.1#0"]);

    const { queue: plain } = await simulatedQueue(t);
    const other = await done(plain, plain.submit(request("a")).jobId);
    plain.markPosted(other.jobId, "x");
    await plain.sweep();
    assert.throws(
      () => plain.submit(request("a", { source: { ...source, jobId: other.jobId } })),
      /no longer stored/,
    );
  });
});

describe("stop and recover", () => {
  it("puts running and waiting jobs back on stop, and runs them in order after the next start", async (t) => {
    const dir = await tempDir(t);
    const config = testConfig(dir);
    const first = new GenerationQueue({ config, engineFor: () => FAST_ENGINE });
    const running = first.submit(request("a", { prompt: "[sim:step-ms=20]", steps: 25 })).jobId;
    const waiting = first.submit(request("b")).jobId;
    await nextEvent(first, "progress", (event) => event.jobId === running);
    await first.stop();
    assert.throws(() => first.submit(request("c")), /restarting/);

    const store = JobStore.open(join(dir, "jobs.sqlite"));
    assert.deepEqual(
      store.unfinished().map((job) => [job.id, job.status, job.attempts]),
      [
        [running, "queued", 1],
        [waiting, "queued", 0],
      ],
    );
    store.close();

    const second = new GenerationQueue({ config, engineFor: () => ({ kind: "simulated", stepMs: 1 }) });
    t.after(() => second.stop());
    const recovered: string[] = [];
    second.on("recovered", (event) => recovered.push(`${event.job.id}:${event.requeued}`));
    const started: string[] = [];
    second.on("started", (event) => started.push(`${event.jobId}:${event.attempt}`));
    assert.deepEqual(second.recover(), { requeued: [running, waiting], failed: [] });
    assert.deepEqual(recovered, [`${running}:true`, `${waiting}:true`]);
    await Promise.all([done(second, running), done(second, waiting)]);
    assert.deepEqual(started, [`${running}:2`, `${waiting}:1`]);
    assert.equal(second.recover().requeued.length, 0, "nothing is recovered twice");
  });

  it("stops without waiting for an engine that is still loading, leaving its job queued", async (t) => {
    const dir = await tempDir(t);
    const queue = new GenerationQueue({
      config: testConfig(dir),
      engineFor: () => ({ kind: "simulated", stepMs: 1, loadMs: 5000 }),
      shutdownGraceMs: 100,
    });
    const jobId = queue.submit(request("a")).jobId;
    await nextEvent(queue, "started");
    const since = performance.now();
    await queue.stop();
    const stopMs = performance.now() - since;
    assert.ok(stopMs < 2000, `stop() took ${Math.round(stopMs)} ms; the load takes 5000`);
    const store = JobStore.open(join(dir, "jobs.sqlite"));
    t.after(() => store.close());
    assert.deepEqual([store.get(jobId)!.status, store.get(jobId)!.attempts], ["queued", 1]);
  });

  it("lets jobs be cancelled while it stops and once it has stopped, so no start runs them", async (t) => {
    const dir = await tempDir(t);
    const config = testConfig(dir);
    const store = JobStore.open(join(dir, "jobs.sqlite"));
    t.after(() => store.close());
    const first = new GenerationQueue({ config, store, engineFor: () => FAST_ENGINE });
    const cancelled: string[] = [];
    first.on("cancelled", (event) => cancelled.push(`${event.jobId}:${event.byUserId}`));
    const running = first.submit(request("a", { prompt: "[sim:step-ms=20]", steps: 25 })).jobId;
    const waiting = first.submit(request("b")).jobId;
    const kept = first.submit(request("c")).jobId;
    await nextEvent(first, "progress", (event) => event.jobId === running);
    const stopping = first.stop();
    assert.equal(
      first.cancel(running, "discord:a"),
      "stopping",
      "a cancel that crosses the stop's interruption",
    );
    await stopping;
    assert.equal(first.positionOf(waiting), undefined, "nothing waits in a stopped queue");
    assert.equal(first.cancel(waiting, "discord:b"), "cancelled");
    assert.deepEqual(cancelled, [`${running}:discord:a`, `${waiting}:discord:b`]);
    assert.deepEqual(
      [running, waiting, kept].map((id) => store.get(id)!.status),
      ["cancelled", "cancelled", "queued"],
    );

    const second = new GenerationQueue({ config, store, engineFor: () => FAST_ENGINE });
    t.after(() => second.stop());
    assert.deepEqual(second.recover(), { requeued: [kept], failed: [] });
    await done(second, kept);
  });

  it("fails, and reports, jobs it is told not to resume, command-line jobs, and jobs interrupted too often", async (t) => {
    const dir = await tempDir(t);
    const store = JobStore.open(join(dir, "jobs.sqlite"));
    const add = (id: string, userId: string, platform: "discord" | "cli", starts: number) => {
      const base = request(userId);
      store.insert({
        id,
        request: { ...base, requester: { ...base.requester, platform } },
        tier: 0,
        createdAt: 1,
      });
      for (let i = 0; i < starts; i++) {
        store.markRunning(id, "cpu", 2);
        if (i < starts - 1) store.markQueued(id);
      }
    };
    add("keep", "a", "discord", 1);
    add("declined", "b", "discord", 0);
    add("cli", "c", "cli", 1);
    add("flaky", "d", "discord", 3);
    store.close();

    const queue = new GenerationQueue({ config: testConfig(dir), engineFor: () => FAST_ENGINE });
    t.after(() => queue.stop());
    const events: QueueEvents["recovered"][] = [];
    queue.on("recovered", (event) => events.push(event));
    const report = queue.recover({
      requeue: (job) => job.id !== "declined" && job.request.requester.platform !== "cli",
    });
    assert.deepEqual(report, { requeued: ["keep"], failed: ["declined", "cli", "flaky"] });
    assert.deepEqual(
      events.map((event) => [event.job.id, event.requeued, event.job.status]),
      [
        ["keep", true, "queued"],
        ["declined", false, "failed"],
        ["cli", false, "failed"],
        ["flaky", false, "failed"],
      ],
    );
    assert.match(events[1]!.message!, /restarted before this one could finish/);
    assert.match(events[3]!.message!, /several times/);
    assert.equal(queue.job("flaky")!.error!.message, events[3]!.message);
    await done(queue, "keep");
  });

  it("does not resume command-line jobs by default", async (t) => {
    const dir = await tempDir(t);
    const store = JobStore.open(join(dir, "jobs.sqlite"));
    const base = request("c");
    store.insert({
      id: "cli",
      request: { ...base, requester: { ...base.requester, platform: "cli" } },
      tier: 0,
      createdAt: 1,
    });
    store.insert({ id: "chat", request: request("d"), tier: 0, createdAt: 1 });
    store.close();
    const queue = new GenerationQueue({ config: testConfig(dir), engineFor: () => FAST_ENGINE });
    t.after(() => queue.stop());
    assert.deepEqual(queue.recover(), { requeued: ["chat"], failed: ["cli"] });
    await done(queue, "chat");
  });
});
