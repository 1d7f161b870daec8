/**
 * The optimised-graph cache: the first load of a big model saves ONNX Runtime's optimised graph
 * (with its weights in an external file), the next loads it instead of optimising again, and both
 * compute exactly what the model loaded the plain way computes. A model under the size threshold
 * is not cached; a broken entry is dropped and the model loads the plain way.
 */
import assert from "node:assert/strict";
import { mkdtemp, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it, type TestContext } from "node:test";
import * as ort from "onnxruntime-node";
import { TorchGenerator } from "../../src/pipeline/noise/index.js";
import type { OptimizedModelCache } from "../../src/pipeline/onnx/optimized-cache.js";
import { ModelSession, SessionClock } from "../../src/pipeline/onnx/session.js";
import { fixtureModels } from "../helpers/fixtures.js";

async function cacheDir(t: TestContext): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "easel-ort-cache-"));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

const latents = new TorchGenerator(7n).randn([1, 4, 8, 8]);

/** The VAE decoder's output for fixed latents, loaded with or without a cache. */
async function decode(
  path: string,
  cache?: OptimizedModelCache,
): Promise<{ origin: string; out: Float32Array }> {
  const session = await ModelSession.load(
    path,
    { device: "cpu", ...(cache ? { optimizedCache: cache } : {}) },
    new SessionClock(),
  );
  try {
    const input = session.inputNames[0]!;
    const output = session.outputNames[0]!;
    const result = await session.run({ [input]: new ort.Tensor("float32", latents, [1, 4, 8, 8]) }, [output]);
    return { origin: session.origin, out: Float32Array.from(result[output]!.data as Float32Array) };
  } finally {
    await session.release();
  }
}

describe("optimised-graph cache", () => {
  it("saves the optimised graph once, then loads it; the outputs are the plain load's, bit for bit", async (t) => {
    const path = join((await fixtureModels()).base, "vae_decoder", "model.onnx");
    const cache = { dir: await cacheDir(t), minBytes: 0 };
    const plain = await decode(path);
    const first = await decode(path, cache);
    const second = await decode(path, cache);
    assert.equal(plain.origin, "optimized");
    assert.equal(first.origin, "saved-to-cache");
    assert.equal(second.origin, "from-cache");
    assert.deepEqual(first.out, plain.out);
    assert.deepEqual(second.out, plain.out);
    const [entry, ...others] = await readdir(cache.dir);
    assert.equal(others.length, 0, "one entry, no temporary folder left");
    assert.deepEqual((await readdir(join(cache.dir, entry!))).sort(), [
      "complete",
      "model.onnx",
      "model.onnx.data",
    ]);
  });

  it("leaves models under the size threshold alone", async (t) => {
    const path = join((await fixtureModels()).base, "vae_decoder", "model.onnx");
    const cache = { dir: await cacheDir(t) };
    assert.equal((await decode(path, cache)).origin, "optimized");
    assert.deepEqual(await readdir(cache.dir), []);
  });

  it("drops an entry that will not load and loads the model the plain way", async (t) => {
    const path = join((await fixtureModels()).base, "vae_decoder", "model.onnx");
    const cache = { dir: await cacheDir(t), minBytes: 0 };
    const plain = await decode(path);
    await decode(path, cache);
    const [entry] = await readdir(cache.dir);
    await writeFile(join(cache.dir, entry!, "model.onnx"), "not a model");
    const fallback = await decode(path, cache);
    assert.equal(fallback.origin, "optimized");
    assert.deepEqual(fallback.out, plain.out);
    assert.deepEqual(await readdir(cache.dir), []);
    assert.equal((await decode(path, cache)).origin, "saved-to-cache", "saved again on the next load");
  });
});
