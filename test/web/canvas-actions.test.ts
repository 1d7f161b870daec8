/**
 * The API's canvas actions (zoom_out, pan, repaint) against the real chat service and queue
 * (simulated engine): what they queue, the press each canvas button stands for, and clear private
 * errors for bad bodies, with nothing queued or stored.
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { readdir } from "node:fs/promises";
import { join } from "node:path";
import { test } from "node:test";
import sharp from "sharp";
import { Client, finished, sharedWebEasel } from "./support.js";

const easel = sharedWebEasel();

/** A finished single-image job of a fresh browser. */
async function resultOf(client: Client, text = "a harbour --steps 2 --size 768x512") {
  const accepted = await client.post("/api/v1/imagine", { text });
  assert.equal(accepted.status, 202, accepted.text);
  await finished(client, accepted.json.jobId);
  return (await client.get(`/api/v1/jobs/${accepted.json.jobId}`)).json;
}

const uploads = async () => (await readdir(join(easel().dataDir, "uploads")).catch(() => [])).length;

test("zoom_out and pan queue a canvas job of image i; the result buttons name those actions", async () => {
  const client = new Client(easel().url);
  const job = await resultOf(client);
  const presses = job.buttons
    .flat()
    .map((button: { label: string; press: unknown }) => [button.label, button.press]);
  assert.deepEqual(
    presses.filter(([label]: [string]) => /Zoom|⬅️|➡️|⬆️|⬇️/.test(label)),
    [
      ["Zoom Out 2×", { kind: "action", action: { action: "zoom_out", index: 0, factor: 2 } }],
      ["Zoom Out 1.5×", { kind: "action", action: { action: "zoom_out", index: 0, factor: 1.5 } }],
      ["⬅️", { kind: "action", action: { action: "pan", index: 0, direction: "left" } }],
      ["➡️", { kind: "action", action: { action: "pan", index: 0, direction: "right" } }],
      ["⬆️", { kind: "action", action: { action: "pan", index: 0, direction: "up" } }],
      ["⬇️", { kind: "action", action: { action: "pan", index: 0, direction: "down" } }],
    ],
  );
  const zoomed = await client.post(`/api/v1/jobs/${job.id}/actions`, { action: "zoom_out", factor: 1.25 });
  assert.equal(zoomed.status, 202, zoomed.text);
  assert.deepEqual(zoomed.json.job.settings.width, 768, "zoom out keeps the size");
  await finished(client, zoomed.json.jobId);
  const zoomedJob = (await client.get(`/api/v1/jobs/${zoomed.json.jobId}`)).json;
  assert.match(zoomedJob.caption, /zoomed out 1\.25× from image 1/);

  const panned = await client.post(`/api/v1/jobs/${job.id}/actions`, { action: "pan", direction: "left" });
  assert.equal(panned.status, 202, panned.text);
  const { width, height } = panned.json.job.settings;
  assert.ok(width / height > 768 / 512, `a pan left makes a wider image: ${width}x${height}`);
  await finished(client, panned.json.jobId);
});

test("bad canvas actions are 4xx with a clear message, and nothing is queued or stored", async () => {
  const client = new Client(easel().url);
  const job = await resultOf(client);
  const png = await sharp({ create: { width: 32, height: 32, channels: 3, background: "#fff" } })
    .png()
    .toBuffer();
  const { width, height } = job.images[0];
  const cases: Array<[unknown, number, RegExp]> = [
    [{ action: "zoom_out", factor: 3 }, 400, /factor/],
    [{ action: "zoom_out", factor: 0.5 }, 400, /factor/],
    [{ action: "pan", direction: "sideways" }, 400, /direction/],
    [{ action: "pan" }, 400, /direction/],
    [{ action: "pan", direction: "left", index: 3 }, 400, /no image 4/],
    [{ action: "repaint", prompt: "a boat" }, 400, /either mask .* or rects/],
    [
      { action: "repaint", mask: png.toString("base64"), rects: [{ x: 0, y: 0, width: 1, height: 1 }] },
      400,
      /either mask .* or rects/,
    ],
    [{ action: "repaint", mask: "not base64!!" }, 400, /mask: not base64/],
    [{ action: "repaint", mask: "QUJD" }, 400, /mask is not a PNG/],
    [
      { action: "repaint", mask: `data:image/png;base64,${Buffer.from("hello").toString("base64")}` },
      400,
      /mask is not a PNG/,
    ],
    [
      { action: "repaint", rects: [{ x: 0, y: 0, width: width + 1, height: 1 }] },
      400,
      new RegExp(`not inside the image.*${width}x${height}`),
    ],
    [{ action: "repaint", rects: [{ x: -1, y: 0, width: 1, height: 1 }] }, 400, /rects/],
    [{ action: "repaint", rects: [{ x: 0, y: 0, width: 1.5, height: 1 }] }, 400, /rects/],
    [{ action: "repaint", rects: [] }, 400, /rects/],
    [{ action: "repaint", rects: [{ x: 0, y: 0, width: 1, height: 1 }], strength: 0 }, 400, /strength/],
    [
      { action: "repaint", rects: [{ x: 0, y: 0, width: 1, height: 1 }], extra: 1 },
      400,
      /extra|Unrecognized/i,
    ],
  ];
  for (const [body, status, message] of cases) {
    const answer = await client.post(`/api/v1/jobs/${job.id}/actions`, body);
    assert.equal(answer.status, status, `${JSON.stringify(body)}: ${answer.text}`);
    assert.equal(typeof answer.json.error.code, "string");
    assert.match(answer.json.error.message, message, JSON.stringify(body));
  }
  const history = await client.get("/api/v1/history");
  assert.equal(history.json.jobs.length, 1, "only the original was queued");
  assert.equal(await uploads(), 0, "no mask was kept");
});

test("repaint takes a base64 mask or a data: URL, or rectangles, and its own prompt and strength", async () => {
  const client = new Client(easel().url);
  const job = await resultOf(client);
  const mask = await sharp({ create: { width: 64, height: 48, channels: 3, background: "#000" } })
    .composite([
      { input: { create: { width: 16, height: 16, channels: 3, background: "#fff" } }, left: 8, top: 8 },
    ])
    .png()
    .toBuffer();
  const before = await uploads();
  const byMask = await client.post(`/api/v1/jobs/${job.id}/actions`, {
    action: "repaint",
    mask: `data:image/png;base64,${mask.toString("base64")}`,
    prompt: "a red boat",
    strength: 0.6,
  });
  assert.equal(byMask.status, 202, byMask.text);
  assert.equal(await uploads(), before + 1, "the mask is kept like an upload");
  const done = await finished(client, byMask.json.jobId);
  assert.equal(done.event, "done", JSON.stringify(done.data));
  const repainted = (await client.get(`/api/v1/jobs/${byMask.json.jobId}`)).json;
  assert.match(repainted.caption, /^a red boat\n.*repainted at strength 0\.6 from image 1/);

  const byRects = await client.post(`/api/v1/jobs/${job.id}/actions`, {
    action: "repaint",
    index: 0,
    mask: undefined,
    rects: [{ x: 0, y: 0, width: 1, height: 1 }],
  });
  assert.equal(byRects.status, 202, byRects.text);
  await finished(client, byRects.json.jobId);
  const plain = await client.post(`/api/v1/jobs/${job.id}/actions`, {
    action: "repaint",
    mask: mask.toString("base64"),
  });
  assert.equal(plain.status, 202, plain.text);
  await finished(client, plain.json.jobId);
});

test("a mask larger than the other routes' body limit is taken; past the actions' limit is a 413", async () => {
  const client = new Client(easel().url);
  const job = await resultOf(client);
  // Noise does not compress: a PNG of a few hundred kilobytes, beyond the 64 KiB of other routes.
  const side = 384;
  const noise = randomBytes(side * side * 3);
  const mask = await sharp(noise, { raw: { width: side, height: side, channels: 3 } })
    .png()
    .toBuffer();
  assert.ok(mask.length > 64 * 1024, `${mask.length} bytes`);
  const big = await client.post(`/api/v1/jobs/${job.id}/actions`, {
    action: "repaint",
    mask: mask.toString("base64"),
  });
  assert.equal(big.status, 202, big.text);
  await finished(client, big.json.jobId);
  const tooBig = await client.post(`/api/v1/jobs/${job.id}/actions`, {
    action: "repaint",
    mask: "A".repeat(8 * 1024 * 1024),
  });
  assert.equal(tooBig.status, 413);
  assert.match(tooBig.json.error.message, /larger than \d+ bytes/);
});
