/** The images folder: files written whole by files.ts, and what the sweep may list there. */
import assert from "node:assert/strict";
import { readdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, it } from "node:test";
import { listImageFiles, writeFileAtomically } from "../../src/queue/image-files.js";
import { tempDir } from "./support.js";

describe("image files", () => {
  it("lists images and interrupted writes' temporary files by job id, and nothing else", async (t) => {
    const dir = await tempDir(t);
    const names = [
      "abc123-0.png",
      "abc123-1.webp",
      ".abc123-2.png.1f2e3d4c.tmp",
      "abc123-0.png.bak",
      "abc123-0.png.1f2e3d4c.tmp",
      "notes.txt",
      "ABC-0.png",
    ];
    for (const name of names) await writeFile(join(dir, name), "x");
    const listed = (await listImageFiles(dir)).map((file) => [
      file.path.slice(dir.length + 1),
      file.jobId,
      file.temporary,
    ]);
    listed.sort();
    assert.deepEqual(listed, [
      [".abc123-2.png.1f2e3d4c.tmp", "abc123", true],
      ["abc123-0.png", "abc123", false],
      ["abc123-1.webp", "abc123", false],
    ]);
  });

  it("writes an image whole under its final name, and leaves nothing when the write fails", async (t) => {
    const dir = await tempDir(t);
    await writeFileAtomically(join(dir, "abc-0.png"), new Uint8Array([1, 2, 3]));
    assert.deepEqual(await readdir(dir), ["abc-0.png"]);
    await assert.rejects(writeFileAtomically(join(dir, "missing", "abc-1.png"), new Uint8Array([1])));
    assert.deepEqual(await readdir(dir), ["abc-0.png"]);
  });
});
