/** `easel generate` without EASEL_MODEL_DIR runs on the demo model, written once under the data folder. */
import assert from "node:assert/strict";
import { access, readFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, it } from "node:test";
import sharp from "sharp";
import { runCli } from "../helpers/cli.js";
import { tempDir } from "../queue/support.js";

describe("easel generate with EASEL_MODEL_DIR unset", () => {
  it("writes the demo model under the data folder, says so, and generates with it", async (t) => {
    const dir = await tempDir(t);
    const data = join(dir, "data");
    const out = join(dir, "fox.png");
    const run = await runCli(
      ["generate", "--prompt", "a fox", "--steps", "1", "--width", "512", "--height", "512", "--out", out],
      { env: { EASEL_DATA_DIR: data, EASEL_MODEL_DIR: "", EASEL_DEVICES: "cpu" } },
    );
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stderr, /using the demo model \(EASEL_MODEL_DIR is unset\)/);
    await access(join(data, "demo-model", "base", "model_index.json"));
    const meta = await sharp(await readFile(out)).metadata();
    assert.deepEqual([meta.format, meta.width, meta.height], ["png", 512, 512]);
  });
});
