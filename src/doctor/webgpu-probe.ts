/**
 * Run as its own process by the doctor: creates a session with only the WebGPU provider (the
 * layout and validation mode given as argv[2] and argv[3]), runs one small MatMul on it, checks the
 * product, and prints {"ok":true,"ms":…} or {"ok":false,"error":…} on stdout. A separate process
 * because a broken driver can take the process down, and because Dawn and the Vulkan loader write
 * why no adapter was found (no loader, no driver) to stderr only.
 */
import * as ort from "onnxruntime-node";
import { GraphBuilder } from "../fixtures/onnx-graph.js";
import type { WebGpuSettings } from "../pipeline/types.js";

const layout = (process.argv[2] ?? "NHWC") as WebGpuSettings["layout"];
const validation = (process.argv[3] ?? "basic") as WebGpuSettings["validation"];
const graph = new GraphBuilder("webgpu_probe");
const x = graph.input("x", "float32", [2, 2]);
graph.output("y", "float32", [2, 2], graph.node("MatMul", [x, x]));
try {
  const started = performance.now();
  const session = await ort.InferenceSession.create(graph.encode().model, {
    executionProviders: [{ name: "webgpu", preferredLayout: layout, validationMode: validation }],
  });
  const { y } = await session.run({ x: new ort.Tensor("float32", Float32Array.from([1, 2, 3, 4]), [2, 2]) });
  await session.release();
  const product = Array.from((y?.data ?? []) as Float32Array);
  const expected = [7, 10, 15, 22];
  const ms = Math.round(performance.now() - started);
  if (product.length === 4 && product.every((value, i) => value === expected[i])) {
    process.stdout.write(`${JSON.stringify({ ok: true, ms })}\n`);
  } else {
    const error = `a 2×2 MatMul on the GPU gave [${product.join(", ")}] instead of [${expected.join(", ")}]`;
    process.stdout.write(`${JSON.stringify({ ok: false, error })}\n`);
  }
} catch (error) {
  const message = error instanceof Error ? error.message : String(error);
  process.stdout.write(`${JSON.stringify({ ok: false, error: message })}\n`);
}
