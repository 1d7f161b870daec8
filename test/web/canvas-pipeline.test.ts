/**
 * Zoom out and pan through the API on the fixture SDXL pipeline (CPU): the result keeps the
 * original's pixels, scaled, where the job JSON's `images[i].source` says, and paints the rest.
 */
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type TestContext, test } from "node:test";
import sharp from "sharp";
import { createHttpAdapter } from "../../src/bots/web/index.js";
import { loadConfig } from "../../src/config.js";
import { silentLogger } from "../../src/logger.js";
import { startEasel } from "../../src/main.js";
import { canvasLayout } from "../../src/pipeline/canvas/index.js";
import { borderDifference, keptPsnr, SEAM_MARGIN } from "../helpers/canvas-checks.js";
import { fixtureModels } from "../helpers/fixtures.js";
import { Client, type ServerEvent } from "./support.js";

async function final(client: Client, jobId: string): Promise<ServerEvent> {
  const isFinal = (event: ServerEvent) => ["done", "failed", "cancelled"].includes(event.event);
  const last = (await client.events(jobId, isFinal, 300_000)).at(-1);
  assert.ok(last && isFinal(last), `job ${jobId} ended without a final event`);
  return last;
}

/** easel with the web API on the fixture SDXL pipeline (CPU), stopped when the test ends. */
async function fixtureWeb(t: TestContext): Promise<Client> {
  const dataDir = await mkdtemp(join(tmpdir(), "easel-web-canvas-"));
  t.after(() => rm(dataDir, { recursive: true, force: true }));
  const { base } = await fixtureModels();
  const config = loadConfig({
    EASEL_MODEL_DIR: base,
    EASEL_DEVICES: "cpu",
    EASEL_DATA_DIR: dataDir,
    EASEL_WEB_PORT: "0",
    EASEL_LOG_LEVEL: "silent",
  });
  let address: { url: string } | undefined;
  const easel = await startEasel(config, {
    logger: silentLogger,
    adapters: [createHttpAdapter({ onListening: (server) => (address = server) })],
    queue: { sweepEveryMs: 0 },
  });
  t.after(() => easel.stop());
  return new Client(address!.url);
}

test("a result, zoomed out 2x and panned right through the API on the fixture pipeline", {
  timeout: 600_000,
}, async (t) => {
  const client = await fixtureWeb(t);

  const accepted = await client.post("/api/v1/imagine", {
    text: "a harbour at dawn --steps 2 --size 512x512 --seed 5",
  });
  assert.equal(accepted.status, 202, accepted.text);
  assert.equal((await final(client, accepted.json.jobId)).event, "done");
  const job = (await client.get(`/api/v1/jobs/${accepted.json.jobId}`)).json;
  assert.equal(job.images[0].source, undefined, "a plain result has no placement");
  const original = await client.bytes(job.images[0].url);

  // Zoom Out 2x, pressed as its button says.
  const zoomButton = job.buttons.flat().find((button: { label: string }) => button.label === "Zoom Out 2×");
  const zoomed = await client.post(`/api/v1/jobs/${job.id}/actions`, zoomButton.press.action);
  assert.equal(zoomed.status, 202, zoomed.text);
  const zoomedEnd = await final(client, zoomed.json.jobId);
  assert.equal(zoomedEnd.event, "done", JSON.stringify(zoomedEnd.data));
  const zoomedJob = (await client.get(`/api/v1/jobs/${zoomed.json.jobId}`)).json;
  const [zoomedImage] = zoomedJob.images;
  assert.deepEqual([zoomedImage.width, zoomedImage.height], [512, 512], "zoom out keeps the size");
  const zoomPlacement = canvasLayout(512, 512, { kind: "zoom_out", factor: 2 }).placement;
  assert.deepEqual(zoomedImage.source, zoomPlacement);
  assert.deepEqual(zoomPlacement, { x: 128, y: 128, width: 256, height: 256 });
  const zoomedBytes = await client.bytes(zoomedImage.url);
  const centre = await keptPsnr(original, zoomedBytes, zoomPlacement);
  const withSeam = await keptPsnr(original, zoomedBytes, zoomPlacement, 0);
  const border = await borderDifference(original, zoomedBytes, zoomPlacement);
  t.diagnostic(
    `zoom out 2x: centre PSNR ${centre.toFixed(1)} dB (${withSeam.toFixed(1)} dB with the seam band), border mean difference ${border.toFixed(1)}`,
  );
  assert.ok(centre >= 35, `the centre is the original at half size: ${centre} dB`);
  assert.ok(border > 8, `the border is painted anew: ${border}`);
  assert.ok(
    zoomedJob.buttons.flat().some((button: { label: string }) => button.label === "Zoom Out 1.5×"),
    "a canvas result has the canvas buttons again",
  );

  // Pan right: wider, with the original (scaled to the bucket's height) on the left.
  const panned = await client.post(`/api/v1/jobs/${job.id}/actions`, {
    action: "pan",
    index: 0,
    direction: "right",
  });
  assert.equal(panned.status, 202, panned.text);
  assert.equal((await final(client, panned.json.jobId)).event, "done");
  const pannedJob = (await client.get(`/api/v1/jobs/${panned.json.jobId}`)).json;
  const [pannedImage] = pannedJob.images;
  const layout = canvasLayout(512, 512, { kind: "pan", direction: "right" });
  assert.deepEqual([pannedImage.width, pannedImage.height], [layout.width, layout.height]);
  assert.ok(pannedImage.width > pannedImage.height, "wider than tall");
  assert.deepEqual(pannedImage.source, layout.placement);
  assert.equal(layout.placement.x, 0, "the original sits on the left");
  const pannedBytes = await client.bytes(pannedImage.url);
  const meta = await sharp(pannedBytes).metadata();
  assert.deepEqual([meta.width, meta.height], [layout.width, layout.height]);
  const left = await keptPsnr(original, pannedBytes, layout.placement);
  const strip = await borderDifference(original, pannedBytes, layout.placement);
  t.diagnostic(
    `pan right: left part PSNR ${left.toFixed(1)} dB, new strip mean difference ${strip.toFixed(1)}`,
  );
  assert.ok(left >= 35, `the left part is the original: ${left} dB`);
  assert.ok(strip > 8, `the strip is painted anew: ${strip}`);
});

test("a repaint of a rectangle through the API on the fixture pipeline changes only that region", {
  timeout: 600_000,
}, async (t) => {
  const client = await fixtureWeb(t);
  const accepted = await client.post("/api/v1/imagine", {
    text: "a harbour at dawn --steps 2 --size 512x512 --seed 5",
  });
  assert.equal((await final(client, accepted.json.jobId)).event, "done");
  const job = (await client.get(`/api/v1/jobs/${accepted.json.jobId}`)).json;
  const original = await client.bytes(job.images[0].url);

  const region = { x: 192, y: 192, width: 128, height: 128 };
  const repainted = await client.post(`/api/v1/jobs/${job.id}/actions`, {
    action: "repaint",
    rects: [region],
    prompt: "a red boat",
    strength: 1,
  });
  assert.equal(repainted.status, 202, repainted.text);
  assert.equal((await final(client, repainted.json.jobId)).event, "done");
  const result = (await client.get(`/api/v1/jobs/${repainted.json.jobId}`)).json;
  assert.deepEqual(
    result.images[0].source,
    { x: 0, y: 0, width: 512, height: 512 },
    "a repaint keeps the whole image",
  );
  const after = await client.bytes(result.images[0].url);
  const raw = async (png: Buffer) =>
    (await sharp(png).removeAlpha().raw().toBuffer({ resolveWithObject: true })).data;
  const [a, b] = [await raw(original), await raw(after)];
  let changedInside = 0;
  let changedFar = 0;
  let inside = 0;
  for (let y = 0; y < 512; y++) {
    for (let x = 0; x < 512; x++) {
      const i = (y * 512 + x) * 3;
      const differs = a[i] !== b[i] || a[i + 1] !== b[i + 1] || a[i + 2] !== b[i + 2];
      const within =
        x >= region.x && x < region.x + region.width && y >= region.y && y < region.y + region.height;
      const dx = Math.max(region.x - x, 0, x - (region.x + region.width - 1));
      const dy = Math.max(region.y - y, 0, y - (region.y + region.height - 1));
      if (within) {
        inside++;
        if (differs) changedInside++;
      } else if (Math.hypot(dx, dy) > SEAM_MARGIN && differs) changedFar++;
    }
  }
  t.diagnostic(
    `repaint: ${changedInside}/${inside} pixels changed inside the rectangle, ${changedFar} beyond the seam`,
  );
  assert.equal(changedFar, 0, "nothing farther than the feathered seam changes");
  assert.ok(changedInside > inside / 2, `the region is repainted: ${changedInside} of ${inside}`);
});
