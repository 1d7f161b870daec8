/**
 * The delete button over the web API: `POST /api/v1/jobs/{id}/actions {"action":"delete"}` presses
 * the chat service's delete button for the browser's user. The author and admins may; anyone else
 * gets the private refusal as 403, and nothing is removed.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { Client, finished, sharedWebEasel } from "./support.js";

/** A browser id of the form the server hands out (22 URL-safe characters), named as an admin. */
const ADMIN_BROWSER = "admin-browser-00000000";
const easel = sharedWebEasel({ env: { EASEL_ADMINS: `web:${ADMIN_BROWSER}` } });

async function finishedResult(client: Client, prompt: string) {
  const accepted = await client.post("/api/v1/imagine", { text: `${prompt} --steps 2` });
  assert.equal(accepted.status, 202);
  await finished(client, accepted.json.jobId);
  const job = await client.get(`/api/v1/jobs/${accepted.json.jobId}`);
  assert.equal(job.json.status, "done");
  return job.json;
}

test("a result shows a delete button the API can press, styled as danger", async () => {
  const client = new Client(easel().url);
  const job = await finishedResult(client, "a quiet harbour");
  const buttons = job.buttons.flat();
  const remove = buttons.find(
    (button: { press: { action?: { action: string } } }) => button.press.action?.action === "delete",
  );
  assert.ok(remove, JSON.stringify(buttons));
  assert.equal(remove.style, "danger");
  assert.deepEqual(remove.press, { kind: "action", action: { action: "delete" } });
});

test("the author's delete answers 200 with the job deleted, and its images are gone", async () => {
  const author = new Client(easel().url);
  const job = await finishedResult(author, "a fox in snow");
  const imageUrl: string = job.images[0].url;
  assert.equal((await author.get(imageUrl)).status, 200);

  const deleted = await author.post(`/api/v1/jobs/${job.id}/actions`, { action: "delete" });
  assert.equal(deleted.status, 200, deleted.text);
  assert.match(deleted.json.message, /Deleted/);
  assert.equal(deleted.json.job.id, job.id);
  assert.equal(deleted.json.job.status, "done");
  assert.deepEqual(deleted.json.job.deleted, { byAuthor: true });
  assert.match(deleted.json.job.text, /deleted by its author/);
  assert.deepEqual(deleted.json.job.images, []);
  assert.deepEqual(deleted.json.job.buttons, []);
  assert.equal(deleted.json.job.caption, undefined);

  assert.equal((await author.get(imageUrl)).status, 404, "the image is no longer served");
  const later = await author.get(`/api/v1/jobs/${job.id}`);
  assert.deepEqual(later.json.deleted, { byAuthor: true });
  const history = await author.get("/api/v1/history");
  assert.deepEqual(history.json.jobs.find((each: { id: string }) => each.id === job.id).deleted, {
    byAuthor: true,
  });
  // The other buttons of a deleted result say so, and start nothing.
  const reroll = await author.post(`/api/v1/jobs/${job.id}/actions`, { action: "reroll" });
  assert.equal(reroll.status, 404);
  assert.match(reroll.json.error.message, /deleted/);
  assert.equal((await author.get("/api/v1/history")).json.jobs.length, 1);
  // A second delete is answered, not an error.
  const again = await author.post(`/api/v1/jobs/${job.id}/actions`, { action: "delete" });
  assert.equal(again.status, 200);
  assert.match(again.json.message, /already deleted/);
});

test("another user's delete is refused with 403 and the result stays", async () => {
  const author = new Client(easel().url);
  const stranger = new Client(easel().url);
  const job = await finishedResult(author, "a lone pine");
  const refused = await stranger.post(`/api/v1/jobs/${job.id}/actions`, { action: "delete" });
  assert.equal(refused.status, 403);
  assert.equal(refused.json.error.code, "forbidden");
  assert.match(refused.json.error.message, /Only the person who ran this/);
  const still = await author.get(`/api/v1/jobs/${job.id}`);
  assert.equal(still.json.deleted, undefined);
  assert.equal(still.json.images.length, job.images.length);
  assert.equal((await author.get(job.images[0].url)).status, 200);
});

test("an admin's delete of someone's result is allowed and says an admin deleted it", async () => {
  const author = new Client(easel().url);
  const admin = new Client(easel().url);
  admin.cookies.set("easel_id", ADMIN_BROWSER);
  const job = await finishedResult(author, "a red barn");
  const deleted = await admin.post(`/api/v1/jobs/${job.id}/actions`, { action: "delete" });
  assert.equal(deleted.status, 200, deleted.text);
  assert.deepEqual(deleted.json.job.deleted, { byAuthor: false });
  assert.match(deleted.json.job.text, /deleted by an admin/);
  const record = await easel().easel.queue.job(job.id);
  assert.equal(record?.deleted?.byUserId, `web:${ADMIN_BROWSER}`);
});

test("a delete of an unfinished job, or with extra fields, is a 400 and removes nothing", async () => {
  const client = new Client(easel().url);
  const slow = await client.post("/api/v1/imagine", { text: "a slow tide [sim:step-ms=200] --steps 30" });
  assert.equal(slow.status, 202);
  const early = await client.post(`/api/v1/jobs/${slow.json.jobId}/actions`, { action: "delete" });
  assert.equal(early.status, 400);
  assert.match(early.json.error.message, /nothing to delete/);
  await client.delete(`/api/v1/jobs/${slow.json.jobId}`);

  const job = await finishedResult(client, "a calm lake");
  const extra = await client.post(`/api/v1/jobs/${job.id}/actions`, { action: "delete", index: 0 });
  assert.equal(extra.status, 400);
  assert.equal((await client.get(`/api/v1/jobs/${job.id}`)).json.deleted, undefined);
});
