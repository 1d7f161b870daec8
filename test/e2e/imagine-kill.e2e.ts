/**
 * `easel imagine` killed (SIGKILL) or stopped (SIGTERM) mid-job as a real process, then run again;
 * a concurrent run meanwhile. Slow (several CLI processes with the fixture model), so end to end.
 */
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { describe, it, type TestContext } from "node:test";
import { fileURLToPath } from "node:url";
import Database from "better-sqlite3";
import { JobStore } from "../../src/queue/store.js";
import { runCli } from "../helpers/cli.js";
import { fixtureModels } from "../helpers/fixtures.js";
import { tempDir } from "../queue/support.js";

const ENTRY = fileURLToPath(new URL("../helpers/cli-entry.ts", import.meta.url));

/** An `easel imagine` child process whose stderr is collected. */
function startImagine(args: string[], env: Record<string, string>) {
  const child: ChildProcess = spawn(process.execPath, ["--import", "tsx", ENTRY, "imagine", ...args], {
    env: { ...process.env, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stderr = "";
  child.stderr!.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
  child.stdout!.resume();
  const exit = new Promise<number | NodeJS.Signals | null>((resolve) =>
    child.on("exit", (code, signal) => resolve(signal ?? code)),
  );
  return { child, exit, stderr: () => stderr };
}

/** Waits until the store in `data` holds a running job, and returns its id. */
async function runningJob(data: string, exit: Promise<unknown>): Promise<string> {
  let ended = false;
  void exit.then(() => (ended = true));
  const file = join(data, "jobs.sqlite");
  for (let tries = 0; tries < 1200 && !ended; tries++) {
    if (existsSync(file)) {
      const db = new Database(file, { readonly: true, fileMustExist: true });
      try {
        const row = db.prepare<[], { id: string }>("SELECT id FROM jobs WHERE status = 'running'").get();
        if (row) return row.id;
      } catch {
        // the schema is being created
      } finally {
        db.close();
      }
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error("no job started running");
}

function jobsIn(t: TestContext, data: string) {
  const store = JobStore.open(join(data, "jobs.sqlite"));
  t.after(() => store.close());
  return store;
}

/** A job long enough to be caught running (the fixture model runs a step in a fraction of a second). */
const LONG = ["a lighthouse --steps 150 --seed 3"];

describe("easel imagine killed or stopped mid-job", () => {
  it("SIGKILL: a concurrent run leaves the live run's job alone; after the kill, the next run fails it with a message", async (t) => {
    const dir = await tempDir(t);
    const { base } = await fixtureModels();
    const data = join(dir, "data");
    const env = { EASEL_DATA_DIR: data, EASEL_DEVICES: "cpu" };
    const first = startImagine([...LONG, "--model", base, "--out", join(dir, "out")], env);
    t.after(() => first.child.kill("SIGKILL"));
    const killed = await runningJob(data, first.exit);
    // Paused, it is alive with its job running for as long as the concurrent run takes.
    first.child.kill("SIGSTOP");

    // A second run while the first is alive leaves the first one's job alone. Unquoted text works.
    const second = await runCli(
      ["imagine", "a", "fox", "--ar", "16:9", "--steps", "1", "--model", base, "--out", join(dir, "out")],
      { env },
    );
    assert.equal(second.code, 0, second.stderr);
    assert.match(second.stdout, /^a fox\nseed \d+ · 1344x768 · 1 step/);
    assert.doesNotMatch(second.stderr, /marked failed/);
    {
      const store = jobsIn(t, data);
      assert.equal(store.get(killed)!.status, "running", "a live run's job is not failed");
      store.close();
    }

    first.child.kill("SIGKILL");
    assert.equal(await first.exit, "SIGKILL");
    const third = await runCli(["imagine", "a cat --steps 1", "--model", base, "--out", join(dir, "out")], {
      env,
    });
    assert.equal(third.code, 0, third.stderr);
    assert.match(
      third.stderr,
      new RegExp(`job ${killed} of an easel imagine run that ended early is marked failed`),
    );
    const store = jobsIn(t, data);
    const job = store.get(killed)!;
    assert.equal(job.status, "failed");
    assert.match(job.error!.message, /easel imagine run that started this one ended before it finished/);
    assert.deepEqual(store.unfinished(), [], "nothing is left running or queued");
  });

  it("SIGTERM: the job is cancelled and recorded so, and the next run has nothing to clean up", async (t) => {
    const dir = await tempDir(t);
    const { base } = await fixtureModels();
    const data = join(dir, "data");
    const env = { EASEL_DATA_DIR: data, EASEL_DEVICES: "cpu" };
    const run = startImagine([...LONG, "--model", base, "--out", join(dir, "out")], env);
    t.after(() => run.child.kill("SIGKILL"));
    const jobId = await runningJob(data, run.exit);
    run.child.kill("SIGTERM");
    assert.equal(await run.exit, 2);
    assert.equal(run.stderr().trim().split("\n").at(-1), "error: Cancelled.");
    const store = jobsIn(t, data);
    assert.equal(store.get(jobId)!.status, "cancelled");
    assert.deepEqual(store.unfinished(), []);
  });
});
