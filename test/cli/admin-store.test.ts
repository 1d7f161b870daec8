/**
 * `easel admin` acts on the running service's job store only: on a data folder without one it
 * says so, naming the folder (and that the default is `data` under the current folder), exits
 * with an error and creates nothing. Run as the operator runs it, through the CLI entry.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, readdir, realpath, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { JobStore } from "../../src/queue/store.js";
import { runCli } from "../helpers/cli.js";

describe("easel admin without a job store", () => {
  let work: string;
  before(async () => {
    work = await realpath(await mkdtemp(join(tmpdir(), "easel-admin-store-")));
  });
  after(async () => {
    await rm(work, { recursive: true, force: true });
  });

  it("refuses every command on a data folder that has no store, and creates nothing", async () => {
    const missing = join(work, "missing");
    for (const args of [
      ["ban", "discord:222"],
      ["unban", "discord:222"],
      ["queue"],
      ["cancel", "some-job"],
      ["stats"],
    ]) {
      const run = await runCli(["admin", ...args], {
        env: { EASEL_DATA_DIR: missing, EASEL_LOG_LEVEL: "silent" },
      });
      assert.equal(run.code, 2, `${args.join(" ")}: ${run.stdout}${run.stderr}`);
      assert.equal(run.stdout, "", args.join(" "));
      assert.match(
        run.stderr,
        new RegExp(`^error: No job store in the data folder ${missing} \\(EASEL_DATA_DIR=${missing};`),
      );
      assert.equal(existsSync(missing), false, `${args.join(" ")} created the folder`);
    }
  });

  it("names the default folder, data under the current folder, when EASEL_DATA_DIR is unset", async () => {
    const cwd = join(work, "elsewhere");
    await mkdir(cwd);
    const { EASEL_DATA_DIR: _unset, ...env } = process.env;
    // tsx is resolved here: the child runs in a folder that has no node_modules.
    const child = spawnSync(
      process.execPath,
      [
        "--import",
        import.meta.resolve("tsx"),
        fileURLToPath(import.meta.resolve("../helpers/cli-entry.ts")),
        "admin",
        "ban",
        "discord:222",
      ],
      { cwd, env: { ...env, EASEL_LOG_LEVEL: "silent" }, encoding: "utf8" },
    );
    assert.equal(child.status, 2, child.stderr);
    assert.match(
      child.stderr,
      new RegExp(`^error: No job store in the data folder ${join(cwd, "data")} \\(EASEL_DATA_DIR=data;`),
    );
    assert.match(child.stderr, new RegExp(`the default is "data", relative to the current folder ${cwd}\\)`));
    assert.match(child.stderr, /Run easel admin from the folder easel start runs in, or set EASEL_DATA_DIR/);
    assert.deepEqual(await readdir(cwd), []);
  });

  it("works on a store the service created", async () => {
    const data = join(work, "data");
    JobStore.open(join(data, "jobs.sqlite")).close();
    const run = await runCli(["admin", "ban", "discord:222"], {
      env: { EASEL_DATA_DIR: data, EASEL_LOG_LEVEL: "silent" },
    });
    assert.equal(run.code, 0, run.stderr);
    assert.equal(run.stdout, "Banned discord:222: their requests are refused from now on.\n");
  });
});
