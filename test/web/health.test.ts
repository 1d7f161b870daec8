/**
 * /healthz and /metrics answer within 2 s whatever the queue does: 503 naming what is down when
 * the queue reports problems, fails, or does not answer; metrics serve what they have.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import type { QueueStatus } from "../../src/requests/jobs.js";
import { startFaultyServer } from "./queue-double.js";
import { requestText, send } from "./raw-http.js";
import { sharedWebEasel } from "./support.js";

const easel = sharedWebEasel();

/** The 2 s deadline, and room for a busy machine; a hanging probe never answers at all. */
const ANSWER_WITHIN_MS = 12_000;

async function get(port: number, path: string) {
  const start = performance.now();
  const { answer, connection } = await send(
    port,
    requestText("GET", path, { host: "easel.internal", connection: "close" }),
    ANSWER_WITHIN_MS,
  );
  connection.destroy();
  return { ...answer, ms: performance.now() - start };
}

function metric(text: string, line: string): number | undefined {
  const found = text.split("\n").find((each) => each.startsWith(`${line} `));
  return found === undefined ? undefined : Number(found.slice(line.length + 1));
}

test("a queue whose status never settles: /healthz is 503 after 2 s, /metrics serves what it has, and both recover", async (t) => {
  let stuck = true;
  const { server, queue } = await startFaultyServer(t, easel(), {
    status: () => (stuck ? new Promise<QueueStatus>(() => {}) : easel().easel.queue.status()),
  });

  // Probes that come together share one status() call.
  const together = await Promise.all([
    get(server.port, "/healthz"),
    get(server.port, "/healthz"),
    get(server.port, "/healthz"),
  ]);
  for (const health of together) {
    assert.equal(health.status, 503);
    assert.deepEqual(health.json, {
      status: "unavailable",
      problems: [{ component: "queue", message: "did not answer within 2 s" }],
    });
    assert.ok(health.ms >= 1900, `it waited for the deadline (${Math.round(health.ms)} ms)`);
  }
  assert.equal(queue.statusCalls, 1, "one pending status call, not one per probe");

  const metrics = await get(server.port, "/metrics");
  assert.equal(metrics.status, 200);
  assert.equal(metric(metrics.body, "easel_queue_up"), 0);
  assert.equal(metric(metrics.body, 'easel_problems{component="queue"}'), 1);
  assert.equal(metric(metrics.body, 'easel_jobs_finished_total{outcome="done"}'), 0, "counters are served");

  // The stuck call never settles; the next probe asks again and sees the queue back.
  stuck = false;
  const back = await get(server.port, "/healthz");
  assert.equal(back.status, 200, back.body);
  assert.equal(back.json.status, "ok");
  const scraped = await get(server.port, "/metrics");
  assert.equal(metric(scraped.body, "easel_queue_up"), 1);
  assert.equal(metric(scraped.body, 'easel_problems{component="queue"}'), undefined);
});

test("problems the queue reports make /healthz 503 naming them; a failing status names the queue, not its secrets", async (t) => {
  let problems: NonNullable<QueueStatus["problems"]> = [
    { component: "redis", message: "connection refused" },
    { component: "devices", message: "cuda:1 is not ready" },
  ];
  let fail = false;
  const { server } = await startFaultyServer(t, easel(), {
    status: async () => {
      if (fail) throw new Error("connect ECONNREFUSED redis://:hunter2@10.0.0.5:6379");
      return {
        waiting: 0,
        running: 0,
        devices: [{ device: "cuda:0", jobId: undefined, ready: true }],
        problems,
      };
    },
  });
  const down = await get(server.port, "/healthz");
  assert.equal(down.status, 503);
  assert.deepEqual(down.json, { status: "unavailable", problems });
  const metrics = await get(server.port, "/metrics");
  assert.equal(metric(metrics.body, 'easel_problems{component="redis"}'), 1);
  assert.equal(metric(metrics.body, "easel_queue_up"), 1);

  problems = [];
  const up = await get(server.port, "/healthz");
  assert.equal(up.status, 200);
  assert.deepEqual(up.json, {
    status: "ok",
    waiting: 0,
    running: 0,
    devices: [{ device: "cuda:0", busy: false, ready: true }],
  });

  fail = true;
  const failed = await get(server.port, "/healthz");
  assert.equal(failed.status, 503);
  assert.deepEqual(failed.json, {
    status: "unavailable",
    problems: [{ component: "queue", message: "could not report its status" }],
  });
  assert.doesNotMatch(failed.body, /hunter2|redis:/);
});
