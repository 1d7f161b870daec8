/**
 * The body of a device's worker thread: loads its engine once, then runs one job at a time.
 * onnxruntime-node's run blocks the thread it is called on; here that is this thread, never the
 * main one. Image bytes go back to the main thread transferred, not copied.
 */
import { parentPort, workerData } from "node:worker_threads";
import type { LoraSelection } from "../pipeline/lora/merge.js";
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
const { engine: spec, freeBeforeEncode = true, modelsPerDevice = 1 } = workerData as DeviceWorkerData;

interface Running {
  jobId: string;
  controller: AbortController;
  finished: Promise<void>;
}

/** The spec's own model, loaded at start. */
const OWN_MODEL = "";
/** Loaded engines by model folder and LoRA set, least recently used first (Map keeps insertion order). */
const engines = new Map<string, Engine>();
let shuttingDown = false;
/** The run holding the device. */
let current: Running | undefined;
/** Runs that let the device go and are encoding their images; the next run may be current meanwhile. */
const encoding = new Set<Running>();

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

/**
 * The engine for a job's model: loaded ones are reused (and become the most recently used); a new
 * one is loaded after unloading the least recently used past `modelsPerDevice`, so its memory is
 * free first. One job runs at a time, so no run uses an engine while it is unloaded.
 */
async function engineFor(
  modelDir: string | undefined,
  loras: readonly LoraSelection[] = [],
): Promise<Engine> {
  // A LoRA set is part of the weights: each (model, set) is its own pipeline.
  const set = loras.map((lora) => `${lora.path}:${lora.scale}`).sort();
  const key = set.length === 0 ? (modelDir ?? OWN_MODEL) : JSON.stringify([modelDir ?? OWN_MODEL, ...set]);
  const loaded = engines.get(key);
  if (loaded) {
    engines.delete(key);
    engines.set(key, loaded);
    return loaded;
  }
  while (engines.size >= modelsPerDevice) {
    const [oldest, engine] = engines.entries().next().value as [string, Engine];
    engines.delete(oldest);
    await engine.dispose();
  }
  const engine = await loadEngine(
    spec.kind === "sdxl"
      ? { ...spec, ...(modelDir ? { modelDir } : {}), ...(loras.length > 0 ? { loras: [...loras] } : {}) }
      : spec,
  );
  engines.set(key, engine);
  return engine;
}

async function run(message: Extract<ToWorker, { type: "run" }>): Promise<void> {
  const { jobId } = message;
  const controller = new AbortController();
  let finish = () => {};
  const running: Running = {
    jobId,
    controller,
    finished: new Promise<void>((resolve) => (finish = resolve)),
  };
  current = running;
  let freed = false;
  const letDeviceGo = () => {
    if (freed || !freeBeforeEncode) return;
    freed = true;
    if (current === running) current = undefined;
    encoding.add(running);
    post({ type: "device-free", jobId });
  };
  try {
    const engine = await engineFor(message.modelDir, message.loras);
    const result = await engine.generate(message.params, {
      signal: controller.signal,
      previewEvery: message.previewEvery,
      onProgress: (progress) => progressMessage(jobId, progress),
      onDeviceFree: letDeviceGo,
    });
    doneMessage(jobId, result);
  } catch (error) {
    // An error while encoding (after the sessions' work) says nothing about the engine's state.
    post({
      type: "failed",
      jobId,
      error: serializeError(error),
      recycle: !freed && !engineStaysHealthy(error),
    });
  } finally {
    if (current === running) current = undefined;
    encoding.delete(running);
    finish();
  }
}

async function shutdown(): Promise<void> {
  shuttingDown = true;
  const runs = [...encoding, ...(current ? [current] : [])];
  current?.controller.abort();
  await Promise.all(runs.map((running) => running.finished));
  for (const engine of engines.values()) await engine.dispose();
  engines.clear();
  port.close();
}

port.on("message", (message: ToWorker) => {
  switch (message.type) {
    case "run":
      void run(message);
      break;
    case "cancel":
      for (const running of [current, ...encoding]) {
        if (running?.jobId === message.jobId) running.controller.abort();
      }
      break;
    case "shutdown":
      void shutdown();
      break;
  }
});

try {
  engines.set(OWN_MODEL, await loadEngine(spec));
  if (shuttingDown) await shutdown();
  else post({ type: "ready" });
} catch (error) {
  post({ type: "load-failed", error: serializeError(error) });
}
