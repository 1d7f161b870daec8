/** Images on disk and their sweep, jobs that reuse an image, and jobs put back after a stop. */
import assert from "node:assert/strict";
import { access, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, it } from "node:test";
import { EaselError } from "../../src/errors.js";
import { EmbeddedJobQueue, type JobQueue, type JobQueueEvents } from "../../src/queue/index.js";
import { JobStore } from "../../src/queue/store.js";
import {
  backendName,
  embeddedOnly,
  FAST_ENGINE,
  nextEvent,
  openQueue,
  request,
  settled,
  simulatedQueue,
  tempDir,
  testConfig,
} from "./support.js";

const exists = (path: string) =>
  access(path).then(
    () => true,
    () => false,
  );

const HOUR = 3_600_000;

type Done = Pick<JobQueueEvents["done"], "jobId" | "images" | "seeds">;

/** The finished job, with where its images' files are (the embedded backend's layout). */
async function done(queue: JobQueue, jobId: string, dir = ""): Promise<Done & { paths: string[] }> {
  const { kind, event } = await settled(queue, jobId);
  assert.equal(kind, "done");
  const { images, seeds } = event as Done;
  const paths = images.map((image) => join(dir, "images", `${image.id}.png`));
  return { jobId, images, seeds, paths };
}

function notFound(error: unknown): boolean {
  return error instanceof EaselError && error.code === "not_found";
}

describe("image files", () => {
  it("sweeps images past the retention time, posted or not, and stray files; keeps the rest", async (t) => {
    let clock = 1_000_000;
    const { queue, dir } = await simulatedQueue(t, { retentionHours: 1 }, FAST_ENGINE, { now: () => clock });
    const oldPosted = await done(queue, (await queue.submit(request("a"))).jobId, dir);
    const old = await done(queue, (await queue.submit(request("b"))).jobId, dir);
    await queue.markPosted(oldPosted.jobId, "discord:c1/m0");
    clock += 2 * HOUR;
    const posted = await done(queue, (await queue.submit(request("a"))).jobId, dir);
    const fresh = await done(queue, (await queue.submit(request("c"))).jobId, dir);
    await queue.markPosted(posted.jobId, "discord:c1/m1");
    await assert.rejects(queue.markPosted("nope", "x"), notFound);
    const stray = join(dir, "images", "0123456789abcdef-0.png");
    await writeFile(stray, "left by a crash");
    clock += 1;

    assert.deepEqual(await queue.sweep(), { deleted: 3 });
    assert.equal(await exists(oldPosted.paths[0]!), false);
    assert.equal(await exists(old.paths[0]!), false);
    assert.equal(await exists(stray), false);
    assert.equal(
      await exists(posted.paths[0]!),
      true,
      "posted within the retention time: kept for its buttons",
    );
    assert.equal(await exists(fresh.paths[0]!), true);
    assert.equal((await queue.job(oldPosted.jobId))!.images[0]!.deleted, true);
    assert.equal((await queue.job(oldPosted.jobId))!.postedTo, "discord:c1/m0");
    assert.equal((await queue.job(posted.jobId))!.images[0]!.deleted, false);
    assert.ok(await queue.images.get(posted.images[0]!.id), "its bytes still served");
    assert.deepEqual(await queue.sweep(), { deleted: 0 }, "a second sweep finds nothing");
  });

  it("keeps a posted image through stops and restarts within the retention time: refining it works", async (t) => {
    const dir = await tempDir(t);
    let clock = 1_000_000;
    const config = testConfig(dir, { retentionHours: 1 });
    const open = () => openQueue(t, { config, engineFor: () => FAST_ENGINE, now: () => clock });
    const first = await open();
    const result = await done(first, (await first.submit(request("a"))).jobId, dir);
    await first.markPosted(result.jobId, "discord:c1/m1");
    await first.sweep();
    await first.stop(); // sweeps too
    clock += HOUR / 2;
    const second = await open();
    await second.sweep();
    assert.equal(await exists(result.paths[0]!), true);
    const source = { jobId: result.jobId, imageIndex: 0, strength: 0.5, upscale: 1 as const };
    const refined = await done(second, (await second.submit(request("a", { source }))).jobId, dir);
    assert.equal(refined.images.length, 1);
  });

  it("sweeps on its own every sweepEveryMs once started", async (t) => {
    let clock = 1_000_000;
    const { queue, dir } = await simulatedQueue(t, { retentionHours: 1 }, FAST_ENGINE, {
      sweepEveryMs: 20,
      now: () => clock,
    });
    await queue.start();
    const result = await done(queue, (await queue.submit(request("a"))).jobId, dir);
    await queue.markPosted(result.jobId, "web:1");
    await new Promise((resolve) => setTimeout(resolve, 100));
    assert.equal(await exists(result.paths[0]!), true, "posted, within the retention time");
    clock += 2 * HOUR;
    const deadline = Date.now() + 5000;
    while ((await exists(result.paths[0]!)) && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    assert.equal(await exists(result.paths[0]!), false);
  });
});

describe("jobs that refine an earlier image", () => {
  it("send that image to the device, running the strength's share of the steps", async (t) => {
    const { queue } = await simulatedQueue(t);
    const first = await done(queue, (await queue.submit(request("a", { count: 2 }))).jobId);
    const totals: number[] = [];
    queue.on("progress", (event) => totals.push(event.total));
    const source = { jobId: first.jobId, imageIndex: 1, strength: 0.5, upscale: 1 as const };
    const refined = await done(queue, (await queue.submit(request("a", { steps: 8, source }))).jobId);
    assert.equal(refined.images.length, 1);
    assert.deepEqual(new Set(totals), new Set([4]));
    assert.deepEqual((await queue.job(refined.jobId))!.request.source, source);
  });

  it("are refused, storing nothing, when the job or image does not exist", async (t) => {
    const { queue } = await simulatedQueue(t);
    const first = await done(queue, (await queue.submit(request("a"))).jobId);
    const source = (jobId: string, imageIndex: number) => ({
      jobId,
      imageIndex,
      strength: 0.3,
      upscale: 1 as const,
    });
    await assert.rejects(queue.submit(request("b", { source: source("missing", 0) })), notFound);
    await assert.rejects(queue.submit(request("b", { source: source(first.jobId, 1) })), /no longer stored/);
    assert.deepEqual(await queue.history("discord:b"), []);
  });

  it("refuse a source image whose posted result was swept past the retention time", async (t) => {
    let clock = 1_000_000;
    const { queue } = await simulatedQueue(t, { retentionHours: 1 }, FAST_ENGINE, { now: () => clock });
    const first = await done(queue, (await queue.submit(request("a"))).jobId);
    await queue.markPosted(first.jobId, "x");
    clock += 2 * HOUR;
    await queue.sweep();
    const source = { jobId: first.jobId, imageIndex: 0, strength: 0.3, upscale: 1 as const };
    await assert.rejects(queue.submit(request("a", { source })), /no longer stored/);
  });
});

describe("stop and recover", () => {
  it("puts running and waiting jobs back on stop, and runs them in order after the next start", async (t) => {
    const dir = await tempDir(t);
    const config = testConfig(dir);
    const first = await openQueue(t, { config, engineFor: () => FAST_ENGINE });
    const running = (await first.submit(request("a", { prompt: "[sim:step-ms=20]", steps: 25 }))).jobId;
    const waiting = (await first.submit(request("b"))).jobId;
    await nextEvent(first, "progress", (event) => event.jobId === running);
    await first.stop();
    await assert.rejects(
      first.submit(request("c")),
      (error: unknown) =>
        error instanceof EaselError && error.code === "stopping" && /restarting/.test(error.message),
    );

    const store = JobStore.open(join(dir, "jobs.sqlite"));
    assert.deepEqual(
      store.unfinished().map((job) => [job.id, job.status, job.attempts]),
      [
        // A gateway's released job runs on in Redis: its next start follows it again.
        [running, backendName() === "embedded" ? "queued" : "running", 1],
        [waiting, "queued", 0],
      ],
    );
    store.close();

    const second = await openQueue(t, { config, engineFor: () => ({ kind: "simulated", stepMs: 1 }) });
    const recovered: string[] = [];
    second.on("recovered", (event) => recovered.push(`${event.job.id}:${event.requeued}`));
    const started: string[] = [];
    second.on("started", (event) => started.push(`${event.jobId}:${event.attempt}`));
    assert.deepEqual(await second.recover(), { requeued: [running, waiting], failed: [] });
    assert.deepEqual(recovered, [`${running}:true`, `${waiting}:true`]);
    await Promise.all([done(second, running), done(second, waiting)]);
    assert.deepEqual(started, [`${running}:2`, `${waiting}:1`]);
    assert.equal((await second.recover()).requeued.length, 0, "nothing is recovered twice");
  });

  it(
    "stops without waiting for an engine that is still loading, leaving its job queued",
    embeddedOnly("a gateway loads its devices at start"),
    async (t) => {
      const dir = await tempDir(t);
      const queue = new EmbeddedJobQueue({
        config: testConfig(dir),
        engineFor: () => ({ kind: "simulated", stepMs: 1, loadMs: 5000 }),
        shutdownGraceMs: 100,
      });
      const started = nextEvent(queue, "started");
      const jobId = (await queue.submit(request("a"))).jobId;
      await started;
      const since = performance.now();
      await queue.stop();
      const stopMs = performance.now() - since;
      assert.ok(stopMs < 2000, `stop() took ${Math.round(stopMs)} ms; the load takes 5000`);
      const store = JobStore.open(join(dir, "jobs.sqlite"));
      t.after(() => store.close());
      assert.deepEqual([store.get(jobId)!.status, store.get(jobId)!.attempts], ["queued", 1]);
    },
  );

  it("lets jobs be cancelled while it stops and once it has stopped, so no start runs them", async (t) => {
    const dir = await tempDir(t);
    const config = testConfig(dir);
    const store = JobStore.open(join(dir, "jobs.sqlite"));
    t.after(() => store.close());
    const first = await openQueue(t, { config, store, engineFor: () => FAST_ENGINE });
    const cancelled: string[] = [];
    first.on("cancelled", (event) => cancelled.push(`${event.jobId}:${event.byUserId}`));
    const running = (await first.submit(request("a", { prompt: "[sim:step-ms=20]", steps: 25 }))).jobId;
    const waiting = (await first.submit(request("b"))).jobId;
    const kept = (await first.submit(request("c"))).jobId;
    await nextEvent(first, "progress", (event) => event.jobId === running);
    const stopping = first.stop();
    assert.equal(
      await first.cancel(running, "discord:a"),
      "stopping",
      "a cancel that crosses the stop's interruption",
    );
    await stopping;
    assert.equal(await first.position(waiting), undefined, "nothing waits in a stopped queue");
    assert.equal(await first.cancel(waiting, "discord:b"), "cancelled");
    assert.deepEqual(cancelled, [`${running}:discord:a`, `${waiting}:discord:b`]);
    assert.deepEqual(
      [running, waiting, kept].map((id) => store.get(id)!.status),
      ["cancelled", "cancelled", "queued"],
    );

    const second = await openQueue(t, { config, store, engineFor: () => FAST_ENGINE });
    assert.deepEqual(await second.recover(), { requeued: [kept], failed: [] });
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

    const queue = await openQueue(t, {
      config: testConfig(dir),
      engineFor: () => FAST_ENGINE,
      requeue: (job) => job.id !== "declined" && job.request.requester.platform !== "cli",
    });
    const events: JobQueueEvents["recovered"][] = [];
    queue.on("recovered", (event) => events.push(event));
    const report = await queue.recover();
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
    assert.equal((await queue.job("flaky"))!.error!.message, events[3]!.message);
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
    const queue = await openQueue(t, { config: testConfig(dir), engineFor: () => FAST_ENGINE });
    assert.deepEqual(await queue.recover(), { requeued: ["chat"], failed: ["cli"] });
    await done(queue, "chat");
  });
});
