/** /healthz and /metrics, with and without the chat; metrics from the queue's events. */
import assert from "node:assert/strict";
import { test } from "node:test";
import { Client, finished, startWebEasel } from "./support.js";

function metricValue(text: string, name: string, labels = ""): number | undefined {
  const line = text
    .split("\n")
    .find((l) => l.startsWith(`${name}${labels} `) || l.startsWith(`${name}${labels}{`));
  return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(" ") + 1));
}

test("metrics count jobs by outcome, failures by code, waits, durations and device busy time", async (t) => {
  const { url } = await startWebEasel(t);
  const client = new Client(url);
  const before = await client.get("/metrics");
  assert.equal(before.status, 200);
  assert.match(before.headers.get("content-type") ?? "", /^text\/plain/);
  assert.equal(metricValue(before.text, "easel_jobs_finished_total", '{outcome="done"}'), 0);
  assert.equal(metricValue(before.text, "easel_queue_waiting_jobs"), 0);

  const ok = await client.post("/api/v1/imagine", { text: "fine --steps 2" });
  await finished(client, ok.json.jobId);
  const bad = await client.post("/api/v1/imagine", { text: "broken [sim:fail] --steps 4" });
  const failed = await finished(client, bad.json.jobId);
  assert.equal(failed.event, "failed");
  assert.doesNotMatch(failed.data.error.message, /ONNXRuntimeError|Conv node/, "no internals for users");
  const slow = await client.post("/api/v1/imagine", { text: "slow [sim:step-ms=30] --steps 100" });
  await client.events(slow.json.jobId, (event) => event.event === "progress");
  const running = await client.get("/metrics");
  assert.equal(metricValue(running.text, "easel_queue_running_jobs"), 1);
  assert.equal(metricValue(running.text, "easel_device_busy", '{device="cpu"}'), 1);
  await client.delete(`/api/v1/jobs/${slow.json.jobId}`);
  await finished(client, slow.json.jobId);

  const after = (await client.get("/metrics")).text;
  assert.equal(metricValue(after, "easel_jobs_finished_total", '{outcome="done"}'), 1);
  assert.equal(metricValue(after, "easel_jobs_finished_total", '{outcome="failed"}'), 1);
  assert.equal(metricValue(after, "easel_jobs_finished_total", '{outcome="cancelled"}'), 1);
  assert.equal(metricValue(after, "easel_job_failures_total", '{code="device_failure"}'), 1);
  assert.equal(metricValue(after, "easel_job_wait_seconds_count"), 1);
  assert.equal(metricValue(after, "easel_job_duration_seconds_count", '{outcome="done"}'), 1);
  assert.equal(metricValue(after, "easel_job_duration_seconds_count", '{outcome="cancelled"}'), 1);
  assert.ok((metricValue(after, "easel_device_busy_seconds_total", '{device="cpu"}') ?? 0) > 0);
  assert.equal(metricValue(after, "easel_device_busy", '{device="cpu"}'), 0);
  assert.doesNotMatch(after, /^nodejs_|^process_/m, "our own registry, not prom-client's global one");

  const health = await client.get("/healthz");
  assert.equal(health.status, 200);
  assert.equal(health.json.status, "ok");
  // Queues that report readiness add `ready` to each device.
  assert.deepEqual(
    health.json.devices.map(({ device, busy }: { device: string; busy: boolean }) => ({ device, busy })),
    [{ device: "cpu", busy: false }],
  );
});

test("with the chat off, /healthz and /metrics are still served, and nothing else", async (t) => {
  const { url } = await startWebEasel(t, { env: { EASEL_WEB: "off" } });
  const client = new Client(url);
  assert.equal((await client.get("/healthz")).status, 200);
  assert.equal((await client.get("/metrics")).status, 200);
  for (const path of ["/", "/app.js", "/api/v1/info", "/api/v1/history"]) {
    const answer = await client.get(path);
    assert.equal(answer.status, 404, path);
    assert.equal(answer.json.error.code, "not_found");
  }
  assert.equal((await client.post("/api/v1/imagine", { text: "a fox" })).status, 404);
});
