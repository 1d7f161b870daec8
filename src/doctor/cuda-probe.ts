/**
 * Run as its own process by the doctor: creates a one-node session with only the CUDA provider on
 * the device given as argv[2], and prints {"ok":true} or {"ok":false,"error":…} on stdout.
 * A separate process because a broken driver can take the process down, and because onnxruntime
 * writes the reason a provider library failed to load (e.g. a missing libcudnn) to stderr only.
 */
import * as ort from "onnxruntime-node";
import { GraphBuilder } from "../fixtures/onnx-graph.js";

const deviceId = Number(process.argv[2] ?? "0");
const graph = new GraphBuilder("cuda_probe");
graph.output("y", "float32", [1], graph.input("x", "float32", [1]));
try {
  const session = await ort.InferenceSession.create(graph.encode().model, {
    executionProviders: [{ name: "cuda", deviceId }],
  });
  await session.release();
  process.stdout.write(`${JSON.stringify({ ok: true })}\n`);
} catch (error) {
  const message = error instanceof Error ? error.message : String(error);
  process.stdout.write(`${JSON.stringify({ ok: false, error: message })}\n`);
}
