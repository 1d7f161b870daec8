/** A job's Server-Sent Events: their order, live previews, late subscribers, and how streams end. */
import assert from "node:assert/strict";
import { test } from "node:test";
import { Client, finished, type ServerEvent, sharedWebEasel } from "./support.js";

const easel = sharedWebEasel({ env: { EASEL_PREVIEW_EVERY: "1" } });

const names = (events: ServerEvent[]) => events.map((event) => event.event).join(" ");

test("a job's events come in order: queued, started, progress with previews, done; then the stream ends", async () => {
  const client = new Client(easel().url);
  const blocker = await client.post("/api/v1/imagine", { text: "in front [sim:step-ms=30] --steps 150" });
  const job = await client.post("/api/v1/imagine", { text: "a fox [sim:step-ms=60] --steps 5 --seed 3" });
  assert.equal(job.status, 202);
  assert.equal(job.json.position, 1);
  const streaming = client.events(job.json.jobId);
  await client.events(blocker.json.jobId, (event) => event.event === "progress");
  await new Promise((resolve) => setTimeout(resolve, 100));
  await client.delete(`/api/v1/jobs/${blocker.json.jobId}`);
  const events = await streaming;

  assert.match(names(events), /^queued (queued )*started (progress )+done$/, names(events));
  assert.equal(events[0]!.data.position, 1);
  assert.equal(events[0]!.data.status, "queued");
  const steps = events.filter((e) => e.event === "progress").map((e) => e.data.step as number);
  assert.deepEqual(
    steps,
    [...steps].sort((a, b) => a - b),
    "steps only go forward",
  );
  assert.equal(new Set(steps).size, steps.length, "no step twice");
  const progress = events.find((e) => e.event === "progress")!;
  assert.equal(progress.data.total, 5);
  assert.match(progress.data.preview, /^data:image\/(png|jpeg|webp);base64,/);
  const done = events.at(-1)!;
  assert.equal(done.data.status, "done");
  assert.equal(done.data.images[0].seed, "3");
  assert.equal(done.data.preview, undefined);
  const ids = events.map((e) => Number(e.id));
  assert.deepEqual(
    ids,
    ids.map((_, i) => i + 1),
    "event ids count up",
  );
});

test("a late subscriber to a finished job gets its final event at once, and the stream ends", async () => {
  const client = new Client(easel().url);
  const job = await client.post("/api/v1/imagine", { text: "a fox --steps 2" });
  await finished(client, job.json.jobId);
  const late = await client.events(job.json.jobId);
  assert.equal(names(late), "done");
  assert.equal(late[0]!.data.images.length, 1);
  // Anyone with the id may watch (as anyone in a channel sees a result); still one event.
  const other = await new Client(easel().url).events(job.json.jobId);
  assert.equal(names(other), "done");
});

test("a late subscriber to a running job starts from its current step", async () => {
  const client = new Client(easel().url);
  const job = await client.post("/api/v1/imagine", { text: "a fox [sim:step-ms=20] --steps 40" });
  await client.events(job.json.jobId, (event) => event.event === "progress" && event.data.step >= 10);
  const late = await client.events(job.json.jobId);
  assert.match(names(late), /^started (progress )*done$/, names(late));
  assert.ok(late[0]!.data.step >= 10, `starts at step ${late[0]!.data.step}`);
});

test("failed and cancelled jobs end their streams with that event", async () => {
  const client = new Client(easel().url);
  const broken = await client.post("/api/v1/imagine", { text: "a fox [sim:fail] --steps 6" });
  const failed = await client.events(broken.json.jobId);
  assert.equal(failed.at(-1)!.event, "failed");
  assert.match(failed.at(-1)!.data.error.message, /failed/i);
  assert.deepEqual(failed.at(-1)!.data.images, []);

  const long = await client.post("/api/v1/imagine", { text: "a fox [sim:step-ms=20] --steps 150" });
  const watching = client.events(long.json.jobId);
  await client.events(long.json.jobId, (event) => event.event === "progress");
  await client.delete(`/api/v1/jobs/${long.json.jobId}`);
  const cancelled = await watching;
  assert.equal(cancelled.at(-1)!.event, "cancelled");
  assert.equal(cancelled.at(-1)!.data.status, "cancelled");
});
