/** Stopping easel in the middle of a job and starting it again on the same data folder. */
import assert from "node:assert/strict";
import { test } from "node:test";
import { Client, finished, startWebEasel, tempDir } from "./support.js";

test("a job interrupted by a restart completes afterwards, and the browser's history survives", async (t) => {
  const dataDir = await tempDir(t);
  const first = await startWebEasel(t, { dataDir });
  const before = new Client(first.url);
  const earlier = await before.post("/api/v1/imagine", { text: "finished before --steps 2 --seed 5" });
  await finished(before, earlier.json.jobId);
  const job = await before.post("/api/v1/imagine", {
    text: "interrupted [sim:step-ms=40] --steps 25 --seed 9",
  });
  assert.equal(job.status, 202);
  await before.events(job.json.jobId, (event) => event.event === "progress");
  await first.stop();

  const second = await startWebEasel(t, { dataDir });
  const after = new Client(second.url);
  after.cookies.set("easel_id", before.cookies.get("easel_id")!);
  const history = await after.get("/api/v1/history");
  assert.deepEqual(
    history.json.jobs.map((j: { id: string }) => j.id),
    [job.json.jobId, earlier.json.jobId],
    "newest first, both kept",
  );
  assert.ok(["queued", "running", "done"].includes(history.json.jobs[0].status), history.json.jobs[0].status);
  const end = await finished(after, job.json.jobId);
  assert.equal(end.event, "done", "the interrupted job runs again after the restart");
  assert.equal(end.data.images[0].seed, "9");
  const image = await fetch(new URL(end.data.images[0].url, second.url));
  assert.equal(image.status, 200);
  const old = await after.get(`/api/v1/jobs/${earlier.json.jobId}`);
  assert.equal(old.json.status, "done");
  assert.equal((await fetch(new URL(old.json.images[0].url, second.url))).status, 200);
});
