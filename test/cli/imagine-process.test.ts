/**
 * `easel imagine` as a process: the checks that come before any job or model (--out, weights,
 * blank prompts, a bad data folder) and help as plain text. Killed and stopped runs:
 * test/e2e/imagine-kill.e2e.ts.
 */
import assert from "node:assert/strict";
import { access, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, it } from "node:test";
import { runCli } from "../helpers/cli.js";
import { fixtureModels } from "../helpers/fixtures.js";
import { tempDir } from "../queue/support.js";

describe("easel imagine checks before any job or model", () => {
  it("refuses an --out folder it cannot write, creating no store and no job", async (t) => {
    const dir = await tempDir(t);
    const blocker = join(dir, "file");
    await writeFile(blocker, "in the way");
    const data = join(dir, "data");
    const out = join(blocker, "out");
    const run = await runCli(["imagine", "a fox --steps 1", "--model", "/nonexistent", "--out", out], {
      env: { EASEL_DATA_DIR: data },
    });
    assert.equal(run.code, 1);
    assert.equal(run.stderr, `error: could not write ${out}: not a directory (ENOTDIR)\n`);
    await assert.rejects(access(data), "no store was created");
  });

  it("refuses an extreme emphasis weight and an invisible-only prompt before loading a model", async (t) => {
    const dir = await tempDir(t);
    const data = join(dir, "data");
    for (const text of ["(cat:99999999999999999999) --steps 2", "\u200b\u200b\u200b --steps 2"]) {
      const run = await runCli(["imagine", text, "--model", "/nonexistent", "--out", join(dir, "out")], {
        env: { EASEL_DATA_DIR: data },
      });
      assert.equal(run.code, 2, text);
      assert.doesNotMatch(run.stderr, /nonexistent|model_index/, "no model was looked at");
      assert.match(run.stderr, /^error: /);
    }
    await assert.rejects(access(data), "no store was created");
  });

  it("names a data folder that is a file, and a corrupt job store, for the operator", async (t) => {
    const dir = await tempDir(t);
    const { base } = await fixtureModels();
    const blocked = join(dir, "data-file");
    await writeFile(blocked, "in the way");
    const first = await runCli(["imagine", "a fox --steps 1", "--model", base, "--out", join(dir, "out")], {
      env: { EASEL_DATA_DIR: blocked },
    });
    assert.equal(first.code, 2);
    assert.equal(
      first.stderr,
      `error: the data folder ${blocked} cannot be created: a file is in the way of a folder. Fix it, or point EASEL_DATA_DIR at another folder.\n`,
    );
    const data = join(dir, "data");
    const run = await runCli(["imagine", "help"], { env: { EASEL_DATA_DIR: data } });
    assert.equal(run.code, 0);
    await assert.rejects(access(data), "help opens no store");
    await writeFile(join(dir, "jobs.sqlite"), "garbage ".repeat(200));
    const corrupt = await runCli(["imagine", "a fox --steps 1", "--model", base, "--out", join(dir, "out")], {
      env: { EASEL_DATA_DIR: dir },
    });
    assert.equal(corrupt.code, 2);
    assert.match(
      corrupt.stderr,
      new RegExp(`^error: the job store ${join(dir, "jobs.sqlite")} is not a readable SQLite database`),
    );
    assert.equal(await readFile(join(dir, "jobs.sqlite"), "utf8"), "garbage ".repeat(200), "left as it was");
  });
});

describe("easel imagine help", () => {
  it("prints the chat flags as plain text, and --help points at it", async () => {
    const help = await runCli(["imagine", "help"]);
    assert.equal(help.code, 0);
    for (const flag of ["--ar", "--seed", "--steps", "--no", "--n"])
      assert.ok(help.stdout.includes(flag), flag);
    assert.doesNotMatch(help.stdout, /\*\*|`|<@|&gt;/, "no chat markup");
    const usage = await runCli(["imagine", "--help"]);
    assert.equal(usage.code, 0);
    assert.match(
      usage.stdout.replace(/\s+/g, " "),
      /The chat flags \(--ar, --seed, --steps, \.\.\.\): easel imagine help/,
    );
  });
});
