/**
 * When the data dir cannot be written: a cancel is answered only once the store holds it; a result
 * that cannot be stored fails with code "storage" (not a device failure) and an operator line that
 * names the path; a damaged store is refused at open. Real failures, not mocks: another connection
 * holding SQLite's write lock (SQLITE_BUSY after the store's busy timeout), a folder in the place of
 * an image file, a store file with damaged pages.
 */
import assert from "node:assert/strict";
import { mkdir, open as openFile, stat } from "node:fs/promises";
import { join } from "node:path";
import { describe, it } from "node:test";
import Database from "better-sqlite3";
import { EaselError } from "../../src/errors.js";
import { JobStore, JobStoreOpenError } from "../../src/queue/store.js";
import { capturingLogger, nextEvent, request, settled, simulatedQueue, tempDir } from "./support.js";

/** Another process's view of the store taking SQLite's write lock: the queue's writes fail with SQLITE_BUSY. */
function holdWriteLock(file: string): { release: () => void } {
  const other = new Database(file);
  other.exec("BEGIN EXCLUSIVE");
  return {
    release: () => {
      if (other.inTransaction) other.exec("ROLLBACK");
      other.close();
    },
  };
}

const isStorage = (error: unknown) => {
  assert.ok(error instanceof EaselError, String(error));
  assert.equal(error.code, "storage");
  assert.doesNotMatch(error.userMessage, /\/|sqlite/i, "no path in the user's message");
  return true;
};

describe("a cancel that holds", () => {
  it("refuses to cancel while the store cannot record it; memory and store keep the job; later it works", async (t) => {
    const { queue, dir } = await simulatedQueue(t);
    const running = (await queue.submit(request("a", { prompt: "[sim:step-ms=300] slow", steps: 150 })))
      .jobId;
    const waiting = (await queue.submit(request("b"))).jobId;
    await nextEvent(queue, "progress", (event) => event.jobId === running);
    const cancelled: string[] = [];
    queue.on("cancelled", (event) => cancelled.push(event.jobId));

    const lock = holdWriteLock(join(dir, "jobs.sqlite"));
    await assert.rejects(queue.cancel(waiting, "discord:b"), isStorage);
    await assert.rejects(queue.cancel(running, "discord:a"), isStorage);
    lock.release();

    assert.deepEqual(cancelled, [], "nothing was announced");
    assert.equal(await queue.position(waiting), 1, "still in line");
    assert.equal((await queue.job(waiting))!.status, "queued");
    assert.equal((await queue.job(running))!.status, "running");
    assert.equal((await queue.job(running))!.cancelledBy, undefined);
    const status = await queue.status();
    assert.deepEqual([status.waiting, status.running], [1, 1]);

    assert.equal(await queue.cancel(waiting, "discord:b"), "cancelled");
    assert.equal(await queue.cancel(running, "discord:a"), "stopping");
    assert.equal((await settled(queue, running)).kind, "cancelled");
    assert.deepEqual(
      [(await queue.job(waiting))!.status, (await queue.job(running))!.status],
      ["cancelled", "cancelled"],
    );
  });

  it("keeps a recorded cancel of a running job across a crash: the next start does not run it again", async (t) => {
    const dir = await tempDir(t);
    const file = join(dir, "jobs.sqlite");
    const store = JobStore.open(file);
    t.after(() => store.close());
    const job = store.insert({
      id: "0123456789abcdef",
      request: request("a"),
      tier: 0,
      createdAt: 1,
      submitter: { kind: "service", pid: 2 ** 22 + 1, start: "gone" },
    });
    store.markRunning(job.id, "cpu", 2);
    store.requestCancel(job.id, "discord:a");
    const { queue } = await simulatedQueue(t, {}, undefined, { store });
    const events: string[] = [];
    queue.on("cancelled", (event) => events.push(`cancelled:${event.jobId}:${event.byUserId}`));
    queue.on("recovered", (event) => events.push(`recovered:${event.job.id}`));
    assert.deepEqual(await queue.recover(), { requeued: [], failed: [] });
    assert.deepEqual(events, [`cancelled:${job.id}:discord:a`]);
    assert.equal((await queue.job(job.id))!.status, "cancelled");
  });
});

describe("storage failures", () => {
  it("fail a job whose images cannot be written with code storage, and log the path for the operator", async (t) => {
    const { logger, lines } = capturingLogger();
    const { queue, dir } = await simulatedQueue(t, {}, undefined, { logger });
    const started = nextEvent(queue, "started");
    const { jobId } = await queue.submit(request("a", { prompt: "[sim:step-ms=20] x", steps: 5 }));
    await started;
    // A folder where the image file goes: the rename onto it fails, as a full or read-only disk would.
    const blocked = join(dir, "images", `${jobId}-0.png`);
    await mkdir(blocked);
    const failed = await nextEvent(queue, "failed", (event) => event.jobId === jobId);
    assert.equal(failed.code, "storage");
    assert.doesNotMatch(failed.message, /\//, "no path for the user");
    assert.match(failed.detail ?? "", new RegExp(blocked.replaceAll("/", "\\/")));
    assert.deepEqual((await queue.job(jobId))!.error?.code, "storage");
    const operator = lines.find((line) => line.msg === `storage failure: cannot write ${blocked}`);
    assert.ok(operator, "an operator line names the path");
    assert.equal(operator.path, blocked);
    assert.ok(
      lines.some((line) => line.msg === "job failed: storage" && line.jobId === jobId),
      "the lifecycle line carries the code",
    );
    assert.equal((await settled(queue, (await queue.submit(request("b"))).jobId)).kind, "done");
  });

  it("refuse a submit the store cannot record with code storage, and report the store in status()", async (t) => {
    const { queue, dir } = await simulatedQueue(t);
    await queue.start();
    assert.deepEqual((await queue.status()).problems, []);
    const lock = holdWriteLock(join(dir, "jobs.sqlite"));
    t.after(() => lock.release());
    await assert.rejects(queue.submit(request("a")), isStorage);
    const problems = (await queue.status()).problems;
    assert.deepEqual(
      problems.map((problem) => problem.component),
      ["store"],
    );
    lock.release();
    assert.equal((await settled(queue, (await queue.submit(request("a"))).jobId)).kind, "done");
    assert.deepEqual((await queue.status()).problems, [], "healthy again once a write succeeds");
  });
});

describe("a damaged job store", () => {
  it("is refused at open with a JobStoreOpenError naming the path", async (t) => {
    const dir = await tempDir(t);
    const file = join(dir, "jobs.sqlite");
    const store = JobStore.open(file);
    for (let i = 0; i < 200; i++) {
      store.insert({ id: String(i).padStart(16, "0"), request: request("a"), tier: 0, createdAt: i });
    }
    store.close();
    // Scribble over the rows' pages, past the schema's first pages (tables' roots, schema_version):
    // the file still opens as SQLite and reads its version, as a damaged disk block leaves it.
    const { size } = await stat(file);
    const from = 16 * 4096;
    assert.ok(size > from + 4096, `the rows span pages past the schema's (${size} bytes)`);
    const handle = await openFile(file, "r+");
    await handle.write(Buffer.alloc(size - from, 0x5a), 0, size - from, from);
    await handle.close();
    assert.throws(
      () => JobStore.open(file),
      (error: unknown) => {
        assert.ok(error instanceof JobStoreOpenError, String(error));
        assert.ok(error.message.includes(file), error.message);
        assert.doesNotMatch(error.userMessage, /\//);
        return true;
      },
    );
  });
});
