import assert from "node:assert/strict";
import { mkdtemp, rm, truncate, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { GraphBuilder } from "../../src/fixtures/onnx-graph.js";
import { countParameters, readModelWeights } from "../../src/pipeline/onnx/parameters.js";

/** y = x·A + b with A [32,32] (4096 bytes: external) and b [32] (128 bytes: inline), plus an int64 shape. */
function smallGraph(): GraphBuilder {
  const graph = new GraphBuilder("linear");
  const x = graph.input("x", "float32", [1, 32]);
  const product = graph.node("MatMul", [x, graph.weight("a", new Float32Array(32 * 32).fill(0.5), [32, 32])]);
  const sum = graph.node("Add", [product, graph.weight("b", new Float32Array(32), [32])]);
  const shaped = graph.node("Reshape", [sum, graph.int64s([1, 32])]);
  graph.output("y", "float32", [1, 32], shaped);
  return graph;
}

describe("countParameters", () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "easel-params-"));
  });
  after(async () => rm(dir, { recursive: true, force: true }));

  it("counts float weights inline and in external data, without reading the external bytes", async () => {
    const encoded = smallGraph().encode({ location: "model.onnx_data", minBytes: 1024 });
    await writeFile(join(dir, "model.onnx"), encoded.model);
    // Only the size of the external file matters to the count: zeros of the same length do.
    await writeFile(join(dir, "model.onnx_data"), new Uint8Array(encoded.externalData!.byteLength));
    assert.equal(await countParameters(join(dir, "model.onnx")), 32 * 32 + 32);
    const weights = await readModelWeights(join(dir, "model.onnx"));
    assert.equal(weights.bytes, 4 * (32 * 32 + 32) + 8 * 2);
    assert.deepEqual(weights.parametersByType, { float32: 32 * 32 + 32 });
    assert.equal(weights.external.length, 1);
    assert.equal(weights.external[0]!.requiredBytes, 4096);
    assert.equal(weights.external[0]!.actualBytes, 4096);
  });

  it("reports a truncated or missing external file by size", async () => {
    const encoded = smallGraph().encode({ location: "model.onnx_data", minBytes: 1024 });
    await writeFile(join(dir, "t.onnx"), encoded.model);
    await writeFile(join(dir, "model.onnx_data"), encoded.externalData!);
    await truncate(join(dir, "model.onnx_data"), 100);
    assert.equal((await readModelWeights(join(dir, "t.onnx"))).external[0]!.actualBytes, 100);
    await rm(join(dir, "model.onnx_data"));
    assert.equal((await readModelWeights(join(dir, "t.onnx"))).external[0]!.actualBytes, undefined);
  });

  it("refuses external data outside the model's folder", async () => {
    const encoded = smallGraph().encode({ location: "../elsewhere.bin", minBytes: 1024 });
    await writeFile(join(dir, "escape.onnx"), encoded.model);
    await assert.rejects(
      readModelWeights(join(dir, "escape.onnx")),
      /points to external data outside its folder/,
    );
  });

  it("says which file is not an ONNX model", async () => {
    await writeFile(join(dir, "junk.onnx"), "this is not protobuf \u0000\u00ff\u00ff\u00ff");
    await assert.rejects(countParameters(join(dir, "junk.onnx")), /junk\.onnx: is not a valid ONNX model/);
  });
});
