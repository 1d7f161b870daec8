/**
 * The body of a device's worker thread: loads its engine once, then runs one job at a time.
 * onnxruntime-node's run blocks the thread it is called on; here that is this thread, never the
 * main one. Image bytes go back to the main thread transferred, not copied.
 */
import { parentPort, workerData } from "node:worker_threads";
import type { GenerateResult, Progress } from "../pipeline/types.js";
import { type Engine, loadEngine } from "./engine.js";
import {
  type DeviceWorkerData,
  engineStaysHealthy,
  type FromWorker,
  ownBuffer,
  serializeError,
  type ToWorker,
} from "./worker-protocol.js";

if (!parentPort) throw new Error("device-worker must run in a worker thread");
const port = parentPort;
const { engine: spec } = workerData as DeviceWorkerData;

let engine: Engine | undefined;
let shuttingDown = false;
let current: { jobId: string; controller: AbortController; finished: Promise<void> } | undefined;

function post(message: FromWorker, transfer: ArrayBuffer[] = []): void {
  port.postMessage(message, transfer);
}

function progressMessage(jobId: string, progress: Progress): void {
  if (!progress.preview) {
    post({ type: "progress", jobId, progress });
    return;
  }
  const data = ownBuffer(progress.preview.data);
  post({ type: "progress", jobId, progress: { ...progress, preview: { ...progress.preview, data } } }, [
    data.buffer as ArrayBuffer,
  ]);
}

function doneMessage(jobId: string, result: GenerateResult): void {
  const images = result.images.map((image) => ({ ...image, data: ownBuffer(image.data) }));
  post(
    { type: "done", jobId, images, timings: result.timings },
    images.map((image) => image.data.buffer as ArrayBuffer),
  );
}

async function run(message: Extract<ToWorker, { type: "run" }>): Promise<void> {
  const controller = new AbortController();
  let finish = () => {};
  current = {
    jobId: message.jobId,
    controller,
    finished: new Promise<void>((resolve) => (finish = resolve)),
  };
  try {
    if (!engine) throw new Error("the engine is not loaded");
    const result = await engine.generate(message.params, {
      signal: controller.signal,
      previewEvery: message.previewEvery,
      onProgress: (progress) => progressMessage(message.jobId, progress),
    });
    doneMessage(message.jobId, result);
  } catch (error) {
    post({
      type: "failed",
      jobId: message.jobId,
      error: serializeError(error),
      recycle: !engineStaysHealthy(error),
    });
  } finally {
    current = undefined;
    finish();
  }
}

async function shutdown(): Promise<void> {
  shuttingDown = true;
  if (current) {
    current.controller.abort();
    await current.finished;
  }
  await engine?.dispose();
  engine = undefined;
  port.close();
}

port.on("message", (message: ToWorker) => {
  switch (message.type) {
    case "run":
      void run(message);
      break;
    case "cancel":
      if (current?.jobId === message.jobId) current.controller.abort();
      break;
    case "shutdown":
      void shutdown();
      break;
  }
});

try {
  engine = await loadEngine(spec);
  if (shuttingDown) await shutdown();
  else post({ type: "ready" });
} catch (error) {
  post({ type: "load-failed", error: serializeError(error) });
}
