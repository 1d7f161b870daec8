/**
 * Output moderation benchmark (`node --import tsx bench/moderation.ts [--quick]`).
 * Part 1, each nsfwjs model in its classifier thread, as the queue runs it: load time, time per
 * 1024² PNG (decode, resize, classify; median and p95), and the thread's RSS.
 * Part 2, the main thread while the default model classifies back to back in its thread: the
 * event loop's p99 delay against the same span idle, the number the chat gateways' heartbeats feel.
 * Part 3 (skipped with --quick), the same classifications on the main thread, for contrast: what a
 * classifier there would cost the event loop.
 */
import { monitorEventLoopDelay, performance } from "node:perf_hooks";
import sharp from "sharp";
import { ImageClassifier } from "../src/moderation/classifier.js";
import {
  BUILT_IN_CLASSIFIERS,
  type BuiltInClassifier,
  DEFAULT_CLASSIFIER,
} from "../src/moderation/settings.js";
import { type Picture, picturePng } from "../test/moderation/images.js";

const quick = process.argv.includes("--quick");
const ROUNDS = quick ? 6 : 20;
const SPAN_MS = quick ? 2_000 : 5_000;
const PICTURES: Picture[] = ["gradient", "noise", "shapes"];

const ms = (value: number) => `${value.toFixed(value < 10 ? 2 : 0)} ms`;
const line = (label: string, value: string, note = "") =>
  process.stdout.write(`  ${label.padEnd(50)} ${value.padStart(10)}  ${note}\n`);
const quantile = (values: readonly number[], q: number) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
};

/** The main thread's p99 event-loop delay (ms) while `work` runs, sampled every 1 ms. */
async function loopDelayDuring(work: () => Promise<void>): Promise<{ p99: number; max: number }> {
  const histogram = monitorEventLoopDelay({ resolution: 1 });
  histogram.enable();
  await work();
  histogram.disable();
  return { p99: histogram.percentile(99) / 1e6, max: histogram.max / 1e6 };
}

/** Classifies the pictures round-robin until `spanMs` has passed; returns how many. */
async function classifyFor(
  classify: (image: Uint8Array) => Promise<unknown>,
  images: Uint8Array[],
  spanMs: number,
) {
  const until = performance.now() + spanMs;
  let count = 0;
  while (performance.now() < until) {
    await classify(images[count % images.length]!);
    count += 1;
  }
  return count;
}

const idleFor = (spanMs: number) => new Promise<void>((resolve) => setTimeout(resolve, spanMs));

async function main(): Promise<void> {
  const images = await Promise.all(PICTURES.map((picture) => picturePng(picture)));
  process.stdout.write(`moderation: nsfwjs on TensorFlow.js' wasm backend, 1024² PNG pictures\n`);

  process.stdout.write(`\nPart 1: each model in its classifier thread (${ROUNDS} images each)\n`);
  for (const model of Object.keys(BUILT_IN_CLASSIFIERS) as BuiltInClassifier[]) {
    const classifier = new ImageClassifier({ model });
    const info = await classifier.start();
    await classifier.classify(images[0]!); // the first run compiles the wasm kernels
    const times: number[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      const started = performance.now();
      await classifier.classify(images[round % images.length]!);
      times.push(performance.now() - started);
    }
    line(
      `${model} (${info.size}²)`,
      ms(quantile(times, 0.5)),
      `median per image; p95 ${ms(quantile(times, 0.95))}; load ${ms(info.loadMs)}`,
    );
    await classifier.stop();
  }

  process.stdout.write(
    `\nPart 2: the main thread's event loop, ${SPAN_MS / 1000} s spans (${DEFAULT_CLASSIFIER})\n`,
  );
  const classifier = new ImageClassifier({ model: DEFAULT_CLASSIFIER });
  await classifier.start();
  await classifier.classify(images[0]!);
  const idle = await loopDelayDuring(() => idleFor(SPAN_MS));
  let classified = 0;
  const busy = await loopDelayDuring(async () => {
    classified = await classifyFor((image) => classifier.classify(image), images, SPAN_MS);
  });
  await classifier.stop();
  line("idle: p99 event-loop delay", ms(idle.p99), `max ${ms(idle.max)}`);
  line(
    "classifying in its thread: p99 event-loop delay",
    ms(busy.p99),
    `max ${ms(busy.max)}; ${classified} images`,
  );

  if (quick) return;
  process.stdout.write(`\nPart 3: the same on the main thread, for contrast\n`);
  const tf = await import("@tensorflow/tfjs");
  await import("@tensorflow/tfjs-backend-wasm");
  await tf.setBackend("wasm");
  await tf.ready();
  const nsfwjs = await import("nsfwjs");
  const { size } = BUILT_IN_CLASSIFIERS[DEFAULT_CLASSIFIER];
  const model = await nsfwjs.load(DEFAULT_CLASSIFIER, { size });
  const classifyHere = async (image: Uint8Array) => {
    const { data } = await sharp(image).removeAlpha().resize(size, size, { fit: "fill" }).raw().toBuffer({
      resolveWithObject: true,
    });
    const pixels = tf.tensor3d(new Uint8Array(data), [size, size, 3], "int32");
    await model.classify(pixels, 5);
    pixels.dispose();
  };
  await classifyHere(images[0]!);
  let here = 0;
  const onMain = await loopDelayDuring(async () => {
    here = await classifyFor(classifyHere, images, SPAN_MS);
  });
  line(
    "classifying on the main thread: p99 event-loop delay",
    ms(onMain.p99),
    `max ${ms(onMain.max)}; ${here} images`,
  );
}

await main();
