/**
 * The conversion streams: converting a model whose external weights are larger than the memory
 * a whole-file conversion would need stays far below that, measured as the converting process's
 * own peak RSS.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdir, mkdtemp, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { GraphBuilder, writeStreaming } from "../../src/fixtures/onnx-graph.js";
import { readModelWeights } from "../../src/pipeline/onnx/parameters.js";

const MiB = 1024 ** 2;
/** 4 × 32 Mi float32 values: 512 MiB of external weights. */
const TENSORS = 4;
const VALUES = 32 * MiB;

const CONVERTER = fileURLToPath(new URL("../../src/pipeline/convert/model-file.ts", import.meta.url));

describe("streaming conversion", () => {
  let scratch: string;
  let source: string;

  before(async () => {
    scratch = await mkdtemp(join(tmpdir(), "easel-stream-"));
    source = join(scratch, "in");
    await mkdir(source);
    const g = new GraphBuilder("big");
    let x = g.input("x", "float32", [1, VALUES]);
    for (let i = 0; i < TENSORS; i++)
      x = g.node("Add", [x, g.parameter(`w${i}`, [1, VALUES], { std: 1 }, "float32")]);
    g.output("y", "float32", [1, VALUES], x);
    await writeStreaming(g, { dir: source, location: "model.onnx_data", seed: 1 });
  });
  after(async () => {
    await rm(scratch, { recursive: true, force: true });
  });

  it("converts 512 MiB of float32 weights with a peak RSS under 320 MiB (a whole-file pass needs 768 MiB)", async (t) => {
    const out = join(scratch, "out");
    await mkdir(out);
    const script = `
      const { convertModelFile } = await import(${JSON.stringify(CONVERTER)});
      await convertModelFile(${JSON.stringify(join(source, "model.onnx"))}, ${JSON.stringify(out)}, "float32");
      process.stdout.write(String(process.resourceUsage().maxRSS * 1024));
    `;
    const run = spawnSync(process.execPath, ["--import", "tsx", "--input-type=module", "-e", script], {
      encoding: "utf8",
    });
    assert.equal(run.status, 0, run.stderr);
    const peak = Number(run.stdout.trim());
    assert.ok(peak > 0);
    t.diagnostic(`peak RSS ${(peak / MiB).toFixed(0)} MiB`);
    assert.ok(peak < 320 * MiB, `peak RSS ${(peak / MiB).toFixed(0)} MiB`);
    const written = await stat(join(out, "model.onnx_data"));
    assert.equal(written.size, TENSORS * VALUES * 2);
    const weights = await readModelWeights(join(out, "model.onnx"));
    assert.deepEqual(weights.parametersByType, { float16: TENSORS * VALUES });
  });
});
