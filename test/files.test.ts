/** Atomic writes and capped reads at the edges (src/files.ts). */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { InvalidInputError } from "../src/errors.js";
import {
  copyFileAtomically,
  describeFileError,
  readRegularFile,
  writeFileAtomically,
  writeFileAtomicallySync,
} from "../src/files.js";

let dir: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), "easel-files-"));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe("atomic writes", () => {
  it("replace a file whole and leave no temporary file", async () => {
    const path = join(dir, "a.png");
    await writeFile(path, "old");
    await writeFileAtomically(path, new Uint8Array([1, 2, 3]));
    assert.deepEqual([...(await readFile(path))], [1, 2, 3]);
    writeFileAtomicallySync(path, "sync");
    assert.equal(await readFile(path, "utf8"), "sync");
    await copyFileAtomically(path, join(dir, "b.png"));
    assert.equal(await readFile(join(dir, "b.png"), "utf8"), "sync");
    assert.deepEqual((await readdir(dir)).sort(), ["a.png", "b.png"]);
  });

  it("keep the old file and leave nothing behind when the write fails", async () => {
    const folder = join(dir, "failing");
    await mkdir(folder);
    const path = join(folder, "keep.png");
    await writeFile(path, "old");
    // The target is a folder's name inside: the rename fails after the temporary file was written.
    const occupied = join(folder, "occupied");
    await mkdir(join(occupied, "child"), { recursive: true });
    await assert.rejects(writeFileAtomically(occupied, "new"));
    assert.throws(() => writeFileAtomicallySync(occupied, "new"));
    await assert.rejects(copyFileAtomically(path, occupied));
    await assert.rejects(copyFileAtomically(join(folder, "missing.png"), path));
    assert.equal(await readFile(path, "utf8"), "old");
    assert.deepEqual((await readdir(folder)).sort(), ["keep.png", "occupied"]);
    await assert.rejects(
      writeFileAtomically(join(folder, "no", "such", "dir.png"), "x"),
      (error: unknown) => {
        assert.equal(describeFileError(error), "no such file or directory (ENOENT)");
        return true;
      },
    );
  });
});

describe("readRegularFile", () => {
  const refused = (message: RegExp) => (error: unknown) => {
    assert.ok(error instanceof InvalidInputError, String(error));
    assert.equal(error.field, "image");
    assert.match(error.userMessage, message);
    return true;
  };

  it("reads a regular file up to the cap, and refuses one over it", async () => {
    const path = join(dir, "data.bin");
    await writeFile(path, Buffer.alloc(3 << 20, 7));
    assert.equal((await readRegularFile(path, 3 << 20, "image")).length, 3 << 20);
    await assert.rejects(readRegularFile(path, (3 << 20) - 1, "image"), refused(/larger than the limit/));
  });

  it("refuses devices, FIFOs and folders without reading them", async () => {
    const fifo = join(dir, "fifo");
    spawnSync("mkfifo", [fifo]);
    for (const path of ["/dev/zero", "/dev/urandom", fifo, dir]) {
      await assert.rejects(readRegularFile(path, 1024, "image"), refused(/is not a regular file/), path);
    }
    await assert.rejects(
      readRegularFile(join(dir, "missing"), 1024, "image"),
      refused(/Cannot read .*ENOENT/),
    );
  });
});
