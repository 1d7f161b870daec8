/**
 * Zoom out and pan through the loopback Slack (HTTP mode, signed requests) on the fixture SDXL
 * pipeline: the buttons under a result, pressed like a user would; the second press after a
 * restart, when only the button's value is left.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import sharp from "sharp";
import { canvasLayout } from "../../src/pipeline/canvas/index.js";
import { borderDifference, keptPsnr } from "../helpers/canvas-checks.js";
import { FakeSlack, type PostedMessage } from "./fake-slack.js";
import {
  buttonsOf,
  imagineOverHttp,
  jobIdOf,
  pressOverHttp,
  resultMessages,
  type SlackEasel,
  startSlackEasel,
  tempDir,
} from "./support.js";

const CPU_WAIT_MS = 300_000;

test("Zoom Out 2× and ➡️ under a Slack result on the fixture pipeline, the second after a restart", {
  timeout: 900_000,
}, async (t) => {
  const fake = await FakeSlack.start();
  const dir = await tempDir();
  let app: SlackEasel = await startSlackEasel(fake, { mode: "http", dataDir: dir.path });
  t.after(async () => {
    await app.stop();
    await fake.close();
    await dir.remove();
  });

  /** The result message of job number `n` (1-based, in posting order). */
  const nthResult = (n: number) =>
    fake.waitFor(
      () => resultMessages(fake).length >= n && resultMessages(fake)[n - 1],
      CPU_WAIT_MS,
      `result ${n}`,
    );
  /** The bytes uploaded for a result message's image. */
  const imageOf = (message: PostedMessage): Buffer => {
    const jobId = jobIdOf(message)!;
    const upload = [...fake.uploads.values()].find((each) => each.filename.includes(jobId));
    assert.ok(upload?.bytes, `the image of job ${jobId}`);
    return upload.bytes;
  };
  const press = async (message: PostedMessage, label: string) => {
    const button = buttonsOf(message).find((each) => each.text.text === label);
    assert.ok(button, `${label} on ${buttonsOf(message).map((each) => each.text.text)}`);
    const ack = await pressOverHttp(fake, app, button.value, message);
    assert.equal(ack.status, 200);
  };

  const ack = await imagineOverHttp(fake, app, "a harbour at dawn --steps 2 --size 512x512 --seed 5");
  assert.equal(ack.status, 200);
  const first = await nthResult(1);
  const labels = buttonsOf(first).map((button) => button.text.text);
  for (const label of ["Zoom Out 2×", "Zoom Out 1.5×", "⬅️", "➡️", "⬆️", "⬇️"]) {
    assert.ok(labels.includes(label), `${label} under the result: ${labels}`);
  }
  const original = imageOf(first);

  await press(first, "Zoom Out 2×");
  const zoomed = await nthResult(2);
  assert.match(zoomed.text, /zoomed out 2× from image 1/);
  const zoomedImage = imageOf(zoomed);
  const meta = await sharp(zoomedImage).metadata();
  assert.deepEqual([meta.width, meta.height], [512, 512]);
  const placement = canvasLayout(512, 512, { kind: "zoom_out", factor: 2 }).placement;
  const stored = await app.easel.queue.job(jobIdOf(zoomed)!);
  assert.deepEqual(stored?.images[0]?.source, placement);
  const centre = await keptPsnr(original, zoomedImage, placement);
  const withSeam = await keptPsnr(original, zoomedImage, placement, 0);
  const border = await borderDifference(original, zoomedImage, placement);
  t.diagnostic(
    `slack zoom out 2x: centre PSNR ${centre.toFixed(1)} dB (${withSeam.toFixed(1)} dB with the seam band), border difference ${border.toFixed(1)}`,
  );
  assert.ok(centre >= 35, `the centre is the original at half size: ${centre} dB`);
  assert.ok(border > 8, `the border is new: ${border}`);

  // A restart: the first result's message and its button values are all that is left.
  await app.stop();
  app = await startSlackEasel(fake, { mode: "http", dataDir: dir.path });
  await press(first, "➡️");
  const panned = await nthResult(3);
  assert.match(panned.text, /panned right from image 1/);
  const pannedImage = imageOf(panned);
  const layout = canvasLayout(512, 512, { kind: "pan", direction: "right" });
  const pannedMeta = await sharp(pannedImage).metadata();
  assert.deepEqual([pannedMeta.width, pannedMeta.height], [layout.width, layout.height]);
  assert.ok(layout.width > layout.height && layout.placement.x === 0, "wider, the original on the left");
  const left = await keptPsnr(original, pannedImage, layout.placement);
  const strip = await borderDifference(original, pannedImage, layout.placement);
  t.diagnostic(`slack pan right: left part PSNR ${left.toFixed(1)} dB, strip difference ${strip.toFixed(1)}`);
  assert.ok(left >= 35, `the left part is the original: ${left} dB`);
  assert.ok(strip > 8, `the strip is new: ${strip}`);
});
