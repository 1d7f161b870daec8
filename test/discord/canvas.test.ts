/**
 * Zoom out and pan through the loopback Discord: the buttons under a result, pressed like a user
 * would, on the fixture SDXL pipeline (CPU); a press after a restart (the id is all that is left);
 * and `/imagine zoom:` on an attached picture.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import sharp from "sharp";
import { canvasLayout } from "../../src/pipeline/canvas/index.js";
import { borderDifference, keptPsnr } from "../helpers/canvas-checks.js";
import type { StoredMessage } from "./fake-discord.js";
import {
  buttonId,
  buttons,
  EPHEMERAL,
  finalMessage,
  type Harness,
  imagine,
  startHarness,
} from "./harness.js";

const CPU_WAIT_MS = 300_000;

function imageOf(h: Harness, message: StoredMessage): Buffer {
  const attachment = message.attachments.find((a) => a.filename.startsWith("easel-"));
  assert.ok(attachment, `an image on: ${message.content}`);
  return h.fake.file(message, attachment);
}

/** Presses `label` on `message`; the press's own message once it shows a result. */
async function pressFor(h: Harness, message: StoredMessage, label: string): Promise<StoredMessage> {
  const it = h.fake.pressButton({ user: h.user, message, customId: buttonId(message, label) });
  const answer = await h.fake.waitFor(
    () => h.fake.interactions.get(it.id)?.callback,
    10_000,
    `the answer to ${label}`,
  );
  assert.equal(
    (answer.data?.flags ?? 0) & EPHEMERAL,
    0,
    `${label} starts a public job: ${JSON.stringify(answer.data)}`,
  );
  return finalMessage(h, it, undefined, CPU_WAIT_MS);
}

/** The placement the store recorded for the newest job of the harness's user. */
async function newestSource(h: Harness) {
  const [job] = await h.easel.queue.history(`discord:${h.user.id}`, 1);
  return job?.images[0]?.source;
}

test("Zoom Out 2× and ➡️ under a result on the fixture pipeline, the second after a restart", {
  timeout: 900_000,
}, async (t) => {
  const h = await startHarness(t, { fixturePipeline: true });
  const first = await finalMessage(
    h,
    imagine(h, "a harbour at dawn --steps 2 --size 512x512 --seed 5"),
    undefined,
    CPU_WAIT_MS,
  );
  assert.deepEqual(
    buttons(first).map((row) => row.map((button) => button.label)),
    [
      ["Vary (subtle)", "Vary (strong)", "Refine", "Upscale"],
      ["Zoom Out 2×", "Zoom Out 1.5×"],
      ["⬅️", "➡️", "⬆️", "⬇️"],
      ["🔄 Re-roll", "🗑️ Delete"],
    ],
  );
  const original = imageOf(h, first);

  const zoomed = await pressFor(h, first, "Zoom Out 2×");
  assert.match(zoomed.content, /zoomed out 2× from image 1/);
  const zoomedImage = imageOf(h, zoomed);
  const zoomedMeta = await sharp(zoomedImage).metadata();
  assert.deepEqual([zoomedMeta.width, zoomedMeta.height], [512, 512], "the same size");
  const placement = canvasLayout(512, 512, { kind: "zoom_out", factor: 2 }).placement;
  assert.deepEqual(await newestSource(h), placement, "the store keeps where the original went");
  const centre = await keptPsnr(original, zoomedImage, placement);
  const withSeam = await keptPsnr(original, zoomedImage, placement, 0);
  const border = await borderDifference(original, zoomedImage, placement);
  t.diagnostic(
    `discord zoom out 2x: centre PSNR ${centre.toFixed(1)} dB (${withSeam.toFixed(1)} dB with the seam band), border difference ${border.toFixed(1)}`,
  );
  assert.ok(centre >= 35, `the centre is the original at half size: ${centre} dB`);
  assert.ok(border > 8, `the border is new: ${border}`);
  assert.ok(
    buttons(zoomed)
      .flat()
      .some((button) => button.label === "➡️"),
    "canvas buttons again",
  );

  // A restart: the first result's message and its button ids are all that is left.
  await h.restart();
  const panned = await pressFor(h, first, "➡️");
  assert.match(panned.content, /panned right from image 1/);
  const pannedImage = imageOf(h, panned);
  const layout = canvasLayout(512, 512, { kind: "pan", direction: "right" });
  const meta = await sharp(pannedImage).metadata();
  assert.deepEqual([meta.width, meta.height], [layout.width, layout.height]);
  assert.ok(layout.width > layout.height && layout.placement.x === 0, "wider, the original on the left");
  const left = await keptPsnr(original, pannedImage, layout.placement);
  const strip = await borderDifference(original, pannedImage, layout.placement);
  t.diagnostic(
    `discord pan right: left part PSNR ${left.toFixed(1)} dB, strip difference ${strip.toFixed(1)}`,
  );
  assert.ok(left >= 35, `the left part is the original: ${left} dB`);
  assert.ok(strip > 8, `the strip is new: ${strip}`);
});

test("/imagine with a picture and zoom: 1.5 zooms the picture out; zoom without one is refused privately", async (t) => {
  const h = await startHarness(t);
  const picture = await sharp({ create: { width: 640, height: 512, channels: 3, background: "#3060c0" } })
    .png()
    .toBuffer();
  const attachment = h.fake.addSourceAttachment("harbour.png", picture);
  const it = h.fake.slashCommand({
    user: h.user,
    channel: h.channel,
    options: [
      { name: "prompt", type: 3, value: "a harbour, wider" },
      { name: "zoom", type: 10, value: 1.5 },
    ],
    attachment,
  });
  const done = await finalMessage(h, it);
  assert.match(done.content, /zoomed out 1\.5× from your picture/);
  const [job] = await h.easel.queue.history(`discord:${h.user.id}`);
  assert.deepEqual(job!.request.canvas, { kind: "zoom_out", factor: 1.5 });
  assert.deepEqual([job!.request.width, job!.request.height], [640, 512]);

  const alone = imagine(h, "a harbour", { zoom: 2 });
  const answer = await h.fake.waitFor(() => h.fake.interactions.get(alone.id)?.callback, 5000);
  assert.equal((answer.data?.flags ?? 0) & EPHEMERAL, EPHEMERAL);
  assert.match(String(answer.data?.content), /Zoom works on a picture attached to \/imagine/);
  assert.equal((await h.easel.queue.history(`discord:${h.user.id}`)).length, 1);
});
