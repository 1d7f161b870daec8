/** Nothing is lost when the process is killed mid-job: a real child process, SIGKILLed. */
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { access } from "node:fs/promises";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { JobStore } from "../../src/queue/store.js";
import { tempDir } from "./support.js";

const CHILD = fileURLToPath(new URL("./restart-child.ts", import.meta.url));

interface Line {
  event: string;
  jobId?: string;
  [key: string]: unknown;
}

/** A child bot; `lines` yields its events as they come, `exit` resolves with its exit code or signal. */
function startChild(dataDir: string, submissions: string[] = []) {
  const child: ChildProcess = spawn(process.execPath, ["--import", "tsx", CHILD, dataDir, ...submissions], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  const exit = new Promise<number | NodeJS.Signals | null>((resolve) =>
    child.on("exit", (code, signal) => resolve(signal ?? code)),
  );
  const lines = (async function* () {
    for await (const text of createInterface({ input: child.stdout! })) yield JSON.parse(text) as Line;
  })();
  return { child, lines, exit };
}

async function readUntil(lines: AsyncGenerator<Line>, stop: (line: Line) => boolean): Promise<Line[]> {
  const seen: Line[] = [];
  for await (const line of lines) {
    seen.push(line);
    if (stop(line)) return seen;
  }
  throw new Error(`the child ended before the expected line; it printed ${JSON.stringify(seen)}`);
}

describe("restart recovery", () => {
  it("re-runs the running and the waiting job after a SIGKILL mid-job, and both complete", async (t) => {
    const dir = await tempDir(t);

    const first = startChild(dir, ["alice:a lighthouse", "bob:a fox"]);
    const before = await readUntil(first.lines, (line) => line.event === "progress" && line.step === 3);
    const [running, waiting] = before.filter((line) => line.event === "submitted").map((line) => line.jobId!);
    first.child.kill("SIGKILL");
    assert.equal(await first.exit, "SIGKILL");

    const store = JobStore.open(join(dir, "jobs.sqlite"));
    assert.deepEqual(
      store.unfinished().map((job) => [job.id, job.status]),
      [
        [running, "running"],
        [waiting, "queued"],
      ],
    );
    store.close();

    const second = startChild(dir);
    const after = await readUntil(second.lines, (line) => line.event === "exit");
    assert.equal(await second.exit, 0);
    const events = after.map((line) => `${line.event}:${line.jobId ?? ""}`);
    assert.deepEqual(
      events.filter((event) => !event.startsWith("progress") && !event.startsWith("done")),
      [`recovered:${running}`, `recovered:${waiting}`, `started:${running}`, `started:${waiting}`, "exit:"],
    );
    for (const id of [running, waiting]) {
      assert.ok(
        events.indexOf(`done:${id}`) > events.indexOf(`started:${id}`),
        `${id} is done after it started`,
      );
      assert.ok(events.indexOf(`done:${id}`) < events.indexOf("exit:"));
    }
    assert.equal(after.find((line) => line.event === "started" && line.jobId === running)!.attempt, 2);

    const reopened = JobStore.open(join(dir, "jobs.sqlite"));
    t.after(() => reopened.close());
    for (const id of [running, waiting]) {
      const job = reopened.get(id)!;
      assert.equal(job.status, "done");
      assert.equal(job.images.length, 1);
      await access(job.images[0]!.path);
    }
    assert.deepEqual(reopened.unfinished(), []);
  });
});
