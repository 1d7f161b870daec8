/**
 * Which process submitted a job, and whether it is still alive: a queue's own jobs while it is open,
 * another live process's, a dead one's, and a pid reused by a later process.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { once } from "node:events";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, it } from "node:test";
import { EmbeddedJobQueue } from "../../src/queue/index.js";
import { JobStore } from "../../src/queue/store.js";
import {
  isSubmitterAlive,
  ownSubmitter,
  processStartIdentity,
  type Submitter,
} from "../../src/queue/submitter.js";
import { FAST_ENGINE, request, tempDir, testConfig } from "./support.js";

describe("job submitters", () => {
  it("counts this process's queue as alive until it is released", () => {
    const own = ownSubmitter("cli");
    assert.equal(own.submitter.pid, process.pid);
    assert.equal(isSubmitterAlive(own.submitter), true);
    own.release();
    assert.equal(isSubmitterAlive(own.submitter), false, "a stopped queue of this process is gone");
    assert.equal(isSubmitterAlive({ kind: "service" }), false, "a row without a pid is gone");
  });

  it("counts another process as alive while it runs, and as gone once it exits or its pid is reused", async () => {
    const child = spawn(process.execPath, ["-e", "setTimeout(() => {}, 60000)"], { stdio: "ignore" });
    await once(child, "spawn");
    const pid = child.pid!;
    const start = processStartIdentity(pid);
    assert.ok(start !== undefined && start !== "", "start identity read from /proc");
    const submitter: Submitter = { kind: "cli", pid, start, queue: "q" };
    assert.equal(isSubmitterAlive(submitter), true);
    assert.equal(isSubmitterAlive({ ...submitter, start: `${start}0` }), false, "same pid, another process");
    child.kill("SIGKILL");
    await once(child, "exit");
    assert.equal(isSubmitterAlive(submitter), false);
  });
});

describe("recover() and submitters", () => {
  const cliRequest = (user: string) => {
    const base = request(user);
    return {
      ...base,
      requester: { ...base.requester, platform: "cli" as const, userId: `cli:${user}` as const },
    };
  };

  it("a CLI queue fails a dead CLI run's job, leaves a live run's and the service's jobs alone", async (t) => {
    const dir = await tempDir(t);
    const store = JobStore.open(join(dir, "jobs.sqlite"));
    const live = ownSubmitter("cli"); // a concurrent `easel imagine` in this process
    t.after(live.release);
    const dead = ownSubmitter("cli");
    dead.release();
    const service = ownSubmitter("service");
    service.release();
    store.insert({ id: "live", request: cliRequest("a"), tier: 0, createdAt: 1, submitter: live.submitter });
    store.markRunning("live", "cpu", 2);
    store.insert({ id: "dead", request: cliRequest("b"), tier: 0, createdAt: 1, submitter: dead.submitter });
    store.markRunning("dead", "cpu", 2);
    store.insert({ id: "bot", request: request("c"), tier: 0, createdAt: 1, submitter: service.submitter });
    store.close();

    const cli = new EmbeddedJobQueue({
      config: testConfig(dir),
      engineFor: () => FAST_ENGINE,
      processKind: "cli",
    });
    const report = await cli.recover();
    await cli.stop();
    assert.deepEqual(report, { requeued: [], failed: ["dead"] });
    const after = JobStore.open(join(dir, "jobs.sqlite"));
    t.after(() => after.close());
    assert.deepEqual(
      ["live", "dead", "bot"].map((id) => after.get(id)!.status),
      ["running", "failed", "queued"],
    );
    assert.match(after.get("dead")!.error!.message, /easel imagine run that started this one ended/);
    assert.equal(after.get("dead")!.error!.code, "device_failure");
  });

  it("the service resumes its dead jobs but not a live service's, and records its own jobs as service jobs", async (t) => {
    const dir = await tempDir(t);
    const config = testConfig(dir);
    const running = new EmbeddedJobQueue({ config, engineFor: () => ({ kind: "simulated", stepMs: 50 }) });
    t.after(() => running.stop());
    const { jobId } = await running.submit(request("a", { steps: 40 }));
    const store = JobStore.open(join(dir, "jobs.sqlite"));
    t.after(() => store.close());
    assert.equal(store.get(jobId)!.submitter.kind, "service");
    assert.equal(store.get(jobId)!.submitter.pid, process.pid);

    const second = new EmbeddedJobQueue({ config, engineFor: () => FAST_ENGINE });
    assert.deepEqual(await second.recover(), { requeued: [], failed: [] }, "the live queue keeps its job");
    await second.stop();
    await running.cancel(jobId, "discord:a");
  });
});

describe("opening the job store", () => {
  it("names the data folder when a file is in its way, and tells chat users nothing of it", async (t) => {
    const dir = await tempDir(t);
    const blocker = join(dir, "data");
    await writeFile(blocker, "not a folder");
    assert.throws(
      () => JobStore.open(join(blocker, "jobs.sqlite")),
      (error: unknown) => {
        assert.ok(error instanceof Error && "userMessage" in error);
        assert.equal(
          error.message,
          `the data folder ${blocker} cannot be created: a file is in the way of a folder. Fix it, or point EASEL_DATA_DIR at another folder.`,
        );
        assert.equal((error as { code?: string }).code, "config");
        assert.ok(!String(error.userMessage).includes(dir), "no path for chat users");
        return true;
      },
    );
  });

  it("names a corrupt store file, and tells chat users nothing of it", async (t) => {
    const dir = await tempDir(t);
    const file = join(dir, "jobs.sqlite");
    await writeFile(file, "this is not SQLite, just text long enough to be read as a header page".repeat(20));
    assert.throws(
      () => JobStore.open(file),
      (error: unknown) => {
        assert.ok(error instanceof Error && "userMessage" in error);
        assert.match(
          error.message,
          new RegExp(`^the job store ${file} is not a readable SQLite database \\(SQLITE_NOTADB`),
        );
        assert.match(error.message, /move it aside to start an empty store/);
        assert.ok(!String(error.userMessage).includes(dir));
        return true;
      },
    );
  });
});
