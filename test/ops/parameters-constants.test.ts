/**
 * The doctor counts a model's trained weights (`parameters`) apart from its other constants:
 * Constant nodes' values, scalar initializers and integer tensors such as shapes.
 */
import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import onnxProto from "onnx-proto";
import { checkModelFolder } from "../../src/doctor/index.js";
import { readModelWeights } from "../../src/pipeline/onnx/parameters.js";
import { fixtureModels } from "../helpers/fixtures.js";

const { onnx } = onnxProto;
const { DataType } = onnx.TensorProto;

const floats = (name: string, dims: number[]) => ({
  name,
  dataType: DataType.FLOAT,
  dims,
  rawData: new Uint8Array(4 * dims.reduce((a, b) => a * b, 1)),
});

/** y = (x·W + b) · 0.5, reshaped: W [8,8] and b [8] are weights; the rest are constants. */
function model(): Uint8Array {
  return onnx.ModelProto.encode({
    irVersion: 8,
    opsetImport: [{ domain: "", version: 17 }],
    graph: {
      name: "g",
      initializer: [
        floats("W", [8, 8]),
        floats("b", [8]),
        floats("half", []),
        { name: "shape", dataType: DataType.INT64, dims: [2], rawData: new Uint8Array(16) },
      ],
      node: [
        {
          opType: "Constant",
          output: ["table"],
          attribute: [
            { name: "value", type: onnx.AttributeProto.AttributeType.TENSOR, t: floats("table", [4, 4]) },
          ],
        },
        { opType: "MatMul", input: ["x", "W"], output: ["xw"] },
        { opType: "Add", input: ["xw", "b"], output: ["sum"] },
        { opType: "Mul", input: ["sum", "half"], output: ["scaled"] },
        { opType: "Reshape", input: ["scaled", "shape"], output: ["y"] },
      ],
      input: [
        {
          name: "x",
          type: {
            tensorType: { elemType: DataType.FLOAT, shape: { dim: [{ dimValue: 1 }, { dimValue: 8 }] } },
          },
        },
      ],
      output: [
        {
          name: "y",
          type: {
            tensorType: { elemType: DataType.FLOAT, shape: { dim: [{ dimValue: 1 }, { dimValue: 8 }] } },
          },
        },
      ],
    },
  }).finish();
}

describe("parameters apart from other constants", () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "easel-constants-"));
  });
  after(async () => rm(dir, { recursive: true, force: true }));

  it("counts weights as parameters, and a Constant node, a scalar and a shape as constants", async () => {
    await writeFile(join(dir, "model.onnx"), model());
    const weights = await readModelWeights(join(dir, "model.onnx"));
    assert.equal(weights.parameters, 8 * 8 + 8);
    assert.deepEqual(weights.parametersByType, { float32: 8 * 8 + 8 });
    assert.equal(weights.constants, 16 + 1 + 2);
    assert.equal(weights.constantBytes, 4 * 16 + 4 + 8 * 2);
    assert.equal(weights.bytes, 4 * (8 * 8 + 8) + weights.constantBytes);
  });

  it("the doctor's line gives the parameters with their own bytes, then the other constants", async () => {
    const report = await checkModelFolder((await fixtureModels()).base, "base", { loadSessions: false });
    const unet = report.results.find((result) => result.name === "base/unet")!;
    assert.match(
      unet.message,
      /^[\d.]+k? parameters \(float32, [\d.]+ k?B\); \d+ other constants? \(\d+ B\)/,
    );
    assert.ok((unet.details?.constants as number) > 0);
  });
});
