/** What a failing, crashing, hanging or unloadable device does to its job and to the next one. */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { JobQueueEvents, JobRecord } from "../../src/queue/index.js";
import { JobStore } from "../../src/queue/store.js";
import {
  assertThreadsStarted,
  embeddedOnly,
  FAST_ENGINE,
  nextEvent,
  request,
  settled,
  simulatedQueue,
} from "./support.js";

/** The job's failure: its event, or what its record says when it had already ended. */
async function failure(
  queue: Parameters<typeof settled>[0],
  jobId: string,
): Promise<Pick<JobQueueEvents["failed"], "code" | "message" | "detail">> {
  const { kind, event } = await settled(queue, jobId);
  assert.equal(kind, "failed");
  if ("code" in (event as object)) return event as JobQueueEvents["failed"];
  const { error } = event as JobRecord;
  return { code: error!.code, message: error!.message };
}

describe("a failed run fails its job, and the device runs the next one", () => {
  const cases = [
    { directive: "[sim:fail]", message: /ran into an error/ },
    { directive: "[sim:oom]", message: /ran out of memory/ },
    { directive: "[sim:crash]", message: /stopped unexpectedly/ },
    { directive: "[sim:exit]", message: /stopped unexpectedly/ },
  ];
  for (const { directive, message } of cases) {
    it(`${directive}`, async (t) => {
      const { queue } = await simulatedQueue(t);
      const bad = (await queue.submit(request("a", { prompt: `${directive} boom` }))).jobId;
      const next = (await queue.submit(request("b"))).jobId;
      const failed = await failure(queue, bad);
      assert.equal(failed.code, "device_failure");
      assert.match(failed.message, message);
      assert.equal((await settled(queue, next)).kind, "done");
      assert.deepEqual((await queue.job(bad))!.error, { code: "device_failure", message: failed.message });
      assert.equal((await queue.job(next))!.status, "done");
      await assertThreadsStarted(queue, 2, "a fresh worker (and engine) ran the next job");
    });
  }

  it("keeps the worker when the pipeline refuses a run on purpose (a VAE overflow with no fallback)", async (t) => {
    const { queue } = await simulatedQueue(t);
    const bad = (await queue.submit(request("a", { prompt: "[sim:vae-overflow] boom" }))).jobId;
    const next = (await queue.submit(request("b"))).jobId;
    const failed = await failure(queue, bad);
    assert.equal(failed.code, "device_failure");
    assert.match(failed.message, /overflowed/);
    assert.equal((await settled(queue, next)).kind, "done");
    await assertThreadsStarted(queue, 1, "no new worker, no engine reload");
  });

  it("fails a job that runs past the timeout, terminating its worker", async (t) => {
    const { queue } = await simulatedQueue(t, { jobTimeoutMs: 400 });
    const hung = (await queue.submit(request("a", { prompt: "[sim:hang]" }))).jobId;
    const next = (await queue.submit(request("b"))).jobId;
    const failed = await failure(queue, hung);
    assert.equal(failed.code, "timeout");
    assert.match(failed.message, /took longer than 1 second/);
    assert.equal((await settled(queue, next)).kind, "done");
    assert.equal((await queue.job(hung))!.status, "failed");
    await assertThreadsStarted(queue, 2);
  });

  it("cancels a job whose engine does not notice in time by terminating its worker", async (t) => {
    const { queue } = await simulatedQueue(t, {}, FAST_ENGINE, { cancelGraceMs: 200 });
    const hung = (await queue.submit(request("a", { prompt: "[sim:hang]", steps: 4 }))).jobId;
    const next = (await queue.submit(request("b"))).jobId;
    await nextEvent(queue, "progress", (event) => event.jobId === hung && event.step === 2);
    // The hang starts right after step 2; a cancel sent at once could still be noticed before it.
    await new Promise((resolve) => setTimeout(resolve, 150));
    assert.equal(await queue.cancel(hung, "discord:a"), "stopping");
    assert.equal((await settled(queue, hung)).kind, "cancelled");
    assert.equal((await settled(queue, next)).kind, "done");
    await assertThreadsStarted(queue, 2);
  });

  it(
    "fails jobs on a device whose engine cannot load, says why in the details, and tries again for each job",
    embeddedOnly("a gateway with a device that cannot load does not start"),
    async (t) => {
      const { queue } = await simulatedQueue(
        t,
        {},
        { kind: "simulated", stepMs: 1, loadError: "model.onnx is missing" },
      );
      await assert.rejects(queue.start(), /ran into an error/);
      const status = await queue.status();
      assert.deepEqual(
        status.devices.map((device) => device.ready),
        [false],
      );
      assert.ok(
        status.problems.some(
          (problem) => problem.component === "devices" && /^cpu cannot load its model/.test(problem.message),
        ),
        JSON.stringify(status.problems),
      );
      const first = (await queue.submit(request("a"))).jobId;
      const second = (await queue.submit(request("b"))).jobId;
      const failed = await failure(queue, first);
      assert.match(failed.message, /ran into an error/);
      assert.match(failed.detail ?? "", /model.onnx is missing/, "the cause, for the operator's logs");
      assert.match((await failure(queue, second)).message, /ran into an error/);
      await assertThreadsStarted(queue, 3, "start-up, then one load per job");
    },
  );

  it("keeps the other devices working while one fails", async (t) => {
    const { queue } = await simulatedQueue(t, { devices: ["cuda:0", "cuda:1"] });
    await queue.start();
    const submitted = await Promise.all(
      ["[sim:crash]", "ok", "ok", "[sim:fail]", "ok", "ok"].map((prompt, i) =>
        queue.submit(request(`u${i}`, { prompt })),
      ),
    );
    const ids = submitted.map((s) => s.jobId);
    const kinds = (await Promise.all(ids.map((id) => settled(queue, id)))).map((end) => end.kind);
    assert.deepEqual(kinds, ["failed", "done", "done", "failed", "done", "done"]);
  });
});

describe("a store that cannot record how a job ended", () => {
  const locked = () => {
    throw Object.assign(new Error("database is locked"), { code: "SQLITE_BUSY" });
  };

  async function queueOnStore(t: Parameters<typeof simulatedQueue>[0], store: JobStore) {
    const internal: string[] = [];
    const { queue } = await simulatedQueue(t, { maxJobsPerUser: 1 }, FAST_ENGINE, {
      store,
      onInternalError: (error, where) => internal.push(`${where}: ${(error as Error).message}`),
    });
    t.after(() => store.close());
    return { queue, internal };
  }

  it("still fails the job for the adapters, reports the writes, and frees the job's place", async (t) => {
    const store = JobStore.open(":memory:");
    store.markDone = locked;
    store.markFailed = locked;
    const { queue, internal } = await queueOnStore(t, store);
    const first = (await queue.submit(request("a"))).jobId;
    const failed = await failure(queue, first);
    assert.equal(failed.code, "storage", "a store that cannot write is no device failure");
    assert.doesNotMatch(failed.message, /jobs\.sqlite|:memory:|\//, "no path for the user");
    assert.match(failed.detail ?? "", /database is locked/);
    assert.deepEqual(internal, ["store:failed: database is locked"]);
    assert.equal(
      (await queue.job(first))!.status,
      "running",
      "left unfinished, for the next start's recover()",
    );
    const second = (await queue.submit(request("a"))).jobId; // the user's one place is free again
    await failure(queue, second);
    const status = await queue.status();
    assert.deepEqual(
      [status.waiting, status.running, status.devices.map((device) => [device.jobId, device.ready])],
      [0, 0, [[undefined, true]]],
    );
    assert.deepEqual(
      status.problems.map((problem) => problem.component),
      ["store"],
    );
    await assertThreadsStarted(queue, 1);
  });

  it("fails a job whose start cannot be recorded, and runs the next one", async (t) => {
    const store = JobStore.open(":memory:");
    const markRunning = store.markRunning.bind(store);
    let refusals = 1;
    store.markRunning = (...args: Parameters<JobStore["markRunning"]>) =>
      refusals-- > 0 ? locked() : markRunning(...args);
    const { queue, internal } = await queueOnStore(t, store);
    const failedEvent = nextEvent(queue, "failed");
    const first = (await queue.submit(request("a"))).jobId;
    const failed = await failedEvent;
    assert.equal(failed.jobId, first);
    assert.match(failed.detail ?? "", /database is locked/);
    assert.equal((await queue.job(first))!.status, "failed");
    assert.deepEqual(internal, []);
    assert.equal((await settled(queue, (await queue.submit(request("a"))).jobId)).kind, "done");
  });
});
