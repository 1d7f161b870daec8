/**
 * A failure inside the service is an HTTP error, never a success: every refusal of the chat
 * service carries a code, one table maps codes to statuses, and an internal failure is a 500
 * `internal` whose cause is in the server's log and not in the body.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { statusOf } from "../../src/bots/web/http-errors.js";
import { EaselError } from "../../src/errors.js";
import { startFaultyServer } from "./queue-double.js";
import { Client, finished, sharedWebEasel } from "./support.js";

const easel = sharedWebEasel();

/** What a broken job store throws: an error no user should read (a server path inside). */
const STORE_FAILURE = "SQLITE_IOERR: disk I/O error writing /srv/easel/data/jobs.sqlite";

function failing(): Promise<never> {
  return Promise.reject(new Error(STORE_FAILURE));
}

/** A finished job of a browser on the real server, and that browser on the faulty one. */
async function finishedJobOf(url: string, faultyUrl: string): Promise<{ jobId: string; client: Client }> {
  const owner = new Client(url);
  const job = await owner.post("/api/v1/imagine", { text: "a fox --steps 1" });
  assert.equal(job.status, 202);
  await finished(owner, job.json.jobId);
  const client = new Client(faultyUrl);
  client.cookies.set("easel_id", owner.cookies.get("easel_id")!);
  return { jobId: job.json.jobId, client };
}

function assertInternal(answer: { status: number; json: unknown; text: string }, what: string): void {
  assert.equal(answer.status, 500, `${what}: ${answer.status} ${answer.text}`);
  assert.deepEqual(answer.json, {
    error: { code: "internal", message: "Something went wrong on our side. Please try again." },
  });
  assert.doesNotMatch(answer.text, /SQLITE|\/srv\//, `${what}: no cause or path in the body`);
}

test("a submit, a button and a cancel that fail inside the queue are 500 `internal`, logged with the cause", async (t) => {
  const { server, lines } = await startFaultyServer(t, easel(), { submit: failing, cancel: failing });
  const { jobId, client } = await finishedJobOf(easel().url, server.url);

  assertInternal(await client.post("/api/v1/imagine", { text: "a fox --steps 1" }), "imagine");
  assertInternal(await client.post(`/api/v1/jobs/${jobId}/actions`, { action: "reroll" }), "reroll");
  // A cancel reaches the queue only for a job that has not ended (an ended one is answered as such).
  const slow = await client.post("/api/v1/imagine", { text: "slow [sim:step-ms=40] --steps 100" });
  assert.equal(slow.status, 500, "the faulty queue takes no job");
  const owner = new Client(easel().url);
  owner.cookies.set("easel_id", client.cookies.get("easel_id")!);
  const running = await owner.post("/api/v1/imagine", { text: "slow [sim:step-ms=40] --steps 100" });
  assert.equal(running.status, 202);
  assertInternal(await client.delete(`/api/v1/jobs/${running.json.jobId}`), "cancel");
  assert.equal(
    (await owner.delete(`/api/v1/jobs/${running.json.jobId}`)).status,
    202,
    "the real queue cancels it",
  );

  const logged = lines.filter((line) => {
    const err = line.err as { stack?: string } | undefined;
    return line.level === 50 && err?.stack?.includes(STORE_FAILURE) === true;
  });
  assert.equal(logged.length, 4, "each failure is logged at error level with its stack");
  assert.equal(
    (await client.get("/api/v1/history")).json.jobs.length,
    2,
    "nothing was queued by the failed calls (the two jobs are the real server's)",
  );
});

test("a refusal's code decides the status through the one table: stopping 503, queue_full 429", async (t) => {
  let refusal: EaselError = new EaselError("stopping", "The bot is restarting; try again in a moment.");
  const { server } = await startFaultyServer(t, easel(), { submit: () => Promise.reject(refusal) });
  const client = new Client(server.url);
  const stopping = await client.post("/api/v1/imagine", { text: "a fox" });
  assert.equal(stopping.status, 503);
  assert.deepEqual(stopping.json.error, {
    code: "stopping",
    message: "The bot is restarting; try again in a moment.",
  });
  refusal = new EaselError("queue_full", "The queue is full; try again in a minute.");
  const full = await client.post("/api/v1/imagine", { text: "a fox" });
  assert.equal(full.status, 429);
  assert.equal(full.json.error.code, "queue_full");
  // An informational answer is not an error.
  const help = await client.post("/api/v1/imagine", { text: "help" });
  assert.equal(help.status, 200);
  assert.equal(typeof help.json.message, "string");
});

test("every code has its HTTP status", () => {
  const expected = {
    invalid_input: 400,
    unauthorized: 401,
    forbidden: 403,
    bad_host: 403,
    not_found: 404,
    request_timeout: 408,
    cancelled: 409,
    body_too_large: 413,
    expectation_failed: 417,
    unsupported_media_type: 415,
    queue_full: 429,
    headers_too_large: 431,
    internal: 500,
    config: 500,
    model_folder: 503,
    stopping: 503,
    device_failure: 503,
    timeout: 504,
    storage: 507,
  } as const;
  for (const [code, status] of Object.entries(expected)) {
    assert.equal(statusOf(code as keyof typeof expected), status, code);
  }
});
