/** The /api/v1 routes against the real chat service and queue (simulated engine). */
import assert from "node:assert/strict";
import { test } from "node:test";
import sharp from "sharp";
import { Client, finished, sharedWebEasel, startWebEasel } from "./support.js";

/** Each test is its own browser (its own cookie jar) on one easel. */
const easel = sharedWebEasel();

const ERROR_SHAPE = (json: { error?: { code?: unknown; message?: unknown } }) =>
  typeof json?.error?.code === "string" &&
  typeof json.error.message === "string" &&
  json.error.message.length > 0;

test("imagine queues a job that ends with images, listed in the browser's history", async () => {
  const { url } = easel();
  const client = new Client(url);
  const accepted = await client.post("/api/v1/imagine", { text: "a fox --ar 16:9 --seed 7 --steps 3" });
  assert.equal(accepted.status, 202);
  assert.match(accepted.json.jobId, /^[A-Za-z0-9_-]+$/);
  assert.equal(typeof accepted.json.position, "number");
  assert.ok(client.cookies.get("easel_id"), "the first call gives the browser its id");

  const done = await finished(client, accepted.json.jobId);
  assert.equal(done.event, "done");
  const job = await client.get(`/api/v1/jobs/${accepted.json.jobId}`);
  assert.equal(job.status, 200);
  assert.equal(job.json.status, "done");
  assert.equal(job.json.images.length, 1);
  const [image] = job.json.images;
  assert.equal(image.seed, "7");
  assert.match(image.url, new RegExp(`^/api/v1/images/${accepted.json.jobId}-0\\.png$`));
  assert.match(job.json.caption, /a fox/);
  assert.match(job.json.caption, /seed 7/);
  assert.match(job.json.caption, /1344x768/);
  const labels = job.json.buttons.flat().map((button: { label: string }) => button.label);
  assert.ok(
    labels.some((label: string) => label.includes("Re-roll")),
    `a re-roll button: ${labels}`,
  );

  const png = await fetch(new URL(image.url, url));
  assert.equal(png.status, 200);
  assert.equal(png.headers.get("content-type"), "image/png");
  const meta = await sharp(Buffer.from(await png.arrayBuffer())).metadata();
  assert.equal(meta.format, "png");
  assert.equal(meta.width, image.width);
  assert.equal(meta.height, image.height);

  const history = await client.get("/api/v1/history");
  assert.equal(history.status, 200);
  assert.deepEqual(
    history.json.jobs.map((j: { id: string }) => j.id),
    [accepted.json.jobId],
  );
  const stranger = await new Client(url).get("/api/v1/history");
  assert.deepEqual(stranger.json.jobs, [], "another browser sees none of it");
});

test("structured options are read like flags", async () => {
  const { url } = easel();
  const client = new Client(url);
  const accepted = await client.post("/api/v1/imagine", {
    text: "a lighthouse",
    options: { aspect: "2:3", seed: 11, steps: 2 },
  });
  assert.equal(accepted.status, 202, accepted.text);
  await finished(client, accepted.json.jobId);
  const job = await client.get(`/api/v1/jobs/${accepted.json.jobId}`);
  assert.equal(job.json.images[0].seed, "11");
  assert.match(job.json.caption, /832x1216/);
});

test("bad input is a 400 with the error shape, and nothing is queued", async () => {
  const { url } = easel();
  const client = new Client(url);
  for (const body of [
    { text: "a fox --stpes 20" },
    { text: "a fox --ar banana" },
    { text: "" },
    { text: "a fox", options: { steps: 100000 } },
    { text: 42 },
    { prompt: "a fox" },
    { text: "a fox", extra: true },
  ]) {
    const answer = await client.post("/api/v1/imagine", body);
    assert.equal(answer.status, 400, JSON.stringify(body));
    assert.ok(ERROR_SHAPE(answer.json), answer.text);
    assert.equal(answer.json.error.code, "invalid_input");
  }
  const unknownFlag = await client.post("/api/v1/imagine", { text: "a fox --stpes 20" });
  assert.match(unknownFlag.json.error.message, /--stpes/);
  assert.match(unknownFlag.json.error.message, /--steps/);
  const malformed = await client.post("/api/v1/imagine", "{not json");
  assert.equal(malformed.status, 400);
  assert.ok(ERROR_SHAPE(malformed.json));
  const history = await client.get("/api/v1/history");
  assert.deepEqual(history.json.jobs, []);
});

test("help is an answer, not a job", async () => {
  const { url } = easel();
  const client = new Client(url);
  const help = await client.post("/api/v1/imagine", { text: "help" });
  assert.equal(help.status, 200);
  assert.match(help.json.message, /--ar/);
  const info = await client.get("/api/v1/info");
  assert.equal(info.status, 200);
  assert.equal(info.json.help, help.json.message);
  assert.equal(info.json.demoModel, false);
});

test("past the per-user limit imagine answers 429 with the error shape", async () => {
  const { url } = easel();
  const client = new Client(url);
  const limit = easel().easel.config.queue.maxJobsPerUser;
  const accepted: string[] = [];
  for (let i = 0; i < limit; i++) {
    const answer = await client.post("/api/v1/imagine", { text: `slow ${i} [sim:step-ms=50] --steps 40` });
    assert.equal(answer.status, 202);
    accepted.push(answer.json.jobId);
  }
  const refused = await client.post("/api/v1/imagine", { text: "one too many" });
  assert.equal(refused.status, 429);
  assert.ok(ERROR_SHAPE(refused.json));
  assert.equal(refused.json.error.code, "queue_full");
  const other = new Client(url);
  const theirs = await other.post("/api/v1/imagine", { text: "someone else --steps 1" });
  assert.equal(theirs.status, 202, "the limit is per user");
  const history = await client.get("/api/v1/history");
  assert.equal(history.json.jobs.length, limit);
  for (const jobId of accepted) await client.delete(`/api/v1/jobs/${jobId}`);
  await finished(other, theirs.json.jobId);
});

test("unknown jobs and routes are 404 with the error shape", async () => {
  const { url } = easel();
  const client = new Client(url);
  for (const answer of [
    await client.get("/api/v1/jobs/nope"),
    await client.get("/api/v1/jobs/nope/events"),
    await client.delete("/api/v1/jobs/nope"),
    await client.post("/api/v1/jobs/nope/actions", { action: "reroll" }),
    await client.get("/api/v1/nothing-here"),
  ]) {
    assert.equal(answer.status, 404, answer.text);
    assert.ok(ERROR_SHAPE(answer.json), answer.text);
  }
});

test("cancel stops a running job; only its author may cancel it", async () => {
  const { url } = easel();
  const author = new Client(url);
  const accepted = await author.post("/api/v1/imagine", { text: "long [sim:step-ms=40] --steps 100" });
  assert.equal(accepted.status, 202);
  await author.events(accepted.json.jobId, (event) => event.event === "progress");

  const stranger = new Client(url);
  const refused = await stranger.delete(`/api/v1/jobs/${accepted.json.jobId}`);
  assert.equal(refused.status, 403);
  assert.equal(refused.json.error.code, "forbidden");

  const cancelled = await author.delete(`/api/v1/jobs/${accepted.json.jobId}`);
  assert.equal(cancelled.status, 202, cancelled.text);
  const last = await finished(author, accepted.json.jobId);
  assert.equal(last.event, "cancelled");
  const job = await author.get(`/api/v1/jobs/${accepted.json.jobId}`);
  assert.equal(job.json.status, "cancelled");
  assert.deepEqual(job.json.buttons, []);

  // The job exists and has ended: said so, with the job, not a 404 or an error.
  const again = await author.delete(`/api/v1/jobs/${accepted.json.jobId}`);
  assert.equal(again.status, 200, again.text);
  assert.equal(again.json.message, "This job was already cancelled.");
  assert.equal(again.json.job.status, "cancelled");
});

test("cancel of a finished job says it has ended; upscale of a cancelled one says it has no images", async () => {
  const { url } = easel();
  const client = new Client(url);
  const done = await client.post("/api/v1/imagine", { text: "a fox --steps 1" });
  await finished(client, done.json.jobId);
  const cancel = await client.delete(`/api/v1/jobs/${done.json.jobId}`);
  assert.equal(cancel.status, 200, cancel.text);
  assert.equal(cancel.json.message, "This job has already finished, so there is nothing to cancel.");
  assert.equal(cancel.json.job.status, "done");

  const slow = await client.post("/api/v1/imagine", { text: "slow [sim:step-ms=40] --steps 100" });
  await client.delete(`/api/v1/jobs/${slow.json.jobId}`);
  await finished(client, slow.json.jobId);
  for (const action of ["upscale", "refine", "vary", "reroll"]) {
    const pressed = await client.post(`/api/v1/jobs/${slow.json.jobId}/actions`, { action });
    assert.equal(pressed.status, 400, pressed.text);
    assert.ok(ERROR_SHAPE(pressed.json));
    assert.doesNotMatch(pressed.json.error.message, /hasn't finished/);
  }
});

test("a queued job can be cancelled before it starts", async () => {
  const { url } = easel();
  const client = new Client(url);
  const first = await client.post("/api/v1/imagine", { text: "first [sim:step-ms=40] --steps 100" });
  const second = await client.post("/api/v1/imagine", { text: "second --steps 2" });
  assert.equal(second.status, 202);
  assert.ok(second.json.position >= 1, `waits behind the first: ${second.json.position}`);
  const cancelled = await client.delete(`/api/v1/jobs/${second.json.jobId}`);
  assert.equal(cancelled.status, 202);
  assert.equal(cancelled.json.job.status, "cancelled");
  await client.delete(`/api/v1/jobs/${first.json.jobId}`);
});

test("actions start new jobs from a result: reroll, vary, refine, upscale", async () => {
  const { url } = easel();
  const client = new Client(url);
  const original = await client.post("/api/v1/imagine", { text: "a fox --seed 7 --steps 2" });
  await finished(client, original.json.jobId);
  const path = `/api/v1/jobs/${original.json.jobId}/actions`;

  const reroll = await client.post(path, { action: "reroll" });
  assert.equal(reroll.status, 202, reroll.text);
  assert.notEqual(reroll.json.jobId, original.json.jobId);
  await finished(client, reroll.json.jobId);
  const rerolled = await client.get(`/api/v1/jobs/${reroll.json.jobId}`);
  assert.notEqual(rerolled.json.images[0].seed, "7", "a re-roll has a new seed");

  const vary = await client.post(path, { action: "vary", index: 0, strength: "strong" });
  assert.equal(vary.status, 202, vary.text);
  const varied = await finished(client, vary.json.jobId);
  assert.equal(varied.event, "done");
  assert.match(varied.data.caption, /variation 0\.45/);

  const refine = await client.post(path, { action: "refine" });
  assert.equal(refine.status, 202, refine.text);
  const refined = await finished(client, refine.json.jobId);
  assert.match(refined.data.caption, /refined from image 1/);

  const upscale = await client.post(path, { action: "upscale", index: 0 });
  assert.equal(upscale.status, 202, upscale.text);
  const upscaled = await finished(client, upscale.json.jobId);
  assert.match(upscaled.data.caption, /2048x2048/);

  const history = await client.get("/api/v1/history");
  assert.equal(history.json.jobs.length, 5);
});

test("bad actions are refused with the error shape", async () => {
  const { url } = easel();
  const client = new Client(url);
  const original = await client.post("/api/v1/imagine", { text: "a fox --steps 2" });
  await finished(client, original.json.jobId);
  const path = `/api/v1/jobs/${original.json.jobId}/actions`;
  for (const body of [
    { action: "explode" },
    { action: "vary", strength: "wild" },
    { action: "vary", index: -1 },
    { action: "reroll", index: 0 },
    {},
  ]) {
    const answer = await client.post(path, body);
    assert.equal(answer.status, 400, JSON.stringify(body));
    assert.equal(answer.json.error.code, "invalid_input");
  }
  const noSuchImage = await client.post(path, { action: "vary", index: 3 });
  assert.equal(noSuchImage.status, 400);
  assert.match(noSuchImage.json.error.message, /no image 4/);
  const history = await client.get("/api/v1/history");
  assert.equal(history.json.jobs.length, 1, "nothing was queued");
});

test("an error of ours is a 500 `internal` in the error shape, never a 200 with a message", async (t) => {
  const own = await startWebEasel(t);
  const client = new Client(own.url);
  const done = await client.post("/api/v1/imagine", { text: "a fox --steps 1" });
  await finished(client, done.json.jobId);
  // The job store closes with the queue: the chat service's next read fails with an error of no code.
  await own.easel.queue.stop();
  for (const answer of [
    await client.post("/api/v1/imagine", { text: "a fox --steps 1" }),
    await client.post(`/api/v1/jobs/${done.json.jobId}/actions`, { action: "reroll" }),
  ]) {
    assert.equal(answer.status, 500, answer.text);
    assert.ok(ERROR_SHAPE(answer.json), answer.text);
    assert.equal(answer.json.error.code, "internal");
  }
});
