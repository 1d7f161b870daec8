/**
 * The float16 graph rules on a hand-built graph that runs: Constant values (tensor and
 * value_float), ConstantOfShape, Cast targets, Resize's float32 scales, graph outputs in the
 * chosen I/O type, and the Casts at the float32-kept embedding.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import onnxProto, { type onnx as OnnxTypes } from "onnx-proto";
import * as ort from "onnxruntime-node";
import { convertGraphToFloat16 } from "../../src/pipeline/convert/index.js";
import { float32ToFloat16Bits } from "../../src/pipeline/onnx/float16.js";

const { onnx } = onnxProto;
const { AttributeType } = onnx.AttributeProto;
const F32 = onnx.TensorProto.DataType.FLOAT;
const F16 = onnx.TensorProto.DataType.FLOAT16;
const I64 = onnx.TensorProto.DataType.INT64;

const info = (name: string, type: number, dims: number[]): OnnxTypes.IValueInfoProto => ({
  name,
  type: { tensorType: { elemType: type, shape: { dim: dims.map((d) => ({ dimValue: d })) } } },
});
const floats = (name: string, values: number[], dims: number[]): OnnxTypes.ITensorProto => ({
  name,
  dataType: F32,
  dims,
  rawData: new Uint8Array(Float32Array.from(values).buffer),
});

/**
 * y = Resize(x · 2 + ConstantOfShape(shape(x), 0.5) + Cast(ids → float), scales 1,1,2,2)
 * t = Sin(timestep · 1000) (kept in float32)
 */
function model(): OnnxTypes.IModelProto {
  return onnx.ModelProto.decode(
    onnx.ModelProto.encode({
      irVersion: 8,
      opsetImport: [{ domain: "", version: 17 }],
      graph: {
        name: "rules",
        input: [info("x", F32, [1, 1, 2, 2]), info("ids", I64, [1, 1, 2, 2]), info("timestep", F32, [1])],
        output: [info("y", F32, [1, 1, 4, 4]), info("t", F32, [1])],
        initializer: [floats("scales", [1, 1, 2, 2], [4]), floats("thousand", [1000], [1])],
        node: [
          {
            opType: "Constant",
            output: ["two"],
            attribute: [{ name: "value_float", type: AttributeType.FLOAT, f: 2 }],
          },
          { opType: "Mul", input: ["x", "two"], output: ["x2"] },
          { opType: "Shape", input: ["x"], output: ["shape"] },
          {
            opType: "ConstantOfShape",
            input: ["shape"],
            output: ["half"],
            attribute: [{ name: "value", type: AttributeType.TENSOR, t: floats("", [0.5], [1]) }],
          },
          { opType: "Add", input: ["x2", "half"], output: ["sum"] },
          {
            opType: "Cast",
            input: ["ids"],
            output: ["idsf"],
            attribute: [{ name: "to", type: AttributeType.INT, i: F32 }],
          },
          { opType: "Add", input: ["sum", "idsf"], output: ["z"] },
          {
            opType: "Resize",
            input: ["z", "", "scales"],
            output: ["y"],
            attribute: [{ name: "mode", type: AttributeType.STRING, s: new TextEncoder().encode("nearest") }],
          },
          { opType: "Mul", input: ["timestep", "thousand"], output: ["phase"] },
          { opType: "Sin", input: ["phase"], output: ["t"] },
        ],
      },
    }).finish(),
  );
}

async function run(m: OnnxTypes.IModelProto, io: "float32" | "float16") {
  const session = await ort.InferenceSession.create(onnx.ModelProto.encode(m).finish());
  const x = Float32Array.of(0.25, -1, 3, 100);
  const float = (values: Float32Array, dims: number[]) =>
    io === "float32"
      ? new ort.Tensor("float32", values, dims)
      : new ort.Tensor("float16", float32ToFloat16Bits(values), dims);
  const result = await session.run({
    x: float(x, [1, 1, 2, 2]),
    ids: new ort.Tensor("int64", BigInt64Array.of(1n, 2n, 3n, 4n), [1, 1, 2, 2]),
    timestep: float(Float32Array.of(0.999), [1]),
  });
  await session.release();
  return result;
}

describe("float16 graph rules", () => {
  it("converts Constant, ConstantOfShape and Cast, keeps Resize's scales and the Sin input float32, and keeps float32 I/O", async () => {
    const m = model();
    const result = convertGraphToFloat16(m, { io: "float32" });
    const nodes = m.graph!.node!;
    const constant = nodes.find((n) => n.opType === "Constant" && n.output![0] === "two")!;
    assert.equal(constant.attribute![0]!.t!.dataType, F16);
    const fill = nodes.find((n) => n.opType === "ConstantOfShape")!;
    assert.equal(fill.attribute![0]!.t!.dataType, F16);
    const cast = nodes.find((n) => n.opType === "Cast" && n.input![0] === "ids")!;
    assert.equal(Number(cast.attribute![0]!.i), F16);
    const init = new Map(m.graph!.initializer!.map((t) => [t.name, t.dataType]));
    assert.equal(init.get("scales"), F32, "Resize's scales must stay float32");
    assert.equal(init.get("thousand"), F32, "the Sin's input is computed in float32");
    assert.deepEqual(result.float32Nodes, { Mul: 1, Sin: 1 });
    assert.deepEqual(
      m.graph!.input!.map((i) => i.type!.tensorType!.elemType),
      [F32, I64, F32],
    );
    assert.deepEqual(
      m.graph!.output!.map((o) => o.type!.tensorType!.elemType),
      [F32, F32],
    );

    const original = await run(model(), "float32");
    const converted = await run(m, "float32");
    assert.equal(converted.y!.type, "float32");
    // x·2 + 0.5 + id, upsampled: exact in float16 for these values.
    assert.deepEqual(
      Array.from(converted.y!.data as Float32Array),
      Array.from(original.y!.data as Float32Array),
    );
    // sin(999): float32 math gives float32's answer; through float16 the phase would be 999 ± 0.25.
    assert.equal((converted.t!.data as Float32Array)[0], (original.t!.data as Float32Array)[0]);
  });

  it("with float16 I/O declares float16 inputs and outputs and casts up for the kept embedding", async () => {
    const m = model();
    convertGraphToFloat16(m, { io: "float16" });
    assert.deepEqual(
      m.graph!.input!.map((i) => i.type!.tensorType!.elemType),
      [F16, I64, F16],
    );
    assert.deepEqual(
      m.graph!.output!.map((o) => o.type!.tensorType!.elemType),
      [F16, F16],
    );
    const result = await run(m, "float16");
    assert.equal(result.y!.type, "float16");
    assert.equal(result.t!.type, "float16");
  });

  it("gives an initializer that an older export also lists as a graph input its new type there too", async () => {
    const m = onnx.ModelProto.decode(
      onnx.ModelProto.encode({
        irVersion: 3,
        opsetImport: [{ domain: "", version: 9 }],
        graph: {
          name: "ir3",
          input: [info("x", F32, [2]), info("w", F32, [2])],
          output: [info("y", F32, [2])],
          initializer: [floats("w", [1.5, -2], [2])],
          node: [{ opType: "Mul", input: ["x", "w"], output: ["y"] }],
        },
      }).finish(),
    );
    convertGraphToFloat16(m, { io: "float32" });
    assert.deepEqual(
      m.graph!.input!.map((i) => [i.name, i.type!.tensorType!.elemType]),
      [
        ["x", F32],
        ["w", F16],
      ],
    );
    const session = await ort.InferenceSession.create(onnx.ModelProto.encode(m).finish());
    const result = await session.run({ x: new ort.Tensor("float32", Float32Array.of(2, 3), [2]) });
    assert.deepEqual(Array.from(result.y!.data as Float32Array), [3, -6]);
    await session.release();
  });
});
