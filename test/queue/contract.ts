/**
 * The JobQueue contract, written against the interface only, so that every backend runs the same
 * suite: the embedded queue here (contract-embedded.test.ts), the Redis/BullMQ backend later.
 * A backend provides a harness that opens queues on one data set with the simulated engine.
 */
import assert from "node:assert/strict";
import { describe, it, type TestContext } from "node:test";
import { EaselError, type ErrorCode } from "../../src/errors.js";
import type { JobQueue, JobQueueEventName, JobQueueOptions } from "../../src/queue/index.js";
import type { GenerationRequest, UserId } from "../../src/requests/request.js";
import { capturingLogger, request } from "./support.js";

export interface ContractSettings {
  devices?: string[];
  maxJobsPerUser?: number;
  maxJobsTotal?: number;
  /** Simulated time per denoising step. */
  stepMs?: number;
}

/** What a test may give one queue of a harness besides the harness's settings. */
export type OpenOptions = Pick<JobQueueOptions, "logger" | "processKind">;

export interface ContractHarness {
  /** A queue on the harness's data; calling it again after stop() is a restart. Not yet started. */
  open(options?: OpenOptions): JobQueue;
}

/** Makes a harness on fresh data, cleaned up when the test ends (queues it opened stopped). */
export type MakeHarness = (t: TestContext, settings: ContractSettings) => Promise<ContractHarness>;

/** A bound on every wait, so a broken backend fails instead of hanging the run. */
const BOUND_MS = 20_000;

function bounded<T>(promise: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: nothing within ${BOUND_MS} ms`)), BOUND_MS);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

const hasCode = (code: ErrorCode) => (error: unknown) => error instanceof EaselError && error.code === code;

/** A job that runs long enough to be caught running. */
const slow = (user: string, overrides: Partial<GenerationRequest> = {}) =>
  request(user, { prompt: "[sim:step-ms=40] slow", steps: 40, ...overrides });

function firstEvent(queue: JobQueue, name: JobQueueEventName, jobId?: string): Promise<void> {
  return bounded(
    new Promise<void>((resolve) => {
      const off = queue.on(name, (event) => {
        if (jobId !== undefined && "jobId" in event && event.jobId !== jobId) return;
        off();
        resolve();
      });
    }),
    `${name} event`,
  );
}

async function started(t: TestContext, harness: ContractHarness, options?: OpenOptions): Promise<JobQueue> {
  const queue = harness.open(options);
  t.after(() => queue.stop());
  await bounded(queue.start(), "start");
  return queue;
}

export function describeJobQueueContract(name: string, makeHarness: MakeHarness): void {
  describe(`JobQueue contract: ${name}`, () => {
    it("runs a job: started, progress, done in order; wait() gives the record; images by id", async (t) => {
      const queue = await started(t, await makeHarness(t, {}));
      const events: string[] = [];
      for (const event of ["queued", "started", "progress", "done", "failed", "cancelled"] as const) {
        queue.on(event, () => events.push(event));
      }
      const { jobId, position } = await queue.submit(request("a", { count: 2, seed: "41", steps: 3 }));
      assert.equal(position, 0, "a free device takes it at once");
      const record = await bounded(queue.wait(jobId), "wait");
      assert.equal(record.status, "done");
      assert.equal(record.userId, "discord:a");
      assert.deepEqual(record.seeds, ["41", "42"]);
      assert.ok(record.finishedAt !== undefined && record.startedAt !== undefined);
      assert.deepEqual(
        record.images.map((image) => [image.id, image.index, image.seed, image.deleted]),
        [
          [`${jobId}-0`, 0, "41", false],
          [`${jobId}-1`, 1, "42", false],
        ],
      );
      const bytes = await queue.images.get(record.images[1]!.id);
      assert.ok(bytes && bytes.mime === "image/png" && bytes.data.length > 8);
      assert.deepEqual([...bytes.data.subarray(1, 4)], [0x50, 0x4e, 0x47]);
      assert.equal(await queue.images.get(`${jobId}-7`), undefined);
      assert.equal(events[0], "started");
      assert.equal(events.at(-1), "done");
      assert.deepEqual(events.slice(1, -1), ["progress", "progress", "progress"]);
      assert.deepEqual(await queue.job(jobId), record);
      assert.deepEqual(
        await bounded(queue.wait(jobId), "wait on a finished job"),
        record,
        "at once when done",
      );
    });

    it("gives places in line, and none to a running or unknown job", async (t) => {
      const queue = await started(t, await makeHarness(t, {}));
      const running = await queue.submit(slow("a"));
      const second = await queue.submit(request("b"));
      const third = await queue.submit(request("c"));
      assert.deepEqual([running.position, second.position, third.position], [0, 1, 2]);
      await firstEvent(queue, "progress", running.jobId);
      assert.equal(await queue.position(running.jobId), undefined);
      assert.equal(await queue.position(third.jobId), 2);
      assert.equal(await queue.position("no-such-job"), undefined);
      await queue.cancel(running.jobId, "discord:a");
      assert.equal((await bounded(queue.wait(third.jobId), "wait")).status, "done");
    });

    it("cancels a waiting job at once and a running one after the device lets go", async (t) => {
      const queue = await started(t, await makeHarness(t, {}));
      const running = await queue.submit(slow("a"));
      const waiting = await queue.submit(request("b"));
      await firstEvent(queue, "progress", running.jobId);
      const cancelledEvent = firstEvent(queue, "cancelled", running.jobId);
      assert.equal(await queue.cancel(waiting.jobId, "discord:b"), "cancelled");
      assert.equal(await queue.cancel(running.jobId, "discord:a"), "stopping");
      await cancelledEvent;
      const [ran, waited] = await Promise.all([queue.wait(running.jobId), queue.wait(waiting.jobId)]);
      assert.deepEqual([ran.status, ran.cancelledBy], ["cancelled", "discord:a"]);
      assert.deepEqual([waited.status, waited.cancelledBy], ["cancelled", "discord:b"]);
      await assert.rejects(queue.cancel(waiting.jobId, "discord:b"), hasCode("not_found"));
    });

    it("lets only the author cancel, unless told anyone may", async (t) => {
      const queue = await started(t, await makeHarness(t, {}));
      const running = await queue.submit(slow("a"));
      const waiting = await queue.submit(request("b"));
      await assert.rejects(queue.cancel(waiting.jobId, "discord:mallory"), hasCode("forbidden"));
      await assert.rejects(
        queue.cancel(waiting.jobId, "slack:T1:b"),
        hasCode("forbidden"),
        "another platform's b",
      );
      await assert.rejects(queue.cancel("no-such-job", "discord:b"), hasCode("not_found"));
      assert.equal(await queue.cancel(waiting.jobId, "discord:mod", { anyone: true }), "cancelled");
      await queue.cancel(running.jobId, "discord:a");
    });

    it("refuses past the per-user and overall limits, storing nothing", async (t) => {
      const queue = await started(t, await makeHarness(t, { maxJobsPerUser: 2, maxJobsTotal: 3 }));
      const first = await queue.submit(slow("a"));
      await queue.submit(request("a"));
      await assert.rejects(queue.submit(request("a")), hasCode("queue_full"));
      await queue.submit(request("web:a"));
      await assert.rejects(queue.submit(request("c")), hasCode("queue_full"));
      assert.deepEqual(await queue.history("discord:c"), []);
      assert.equal((await queue.history("discord:a")).length, 2);
      await queue.cancel(first.jobId, "discord:a");
      await bounded(queue.wait(first.jobId), "wait");
      assert.ok((await queue.submit(request("a"))).jobId, "a finished job frees a place");
    });

    it("refuses bad requests with invalid_input, storing nothing", async (t) => {
      const queue = await started(t, await makeHarness(t, {}));
      await assert.rejects(queue.submit(request("a", { steps: 0 })), hasCode("invalid_input"));
      await assert.rejects(queue.submit(request("a", { seed: "0x10" })), hasCode("invalid_input"));
      assert.deepEqual(await queue.history("discord:a"), []);
    });

    it("answers 'stopping', not queue_full, once it stops", async (t) => {
      const queue = await started(t, await makeHarness(t, {}));
      await queue.stop();
      await assert.rejects(queue.submit(request("a")), hasCode("stopping"));
    });

    it("keeps each platform's users apart in history, newest first", async (t) => {
      const queue = await started(t, await makeHarness(t, {}));
      const ids: string[] = [];
      for (const user of ["a", "web:a", "a", "slack:T1:a"])
        ids.push((await queue.submit(request(user))).jobId);
      const history = await queue.history("discord:a");
      assert.deepEqual(
        history.map((job) => job.id),
        [ids[2], ids[0]],
      );
      assert.deepEqual(
        (await queue.history("discord:a", 1)).map((job) => job.id),
        [ids[2]],
      );
      const web = await queue.history("web:a" as UserId);
      assert.deepEqual(
        web.map((job) => [job.id, job.userId, job.request.requester.platform]),
        [[ids[1], "web:a", "discord"]],
      );
      await Promise.all(ids.map((id) => bounded(queue.wait(id), "wait")));
    });

    it("records where a job was posted; unknown jobs are not_found", async (t) => {
      const queue = await started(t, await makeHarness(t, {}));
      const { jobId } = await queue.submit(request("a"));
      await bounded(queue.wait(jobId), "wait");
      await queue.markPosted(jobId, "discord:c1/m1");
      assert.equal((await queue.job(jobId))!.postedTo, "discord:c1/m1");
      await assert.rejects(queue.markPosted("no-such-job", "x"), hasCode("not_found"));
      await assert.rejects(queue.wait("no-such-job"), hasCode("not_found"));
    });

    it("refines an uploaded picture kept by the image store", async (t) => {
      const queue = await started(t, await makeHarness(t, {}));
      const first = await queue.submit(request("a"));
      const record = await bounded(queue.wait(first.jobId), "wait");
      const picture = (await queue.images.get(record.images[0]!.id))!;
      const uploadId = await queue.images.putUpload(picture);
      const source = { uploadId, strength: 0.6, upscale: 1 as const };
      const refined = await queue.submit(request("a", { source }));
      assert.equal((await bounded(queue.wait(refined.jobId), "wait")).status, "done");
      await assert.rejects(
        queue.submit(request("a", { source: { ...source, uploadId: "upload-0000000000000000" } })),
        hasCode("not_found"),
      );
    });

    it("puts back a job interrupted by a stop, and runs it after the next start", async (t) => {
      const harness = await makeHarness(t, {});
      const first = await started(t, harness);
      const running = await first.submit(slow("a", { steps: 20, prompt: "[sim:step-ms=20] slow" }));
      const waiting = await first.submit(request("b"));
      await firstEvent(first, "progress", running.jobId);
      const interrupted = first.wait(running.jobId).catch((error: unknown) => error);
      await first.stop();
      assert.ok(hasCode("stopping")(await interrupted), "a wait ends with 'stopping' when the queue stops");

      const second = harness.open();
      t.after(() => second.stop());
      const recovered: string[] = [];
      second.on("recovered", (event) => recovered.push(`${event.job.id}:${event.requeued}`));
      await bounded(second.start(), "start");
      const report = await second.recover();
      assert.deepEqual(report, { requeued: [running.jobId, waiting.jobId], failed: [] });
      assert.deepEqual(recovered, [`${running.jobId}:true`, `${waiting.jobId}:true`]);
      const records = await Promise.all([second.wait(running.jobId), second.wait(waiting.jobId)]);
      assert.deepEqual(
        records.map((record) => [record.status, record.attempts]),
        [
          ["done", 2],
          ["done", 1],
        ],
      );
      assert.deepEqual(await second.recover(), { requeued: [], failed: [] }, "nothing twice");
    });

    it("ends a wait through its signal without touching the job", async (t) => {
      const queue = await started(t, await makeHarness(t, {}));
      const { jobId } = await queue.submit(slow("a"));
      const controller = new AbortController();
      const waiting = queue.wait(jobId, controller.signal);
      controller.abort(new Error("gave up"));
      await assert.rejects(waiting, /gave up/);
      assert.notEqual((await queue.job(jobId))!.status, "cancelled");
      await queue.cancel(jobId, "discord:a");
    });

    it("logs each job's life in the same lines: submitted, started, done in N ms, failed with code and detail, cancelled", async (t) => {
      // Info and up: what an operator's default log shows (a worker's own debug lines aside).
      const { logger, lines } = capturingLogger("info");
      const queue = await started(t, await makeHarness(t, {}), { logger });
      const ok = await queue.submit(request("a"));
      await bounded(queue.wait(ok.jobId), "wait");
      const bad = await queue.submit(request("b", { prompt: "[sim:fail] boom" }));
      await bounded(queue.wait(bad.jobId), "wait");
      const running = await queue.submit(slow("c"));
      const waiting = await queue.submit(request("d"));
      await firstEvent(queue, "progress", running.jobId);
      await queue.cancel(waiting.jobId, "discord:d");
      await queue.cancel(running.jobId, "discord:c");
      await bounded(queue.wait(running.jobId), "wait");
      const of = (jobId: string) =>
        lines
          .filter((line) => line.jobId === jobId)
          .map((line) => String(line.msg).replace(/\d+ ms$/, "N ms"));
      assert.deepEqual(of(ok.jobId), ["job submitted", "job started", "job done in N ms"]);
      assert.deepEqual(of(bad.jobId), ["job submitted", "job started", "job failed: device_failure"]);
      const failed = lines.find(
        (line) => line.jobId === bad.jobId && line.msg === "job failed: device_failure",
      )!;
      assert.match(String(failed.detail), /boom|simulated/i, "the failure's detail, for the operator");
      assert.deepEqual(of(waiting.jobId), ["job submitted", "job cancelled"]);
      assert.deepEqual(of(running.jobId), ["job submitted", "job started", "job cancelled"]);
      const done = lines.find((line) => line.jobId === ok.jobId && String(line.msg).startsWith("job done"))!;
      assert.equal(typeof done.durationMs, "number");
      const start = lines.find((line) => line.jobId === ok.jobId && line.msg === "job started")!;
      assert.equal(typeof start.device, "string");
    });

    it("leaves the service's interrupted jobs to the service when a command-line queue recovers", async (t) => {
      const harness = await makeHarness(t, {});
      const service = await started(t, harness);
      const job = await service.submit(slow("a", { steps: 20, prompt: "[sim:step-ms=20] slow" }));
      await firstEvent(service, "progress", job.jobId);
      await service.stop();

      const cli = await started(t, harness, { processKind: "cli" });
      assert.deepEqual(await cli.recover(), { requeued: [], failed: [] }, "not the CLI's to adopt");
      assert.ok(["queued", "running"].includes((await cli.job(job.jobId))!.status));
      await cli.stop();

      const next = await started(t, harness);
      assert.deepEqual(await next.recover(), { requeued: [job.jobId], failed: [] });
      assert.equal((await bounded(next.wait(job.jobId), "wait")).status, "done");
    });
  });
}
