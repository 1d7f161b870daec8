/**
 * Time and connection limits over real sockets: a request (headers and body) must arrive within
 * EASEL_WEB_REQUEST_TIMEOUT_SECONDS, connections beyond EASEL_WEB_MAX_CONNECTIONS are closed, and
 * an error answer closes its connection, so a refused client cannot keep trickling a body.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { RawConnection, requestText, send } from "./raw-http.js";
import { Client, finished, sharedWebEasel, startWebEasel } from "./support.js";

const TOKEN = "limits-token-0123456789";
/** One second to send a request: slow clients are cut off quickly. */
const quick = sharedWebEasel({ env: { EASEL_WEB_REQUEST_TIMEOUT_SECONDS: "1" } });
/** The default request time (30 s): what closes a connection here is the error answer. */
const guarded = sharedWebEasel({ env: { EASEL_WEB_TOKEN: TOKEN } });

/** Generous against a slow machine, far below Node's own 300 s request timeout. */
const CLOSE_WITHIN_MS = 10_000;

function jsonHead(port: number, length: number, extra: Record<string, string> = {}): string {
  return requestText("POST", "/api/v1/imagine", {
    host: `127.0.0.1:${port}`,
    "content-type": "application/json",
    "content-length": `${length}`,
    ...extra,
  });
}

test("a body sent a byte at a time is cut off after the request timeout with 408, and the connection closed", async () => {
  const { port } = quick();
  const connection = new RawConnection(port);
  await connection.ready();
  const start = performance.now();
  connection.write(jsonHead(port, 1000));
  connection.trickle("x".repeat(1000), 100);
  const answer = await connection.answer(CLOSE_WITHIN_MS);
  const { closed } = await connection.closesWithin(CLOSE_WITHIN_MS);
  const elapsed = performance.now() - start;
  assert.equal(answer.status, 408);
  assert.deepEqual(answer.json, {
    error: { code: "request_timeout", message: "The request did not arrive in time." },
  });
  assert.ok(closed, "the connection is closed");
  assert.ok(elapsed >= 900, `not before the timeout (${Math.round(elapsed)} ms)`);
});

test("headers sent a byte at a time are cut off after the request timeout too", async () => {
  const { port } = quick();
  const connection = new RawConnection(port);
  await connection.ready();
  connection.write(`GET /api/v1/history HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n`);
  connection.trickle(`x-slow: ${"a".repeat(500)}\r\n\r\n`, 100);
  const answer = await connection.answer(CLOSE_WITHIN_MS);
  assert.equal(answer.status, 408);
  assert.equal(answer.json.error.code, "request_timeout");
  assert.ok((await connection.closesWithin(CLOSE_WITHIN_MS)).closed);
});

test("a connection that sends nothing is closed after the request timeout", async () => {
  const { port } = quick();
  const idle = new RawConnection(port);
  await idle.ready();
  const { closed, afterMs } = await idle.closesWithin(CLOSE_WITHIN_MS);
  assert.ok(closed, "the idle connection is closed");
  assert.ok(afterMs >= 900, `not before the timeout (${Math.round(afterMs)} ms)`);
});

test("a request that arrives in pieces within the time is served, and an event stream outlives the request timeout", async () => {
  const { port, url } = quick();
  const body = JSON.stringify({ text: "a patient fox --steps 2" });
  const connection = new RawConnection(port);
  await connection.ready();
  connection.write(jsonHead(port, body.length, { connection: "close" }));
  connection.write(body.slice(0, 10));
  await new Promise((resolve) => setTimeout(resolve, 200));
  connection.write(body.slice(10));
  const answer = await connection.answer();
  assert.equal(answer.status, 202, answer.body);

  // A job that runs for about 3 s: its event stream stays open past the 1 s request timeout.
  const client = new Client(url);
  const slow = await client.post("/api/v1/imagine", { text: "a slow fox [sim:step-ms=300] --steps 10" });
  assert.equal(slow.status, 202);
  assert.equal((await finished(client, slow.json.jobId)).event, "done");
});

test("401, 413 and 400 answers close the connection while the client is still sending", async () => {
  const { port } = guarded();
  // No token: refused before the body is read.
  const anonymous = new RawConnection(port);
  await anonymous.ready();
  anonymous.write(jsonHead(port, 1000));
  anonymous.trickle("x".repeat(1000), 100);
  const refused = await anonymous.answer(CLOSE_WITHIN_MS);
  assert.equal(refused.status, 401);
  assert.equal(refused.headers.get("connection"), "close");
  assert.ok((await anonymous.closesWithin(CLOSE_WITHIN_MS)).closed, "closed after the 401");

  // Too large a body: refused on its declared length.
  const large = new RawConnection(port);
  await large.ready();
  large.write(jsonHead(port, 1_000_000, { authorization: `Bearer ${TOKEN}` }));
  large.trickle("x".repeat(1000), 100);
  const tooLarge = await large.answer(CLOSE_WITHIN_MS);
  assert.equal(tooLarge.status, 413);
  assert.equal(tooLarge.json.error.code, "body_too_large");
  assert.ok((await large.closesWithin(CLOSE_WITHIN_MS)).closed, "closed after the 413");

  // A whole but malformed body on a keep-alive connection: answered, then closed.
  const { answer, connection } = await send(
    port,
    `${jsonHead(port, 5, { authorization: `Bearer ${TOKEN}` })}{nope`,
  );
  assert.equal(answer.status, 400);
  assert.equal(answer.json.error.code, "invalid_input");
  assert.ok((await connection.closesWithin(CLOSE_WITHIN_MS)).closed, "closed after the 400");

  // A success keeps the connection for the next request.
  const ok = await send(
    port,
    requestText("GET", "/api/v1/info", { host: `127.0.0.1:${port}`, authorization: `Bearer ${TOKEN}` }),
  );
  assert.equal(ok.answer.status, 200);
  assert.equal(ok.connection.isClosed, false);
  ok.connection.destroy();
});

test("connections beyond EASEL_WEB_MAX_CONNECTIONS are closed unanswered; one frees a place", async (t) => {
  const { port } = await startWebEasel(t, { env: { EASEL_WEB_MAX_CONNECTIONS: "3" } });
  const held: RawConnection[] = [];
  t.after(() => {
    for (const connection of held) connection.destroy();
  });
  for (let i = 0; i < 3; i++) {
    const connection = new RawConnection(port);
    await connection.ready();
    connection.write(`GET /healthz HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n`); // headers not finished
    held.push(connection);
  }
  const extra = new RawConnection(port);
  await extra.ready().catch(() => {});
  extra.write(requestText("GET", "/healthz", { host: `127.0.0.1:${port}` }));
  assert.ok((await extra.closesWithin(CLOSE_WITHIN_MS)).closed, "the fourth connection is closed");
  assert.equal(extra.text(), "", "and not answered");

  held.shift()!.destroy();
  // The server sees the close a moment later: retry until a new connection is answered.
  const deadline = performance.now() + CLOSE_WITHIN_MS;
  for (;;) {
    const attempt = new RawConnection(port);
    await attempt.ready().catch(() => {});
    attempt.write(requestText("GET", "/healthz", { host: `127.0.0.1:${port}`, connection: "close" }));
    const answer = await attempt.answer(CLOSE_WITHIN_MS).catch(() => undefined);
    attempt.destroy();
    if (answer?.status === 200) break;
    assert.ok(performance.now() < deadline, "a place frees up once a connection closes");
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
});
