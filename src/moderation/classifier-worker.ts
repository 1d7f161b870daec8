/**
 * The classifier thread: loads TensorFlow.js on its wasm backend and an nsfwjs model, then answers
 * one image at a time with its five class probabilities. Only this module imports TensorFlow.js and
 * nsfwjs, and only this thread runs it: the queue's thread never does, so an operator who leaves
 * moderation off loads none of it, and a classification never holds up the event loop.
 *
 * Images arrive encoded (PNG, WebP or JPEG, as the store keeps them); sharp decodes and squashes
 * them to the model's square side (nsfwjs resizes without keeping the aspect ratio too).
 */
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { parentPort, workerData } from "node:worker_threads";
import type * as TensorFlow from "@tensorflow/tfjs";
import type { NSFWJS } from "nsfwjs";
import sharp from "sharp";
import { type ClassScores, NSFW_CLASSES, type NsfwClass } from "./decision.js";
import type { ClassifierWorkerData, FromClassifier, ToClassifier } from "./protocol.js";
import { BUILT_IN_CLASSIFIERS, isBuiltInClassifier } from "./settings.js";

const port = parentPort;
if (!port) throw new Error("classifier-worker.ts runs as a worker thread");
const { model: modelSetting } = workerData as ClassifierWorkerData;
const send = (message: FromClassifier) => port.postMessage(message);
const messageOf = (error: unknown) => (error instanceof Error ? error.message : String(error));

interface TensorFlowModelJson {
  format?: string;
  modelTopology?: unknown;
  weightsManifest?: Array<{ paths: string[]; weights: TensorFlow.io.WeightsManifestEntry[] }>;
}

/** The square input side a model.json declares: a layers model's batch_input_shape, or a graph model's placeholder. */
function inputSideOf(json: TensorFlowModelJson): number | undefined {
  const topology = json.modelTopology as
    | {
        model_config?: { config?: { layers?: Array<{ config?: { batch_input_shape?: unknown[] } }> } };
        node?: Array<{ op?: string; attr?: { shape?: { shape?: { dim?: Array<{ size?: string }> } } } }>;
      }
    | undefined;
  const layersShape = topology?.model_config?.config?.layers?.[0]?.config?.batch_input_shape;
  if (Array.isArray(layersShape) && typeof layersShape[1] === "number") return layersShape[1];
  const placeholder = topology?.node?.find((node) => node.op === "Placeholder");
  const side = Number(placeholder?.attr?.shape?.shape?.dim?.[1]?.size);
  return Number.isInteger(side) && side > 0 ? side : undefined;
}

/** Bytes per value of each stored dtype (a quantized weight is stored in its quantization dtype). */
const DTYPE_BYTES: Record<string, number> = {
  float32: 4,
  int32: 4,
  bool: 1,
  uint8: 1,
  uint16: 2,
  float16: 2,
};

/** What a manifest's weights take on disk; undefined when one has a size that cannot be known (strings). */
function expectedWeightBytes(specs: readonly TensorFlow.io.WeightsManifestEntry[]): number | undefined {
  let total = 0;
  for (const spec of specs) {
    const bytes = DTYPE_BYTES[spec.quantization?.dtype ?? spec.dtype];
    if (bytes === undefined) return undefined;
    total += spec.shape.reduce((count, side) => count * side, 1) * bytes;
  }
  return total;
}

/** A TensorFlow.js model folder read from disk: model.json and its weight files, in the manifest's order. */
async function folderHandler(
  tf: typeof TensorFlow,
  folder: string,
): Promise<{ handler: TensorFlow.io.IOHandler; size: number; type: "graph" | "layers" }> {
  const file = join(folder, "model.json");
  let json: TensorFlowModelJson;
  try {
    json = JSON.parse(await readFile(file, "utf8")) as TensorFlowModelJson;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === "ENOENT")
      throw new Error(`${file} does not exist (not a built-in model name, nor a model folder)`);
    throw new Error(`${file} cannot be read as JSON: ${messageOf(error)}`);
  }
  if (!json.modelTopology || !Array.isArray(json.weightsManifest)) {
    throw new Error(`${file} is not a TensorFlow.js model (no modelTopology or weightsManifest)`);
  }
  const parts: Buffer[] = [];
  for (const group of json.weightsManifest) {
    for (const path of group.paths) parts.push(await readFile(join(folder, path)));
  }
  const weightData = Buffer.concat(parts);
  const specs = json.weightsManifest.flatMap((group) => group.weights);
  const expected = expectedWeightBytes(specs);
  if (expected !== undefined && weightData.byteLength !== expected) {
    const files = json.weightsManifest.flatMap((group) => group.paths).join(", ");
    throw new Error(
      `the weight files (${files}) in ${folder} hold ${weightData.byteLength} bytes; model.json's manifest needs ${expected}: a file is cut short or belongs to another model`,
    );
  }
  const handler = tf.io.fromMemory({
    modelTopology: json.modelTopology as TensorFlow.io.ModelJSON["modelTopology"],
    weightSpecs: specs,
    weightData: weightData.buffer.slice(weightData.byteOffset, weightData.byteOffset + weightData.byteLength),
    ...(json.format ? { format: json.format } : {}),
  });
  return {
    handler,
    size: inputSideOf(json) ?? 224,
    type: json.format === "graph-model" ? "graph" : "layers",
  };
}

async function load(): Promise<{ tf: typeof TensorFlow; model: NSFWJS; size: number }> {
  const tf = await import("@tensorflow/tfjs");
  await import("@tensorflow/tfjs-backend-wasm");
  if (!(await tf.setBackend("wasm"))) throw new Error("TensorFlow.js' wasm backend could not start");
  await tf.ready();
  const nsfwjs = await import("nsfwjs");
  if (isBuiltInClassifier(modelSetting)) {
    const { size } = BUILT_IN_CLASSIFIERS[modelSetting];
    return { tf, model: await nsfwjs.load(modelSetting, { size }), size };
  }
  const { handler, size, type } = await folderHandler(tf, modelSetting);
  const model = new nsfwjs.NSFWJS(handler, { size, type });
  await model.load();
  return { tf, model, size };
}

async function classify(
  tf: typeof TensorFlow,
  model: NSFWJS,
  size: number,
  image: Uint8Array,
): Promise<ClassScores> {
  const { data, info } = await sharp(image)
    .removeAlpha()
    .toColourspace("srgb")
    .resize(size, size, { fit: "fill" })
    .raw()
    .toBuffer({ resolveWithObject: true });
  if (info.channels !== 3) throw new Error(`the image decoded to ${info.channels} channels, not 3`);
  const pixels = tf.tensor3d(
    new Uint8Array(data.buffer, data.byteOffset, data.byteLength),
    [size, size, 3],
    "int32",
  );
  try {
    const predictions = await model.classify(pixels, NSFW_CLASSES.length);
    const scores = Object.fromEntries(NSFW_CLASSES.map((name) => [name, 0])) as ClassScores;
    for (const { className, probability } of predictions) {
      if (!(NSFW_CLASSES as readonly string[]).includes(className)) {
        throw new Error(`the model answered an unknown class "${className}"`);
      }
      scores[className as NsfwClass] = probability;
    }
    return scores;
  } finally {
    pixels.dispose();
  }
}

const started = performance.now();
let loaded: Awaited<ReturnType<typeof load>>;
try {
  loaded = await load();
} catch (error) {
  send({ type: "load_failed", message: messageOf(error) });
  port.close();
  process.exit(0);
}
const { tf, model, size } = loaded;
send({
  type: "ready",
  model: modelSetting,
  size,
  backend: tf.getBackend(),
  loadMs: Math.round(performance.now() - started),
});

// One image at a time, in arrival order: the model is not shared between two runs.
let chain: Promise<void> = Promise.resolve();
port.on("message", (message: ToClassifier) => {
  if (message.type === "shutdown") {
    chain.finally(() => port.close());
    return;
  }
  const { id, image } = message;
  chain = chain.then(async () => {
    const begun = performance.now();
    try {
      const scores = await classify(tf, model, size, image);
      send({ type: "scores", id, scores, ms: performance.now() - begun });
    } catch (error) {
      send({ type: "failed", id, message: messageOf(error) });
    }
  });
});
