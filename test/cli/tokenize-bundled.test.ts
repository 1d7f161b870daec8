/**
 * `easel tokenize` without a model folder (EASEL_MODEL_DIR unset, no --model) uses the SDXL
 * tokenizers bundled in assets/, and gives the same ids as a model folder's tokenizers.
 */
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { runCli } from "../helpers/cli.js";
import { fixtureModels } from "../helpers/fixtures.js";

interface Tokenized {
  prompt: string;
  tokenizer: { input_ids: number[] };
  tokenizer_2: { input_ids: number[] };
}

describe("easel tokenize without a model folder", () => {
  it("uses the bundled tokenizers: the same ids as an SDXL folder's, each padded its own way", async () => {
    const data = await mkdtemp(join(tmpdir(), "easel-tokenize-"));
    try {
      const env = { EASEL_DATA_DIR: join(data, "data"), EASEL_MODEL_DIR: "" };
      const prompt = "a red panda!! (in snow:1.2)";
      const bundled = await runCli(["tokenize", prompt], { env });
      assert.equal(bundled.code, 0, bundled.stderr);
      const ids = JSON.parse(bundled.stdout) as Tokenized;
      assert.deepEqual(ids.tokenizer.input_ids.slice(0, 3), [49406, 320, 736]);
      assert.equal(ids.tokenizer.input_ids.at(-1), 49407, "tokenizer/ pads with <|endoftext|>");
      assert.equal(ids.tokenizer_2.input_ids.at(-1), 0, 'tokenizer_2/ pads with "!"');
      assert.equal(existsSync(join(data, "data")), false, "no demo model was written");

      const folder = await runCli(["tokenize", prompt, "--model", (await fixtureModels()).base], { env });
      assert.equal(folder.code, 0, folder.stderr);
      assert.deepEqual(ids, JSON.parse(folder.stdout));
    } finally {
      await rm(data, { recursive: true, force: true });
    }
  });
});
