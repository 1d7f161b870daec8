/** One service per data dir: a second start is refused while the first lives; its lock dies with it. */
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { createInterface } from "node:readline";
import { describe, it, type TestContext } from "node:test";
import { fileURLToPath } from "node:url";
import { ConfigError } from "../../src/errors.js";
import { EmbeddedJobQueue } from "../../src/queue/index.js";
import { runCli } from "../helpers/cli.js";
import { FAST_ENGINE, request, settled, tempDir, testConfig } from "./support.js";

const CHILD = fileURLToPath(new URL("./service-child.ts", import.meta.url));

/** A service child on `dir`; resolves with its first line and a handle. */
async function serviceChild(t: TestContext, dir: string) {
  const child: ChildProcess = spawn(process.execPath, ["--import", "tsx", CHILD, dir], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  const exit = new Promise<number | NodeJS.Signals | null>((resolve) =>
    child.on("exit", (code, signal) => resolve(signal ?? code)),
  );
  t.after(async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
    await exit;
  });
  const lines = createInterface({ input: child.stdout! });
  const first = await new Promise<{ event: string; message?: string; pid?: number }>((resolve, reject) => {
    lines.once("line", (text) => resolve(JSON.parse(text)));
    child.once("exit", () => reject(new Error("the child ended without a line")));
  });
  return { child, first, exit };
}

const queueOn = (dir: string) =>
  new EmbeddedJobQueue({ config: testConfig(dir), engineFor: () => FAST_ENGINE, shutdownGraceMs: 2000 });

const refused = (dir: string, pid: number) => (error: unknown) => {
  assert.ok(error instanceof ConfigError, String(error));
  assert.match(
    error.message,
    new RegExp(`Another easel service \\(pid ${pid}\\) is already using the data folder`),
  );
  assert.ok(error.message.includes(dir), error.message);
  return true;
};

describe("the data-dir lock", () => {
  it("refuses a second service on a folder another process serves, and lets easel admin work meanwhile", async (t) => {
    const dir = await tempDir(t);
    const first = await serviceChild(t, dir);
    assert.equal(first.first.event, "started");

    const second = await serviceChild(t, dir);
    assert.equal(second.first.event, "refused");
    assert.match(second.first.message ?? "", new RegExp(`pid ${first.child.pid}`));
    assert.equal(await second.exit, 1);

    const here = queueOn(dir);
    t.after(() => here.stop());
    await assert.rejects(here.start(), refused(dir, first.child.pid!));

    const admin = await runCli(["admin", "ban", "discord:666", "--reason", "spam"], {
      env: { EASEL_DATA_DIR: dir },
    });
    assert.equal(admin.code, 0, admin.stderr);

    // A killed service leaves its lock file; the next start takes the folder over.
    first.child.kill("SIGKILL");
    await first.exit;
    const after = queueOn(dir);
    t.after(() => after.stop());
    await after.start();
    assert.equal((await settled(after, (await after.submit(request("a"))).jobId)).kind, "done");
    assert.ok(await after.ledger.banOf("discord:666"), "the ban admin wrote is there");
  });

  it("refuses a second started queue in the same process until the first stops", async (t) => {
    const dir = await tempDir(t);
    const first = queueOn(dir);
    const second = queueOn(dir);
    t.after(() => Promise.all([first.stop(), second.stop()]));
    await first.start();
    await assert.rejects(second.start(), refused(dir, process.pid));
    await first.stop();
    const third = queueOn(dir);
    t.after(() => third.stop());
    await third.start();
  });
});
