/**
 * Output moderation as the web API shows it: easel started for real (the web adapter, the chat
 * service, the embedded queue on the simulated engine, the real classifier). The job JSON carries
 * each image's decision, and /metrics counts decisions by action.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { Client, finished, startWebEasel } from "../web/support.js";

function metric(text: string, line: string): number | undefined {
  const found = text.split("\n").find((each) => each.startsWith(`${line} `));
  return found === undefined ? undefined : Number(found.slice(line.length + 1));
}

interface ImageJson {
  index: number;
  moderation?: { flagged: boolean; score: number; label: string; action: string; released?: unknown };
}

async function madeImages(client: Client, text: string): Promise<ImageJson[]> {
  const accepted = await client.post("/api/v1/imagine", { text });
  assert.equal(accepted.status, 202, accepted.text);
  const done = await finished(client, accepted.json.jobId);
  assert.equal(done.event, "done");
  const job = await client.get(`/api/v1/jobs/${accepted.json.jobId}`);
  assert.equal(job.status, 200);
  return job.json.images as ImageJson[];
}

test("spoiler at threshold 0: the job JSON shows every image flagged with its score, and /metrics counts them", async (t) => {
  const { url } = await startWebEasel(t, {
    env: { EASEL_MODERATION: "spoiler", EASEL_MODERATION_THRESHOLD: "0" },
  });
  const client = new Client(url);
  const images = await madeImages(client, "a fox --count 2 --steps 2 --seed 3");
  assert.equal(images.length, 2);
  for (const image of images) {
    assert.ok(image.moderation, `image ${image.index} has no moderation field`);
    assert.equal(image.moderation.flagged, true);
    assert.equal(image.moderation.action, "spoiler");
    assert.ok(image.moderation.score >= 0 && image.moderation.score <= 1);
    assert.match(image.moderation.label, /^(Drawing|Hentai|Neutral|Porn|Sexy)$/);
  }
  const metrics = await client.get("/metrics");
  assert.equal(metric(metrics.text, 'easel_moderation_decisions_total{action="spoiler",flagged="true"}'), 2);
});

test("threshold 1: no image is flagged, the scores are still shown; with moderation off there is no field", async (t) => {
  const strict = await startWebEasel(t, {
    env: { EASEL_MODERATION: "spoiler", EASEL_MODERATION_THRESHOLD: "1" },
  });
  const client = new Client(strict.url);
  const [image] = await madeImages(client, "a fox --steps 2");
  assert.deepEqual(
    { flagged: image?.moderation?.flagged, action: image?.moderation?.action },
    { flagged: false, action: "none" },
  );
  assert.equal(typeof image?.moderation?.score, "number");
  const metrics = await client.get("/metrics");
  assert.equal(metric(metrics.text, 'easel_moderation_decisions_total{action="none",flagged="false"}'), 1);
  await strict.stop();

  const off = await startWebEasel(t);
  const [plain] = await madeImages(new Client(off.url), "a fox --steps 2");
  assert.equal(plain?.moderation, undefined);
  const offMetrics = await new Client(off.url).get("/metrics");
  assert.ok(!offMetrics.text.includes("easel_moderation_decisions_total{"), "no decisions counted");
});
