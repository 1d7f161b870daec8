/**
 * Output moderation over the web API, with the real classifier (threshold 0 flags every image, 1
 * none): job JSON says how each image is shown and carries its scores; a blurred image's URL is its
 * blurred copy for everyone, its original only for the browser that asked for it (and admins); a
 * spoiler's original for anyone who asks; a withheld image for admins alone until one releases it.
 */
import assert from "node:assert/strict";
import { type TestContext, test } from "node:test";
import sharp from "sharp";
import { BROWSER_COOKIE } from "../../src/bots/web/cookies.js";
import { Client, finished, startWebEasel, type WebEasel } from "./support.js";

/** A browser id of the form the server hands out, named as an admin. */
const ADMIN_BROWSER = "admin-browser-00000000";

async function moderatedWeb(
  t: TestContext,
  mode: string,
  threshold: string,
  env: Record<string, string> = {},
): Promise<WebEasel> {
  return startWebEasel(t, {
    env: {
      EASEL_MODERATION: mode,
      EASEL_MODERATION_THRESHOLD: threshold,
      EASEL_ADMINS: `web:${ADMIN_BROWSER}`,
      ...env,
    },
  });
}

async function result(client: Client, prompt: string) {
  const accepted = await client.post("/api/v1/imagine", { text: `${prompt} --steps 2` });
  assert.equal(accepted.status, 202, accepted.text);
  await finished(client, accepted.json.jobId);
  const job = await client.get(`/api/v1/jobs/${accepted.json.jobId}`);
  assert.equal(job.json.status, "done");
  return job.json;
}

function adminClient(web: WebEasel): Client {
  const admin = new Client(web.url);
  admin.cookies.set(BROWSER_COOKIE, ADMIN_BROWSER);
  return admin;
}

test("blur mode, threshold 0: everyone gets the blurred copy; the original is the requester's and the admins'", async (t) => {
  // Anyone may press a result's buttons here: the original must stay the requester's all the same.
  const web = await moderatedWeb(t, "blur", "0", { EASEL_BUTTONS: "anyone" });
  const author = new Client(web.url);
  const job = await result(author, "a lighthouse");
  const [image] = job.images;
  assert.equal(image.display, "blur");
  assert.equal(image.url, `/api/v1/images/${job.id}-0-blurred.jpg`);
  assert.equal(image.original, `/api/v1/images/${job.id}-0.png`);
  assert.equal(image.moderation.flagged, true);
  assert.equal(image.moderation.action, "blur");
  const show = job.buttons.flat().find((button: { press: { kind: string } }) => button.press.kind === "show");
  assert.deepEqual(show?.press, { kind: "show", index: 0, url: image.original });

  const stored = await web.easel.queue.images.get(`${job.id}-0`);
  const other = new Client(web.url);
  await other.get("/api/v1/history"); // a browser id of its own
  const blurred = await other.bytes(image.url);
  const meta = await sharp(blurred).metadata();
  assert.deepEqual([meta.format, meta.width, meta.height], ["jpeg", stored!.width, stored!.height]);
  assert.notDeepEqual(new Uint8Array(blurred), stored!.data);

  const refused = await other.get(image.original);
  assert.equal(refused.status, 403);
  assert.match(refused.json.error.message, /Only the person who made this image/);
  assert.deepEqual(new Uint8Array(await author.bytes(image.original)), stored!.data);
  assert.deepEqual(new Uint8Array(await adminClient(web).bytes(image.original)), stored!.data);

  // Nor is anything made from it for them: the new job would be theirs, and so would its original.
  const actionsUrl = `/api/v1/jobs/${job.id}/actions`;
  for (const body of [
    { action: "refine", index: 0 },
    { action: "upscale", index: 0 },
    { action: "zoom_out", index: 0, factor: 2 },
    { action: "pan", index: 0, direction: "left" },
    { action: "repaint", index: 0, rects: [{ x: 0, y: 0, width: 4, height: 4 }] },
  ]) {
    const refusedAction = await other.post(actionsUrl, body);
    assert.equal(refusedAction.status, 403, `${body.action}: ${refusedAction.text}`);
    assert.match(refusedAction.json.error.message, /only the person who made it/);
  }
  // A variation needs no pixels of the image (its seed and prompt): it is theirs to make.
  const varied = await other.post(actionsUrl, { action: "vary", index: 0, strength: "subtle" });
  assert.equal(varied.status, 202, varied.text);
  await finished(other, varied.json.jobId);
  // The author's zoom out starts from the original; its re-roll and variations keep that source,
  // so they too are the author's alone.
  const zoom = await author.post(actionsUrl, { action: "zoom_out", index: 0, factor: 2 });
  assert.equal(zoom.status, 202, zoom.text);
  await finished(author, zoom.json.jobId);
  for (const body of [{ action: "reroll" }, { action: "vary", index: 0, strength: "strong" }]) {
    const refusedAction = await other.post(`/api/v1/jobs/${zoom.json.jobId}/actions`, body);
    assert.equal(refusedAction.status, 403, `${body.action}: ${refusedAction.text}`);
    assert.match(refusedAction.json.error.message, new RegExp(`Image 1 of job .${job.id}. is blurred`));
  }

  // Deleted by its author: neither the copy nor the original is served any more.
  assert.equal((await author.post(`/api/v1/jobs/${job.id}/actions`, { action: "delete" })).status, 200);
  assert.equal((await other.get(image.url)).status, 404);
  assert.equal((await author.get(image.original)).status, 404);
});

test("spoiler mode: the blurred copy is shown first, and anyone may load the original", async (t) => {
  const web = await moderatedWeb(t, "spoiler", "0");
  const job = await result(new Client(web.url), "a lighthouse");
  assert.equal(job.images[0].display, "spoiler");
  assert.match(job.images[0].url, /-0-blurred\.jpg$/);
  const other = new Client(web.url);
  assert.equal((await other.get(job.images[0].original)).status, 200);
});

test("threshold 1: images are plain, with their scores, no original URL and no Show button", async (t) => {
  const web = await moderatedWeb(t, "blur", "1");
  const job = await result(new Client(web.url), "a lighthouse");
  const [image] = job.images;
  assert.equal(image.display, "plain");
  assert.equal(image.url, `/api/v1/images/${job.id}-0.png`);
  assert.equal(image.original, undefined);
  assert.equal(image.moderation.flagged, false);
  assert.ok(image.moderation.score >= 0 && image.moderation.score <= 1);
  assert.ok(!job.buttons.flat().some((button: { press: { kind: string } }) => button.press.kind === "show"));
  assert.equal((await new Client(web.url).get(image.url)).status, 200);
});

test("withhold mode: no URL, a note for the requester, admins only; released, it is everyone's", async (t) => {
  const web = await moderatedWeb(t, "withhold", "0");
  const author = new Client(web.url);
  const job = await result(author, "a lighthouse");
  const [image] = job.images;
  assert.equal(image.display, "withheld");
  assert.equal(image.url, undefined);
  assert.equal(image.moderation.action, "withhold");
  assert.match(job.text, /withheld by the content filter/);
  assert.ok(job.notice.includes(job.id), job.notice);
  // Its buttons go with it: only the job's own remain.
  const actions = job.buttons
    .flat()
    .map((button: { press: { action?: { action: string } } }) => button.press.action?.action);
  assert.deepEqual(actions.sort(), ["delete", "reroll"]);

  const original: string = image.original;
  assert.equal((await author.get(original)).status, 403, "not even the requester");
  assert.match((await author.get(original)).json.error.message, /only an admin/);
  assert.equal((await author.get(`/api/v1/images/${job.id}-0-blurred.jpg`)).status, 404);
  assert.equal((await adminClient(web).get(original)).status, 200);
  // Nothing is made from it either, whatever the page shows: an API call by hand is refused.
  const actionsUrl = `/api/v1/jobs/${job.id}/actions`;
  for (const body of [
    { action: "refine", index: 0 },
    { action: "zoom_out", index: 0, factor: 2 },
    { action: "pan", index: 0, direction: "right" },
    { action: "repaint", index: 0, rects: [{ x: 0, y: 0, width: 4, height: 4 }] },
  ]) {
    const refused = await author.post(actionsUrl, body);
    assert.equal(refused.status, 403, `${body.action}: ${refused.text}`);
    assert.match(refused.json.error.message, /only an admin/);
  }

  const reply = await web.easel.chat.admin(
    "release",
    { job: job.id, image: "1" },
    { userId: `web:${ADMIN_BROWSER}` },
    { platform: "web" },
  );
  assert.equal(reply.kind, "info", JSON.stringify(reply));
  const after = await author.get(`/api/v1/jobs/${job.id}`);
  assert.equal(after.json.images[0].display, "plain");
  assert.equal(after.json.images[0].url, original);
  assert.ok(after.json.images[0].moderation.released);
  assert.equal(after.json.notice, undefined);
  assert.equal((await new Client(web.url).get(original)).status, 200, "anyone, once released");
  const refined = await author.post(actionsUrl, { action: "refine", index: 0 });
  assert.equal(refined.status, 202, refined.text);
});
