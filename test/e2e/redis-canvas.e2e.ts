/**
 * Canvas jobs on the scale-out backend: a real redis-server, the gateway with a worker in-process
 * on the fixture SDXL pipeline (CPU). A repaint's mask travels to the worker beside the source
 * image, and each result's placement comes back with its metadata into the job store, beside the
 * gateway's moderation decision.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import sharp from "sharp";
import { canvasLayout } from "../../src/pipeline/canvas/index.js";
import { sdxlEngineFor } from "../../src/queue/embedded.js";
import type { JobQueue } from "../../src/queue/job-queue.js";
import { fixtureModels } from "../helpers/fixtures.js";
import { gateway, redisConfig, redisServer, request, tempDir, until } from "../redis/support.js";

async function doneJob(queue: JobQueue, jobId: string) {
  await until(
    async () =>
      (await queue.job(jobId))?.status !== "queued" && (await queue.job(jobId))?.status !== "running",
    `job ${jobId}`,
    300_000,
  );
  const job = await queue.job(jobId);
  assert.equal(job?.status, "done", JSON.stringify(job?.error));
  return job!;
}

test("zoom out and a masked repaint through Redis keep their placements and read their mask", {
  timeout: 600_000,
}, async (t) => {
  const server = await redisServer(t);
  const { base } = await fixtureModels();
  const plain = redisConfig(await tempDir(t), server.url);
  // Moderation flags every image (threshold 0): a canvas result comes back classified too.
  const moderation = { ...plain.moderation, mode: "spoiler" as const, threshold: 0 };
  const config = { ...plain, modelDir: base, demoModel: false, moderation };
  const queue = await gateway(t, config, {
    devices: ["cpu"],
    engineFor: (device) => sdxlEngineFor(config, device),
  });
  await queue.start();

  const size = { width: 512, height: 512, steps: 2 };
  const { jobId: originalId } = await queue.submit(request("ann", size));
  const original = await doneJob(queue, originalId);
  assert.equal(original.images[0]!.source, undefined);

  const source = { jobId: originalId, imageIndex: 0, strength: 0.9, upscale: 1 as const };
  const { jobId: zoomId } = await queue.submit(
    request("ann", { ...size, source, canvas: { kind: "zoom_out", factor: 2 } }),
  );
  const zoomed = await doneJob(queue, zoomId);
  assert.deepEqual(
    zoomed.images[0]!.source,
    canvasLayout(512, 512, { kind: "zoom_out", factor: 2 }).placement,
  );
  // The placement and the gateway's decision side by side in the store.
  assert.equal(zoomed.images[0]!.moderation?.flagged, true);
  assert.equal(zoomed.images[0]!.moderation?.action, "spoiler");

  const mask = await sharp({ create: { width: 512, height: 512, channels: 3, background: "#000" } })
    .composite([
      { input: { create: { width: 64, height: 64, channels: 3, background: "#fff" } }, left: 0, top: 0 },
    ])
    .png()
    .toBuffer();
  const maskUploadId = await queue.images.putUpload({
    mime: "image/png",
    data: mask,
    width: 512,
    height: 512,
  });
  const { jobId: repaintId } = await queue.submit(
    request("ann", {
      ...size,
      source: { ...source, strength: 1 },
      canvas: { kind: "repaint", maskUploadId },
    }),
  );
  const repainted = await doneJob(queue, repaintId);
  assert.deepEqual(repainted.images[0]!.source, { x: 0, y: 0, width: 512, height: 512 });
  const pixels = async (imageId: string) => {
    const image = await queue.images.get(imageId);
    return (await sharp(image!.data).removeAlpha().raw().toBuffer()).subarray(0);
  };
  const [before, after] = [await pixels(original.images[0]!.id), await pixels(repainted.images[0]!.id)];
  const at = (x: number, y: number) => (y * 512 + x) * 3;
  assert.notDeepEqual(
    after.subarray(at(0, 10), at(32, 10)),
    before.subarray(at(0, 10), at(32, 10)),
    "the mask's square is repainted",
  );
  assert.deepEqual(
    after.subarray(at(0, 300)),
    before.subarray(at(0, 300)),
    "far from the mask, every pixel is kept",
  );
});
