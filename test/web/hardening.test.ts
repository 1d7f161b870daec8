/**
 * The guards against every spelling of a path, over real sockets: the token, Host and cross-site
 * checks decide on the request target as sent, so no encoding of `/api/…` reaches a route without
 * them; parser errors come after the guards and in the API's error shape; one cookie per name.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { type RawAnswer, RawConnection, requestText, send } from "./raw-http.js";
import { Client, finished, sharedWebEasel } from "./support.js";

const TOKEN = "hardening-token-0123456789";
const guarded = sharedWebEasel({ env: { EASEL_WEB_TOKEN: TOKEN } });
const open = sharedWebEasel();

/** Ways to write `/api/v1/<tail>` that a router may read as that path. */
function spellings(tail: string, port: number): string[] {
  const first = tail.charCodeAt(0).toString(16);
  return [
    `/%61pi/v1/${tail}`,
    `/%2561pi/v1/${tail}`,
    `/%41PI/v1/${tail}`,
    `/api%2Fv1%2F${tail.replaceAll("/", "%2F")}`,
    `/api/v1/%${first}${tail.slice(1)}`,
    `/api/v1/${tail.replace(/.$/, (last) => `%${last.charCodeAt(0).toString(16).toUpperCase()}`)}`,
    `//api/v1/${tail}`,
    `/api//v1/${tail}`,
    `/./api/v1/${tail}`,
    `/api/./v1/${tail}`,
    `/api/v1/../v1/${tail}`,
    `/api/v1/%2e%2e/v1/${tail}`,
    `/api/v2/%2E%2E/v1/${tail}`,
    `/API/v1/${tail}`,
    `/Api/V1/${tail}`,
    `/api/v1/${tail}/`,
    `/api/v1/${tail}//`,
    `/api/v1/${tail};x=1`,
    `/api;x=1/v1/${tail}`,
    `/api/v1/${tail}%3Fx=1`,
    `/api/v1/${tail}%23x`,
    `/api/v1/${tail}%00`,
    `/healthz/../api/v1/${tail}`,
    `/healthz%2F..%2Fapi/v1/${tail}`,
    `/app.js/../api/v1/${tail}`,
    `/api/v1/session/../${tail}`,
    `/api/v1/session%2F..%2F${tail}`,
    `/api/v1/session;/../${tail}`,
    `http://127.0.0.1:${port}/api/v1/${tail}`,
  ];
}

function hostOf(port: number): Record<string, string> {
  return { host: `127.0.0.1:${port}` };
}

function assertErrorShape(answer: RawAnswer, context: string): void {
  assert.equal(typeof answer.json?.error?.code, "string", `${context}: ${answer.body}`);
  assert.equal(typeof answer.json.error.message, "string", context);
  assert.deepEqual(Object.keys(answer.json), ["error"], context);
  assert.doesNotMatch(answer.body, /FST_|statusCode/, context);
}

async function finishedJob(url: string, headers: Record<string, string>): Promise<string> {
  const client = new Client(url, headers);
  const job = await client.post("/api/v1/imagine", { text: "a guarded fox --steps 1" });
  assert.equal(job.status, 202, job.text);
  assert.equal((await finished(client, job.json.jobId)).event, "done");
  return job.json.jobId as string;
}

test("with a token, no spelling of a job's, its events', its image's or history's path answers without it", async () => {
  const { url, port } = guarded();
  const id = await finishedJob(url, { authorization: `Bearer ${TOKEN}` });
  for (const tail of [`jobs/${id}`, `jobs/${id}/events`, `images/${id}-0.png`, "history", "info"]) {
    for (const target of spellings(tail, port)) {
      const { answer, connection } = await send(port, requestText("GET", target, hostOf(port)));
      assert.equal(answer.status, 401, `${target}: ${answer.status} ${answer.body.slice(0, 120)}`);
      assert.equal(answer.json.error.code, "unauthorized", target);
      assert.match(answer.headers.get("www-authenticate") ?? "", /^Bearer/, target);
      assert.doesNotMatch(answer.body, new RegExp(id), target);
      assert.equal(answer.headers.get("connection"), "close", target);
      assert.ok((await connection.closesWithin(10_000)).closed, `${target}: the connection is closed`);
    }
  }
  // Posting through another spelling queues nothing either.
  for (const target of spellings("imagine", port)) {
    const body = JSON.stringify({ text: "a sneaky fox --steps 1" });
    const headers = {
      ...hostOf(port),
      "content-type": "application/json",
      "content-length": `${body.length}`,
    };
    const { answer } = await send(port, requestText("POST", target, headers, body));
    assert.equal(answer.status, 401, `POST ${target}: ${answer.status}`);
  }
});

test("with the token, other spellings of a path are refused in the error shape, never served", async () => {
  const { url, port } = guarded();
  const id = await finishedJob(url, { authorization: `Bearer ${TOKEN}` });
  const plain = await send(
    port,
    requestText("GET", `/api/v1/jobs/${id}`, { ...hostOf(port), authorization: `Bearer ${TOKEN}` }),
  );
  assert.equal(plain.answer.status, 200, "the plain path works");
  for (const tail of [`jobs/${id}`, `images/${id}-0.png`]) {
    for (const target of spellings(tail, port)) {
      const headers = { ...hostOf(port), authorization: `Bearer ${TOKEN}` };
      const { answer } = await send(port, requestText("GET", target, headers));
      assert.ok(answer.status === 400 || answer.status === 404, `${target}: ${answer.status}`);
      assertErrorShape(answer, target);
      assert.doesNotMatch(answer.body, /"status":"done"/, target);
    }
  }
});

test("the page and the session call go without a token only under their own exact paths", async () => {
  const { port } = guarded();
  for (const target of ["/", "/app.js", "/style.css"]) {
    const { answer } = await send(port, requestText("GET", target, hostOf(port)));
    assert.equal(answer.status, 200, target);
  }
  for (const target of ["/%61pp.js", "/app.js/", "//app.js", "/./app.js"]) {
    const { answer } = await send(port, requestText("GET", target, hostOf(port)));
    assert.equal(answer.status, 401, target);
  }
  const body = JSON.stringify({ token: "wrong" });
  const headers = { ...hostOf(port), "content-type": "application/json", "content-length": `${body.length}` };
  for (const target of ["/api/v1/%73ession", "/api/v1/session/", "/API/v1/session"]) {
    const { answer } = await send(port, requestText("POST", target, headers, body));
    assert.equal(answer.status, 401, target);
    assert.match(answer.json.error.message, /Bearer/, `${target}: the guard's answer, not the session's`);
  }
});

test("on loopback, every spelling of an API path still needs this server's Host, and changes need the same site", async () => {
  const { port } = open();
  for (const target of spellings("history", port)) {
    const { answer } = await send(port, requestText("GET", target, { host: `rebound.example:${port}` }));
    assert.equal(answer.status, 403, `${target}: ${answer.status}`);
    assert.equal(answer.json.error.code, "bad_host", target);
  }
  const body = JSON.stringify({ text: "a cross-site fox --steps 1" });
  for (const target of spellings("imagine", port)) {
    const headers = {
      ...hostOf(port),
      origin: "https://evil.example",
      "content-type": "application/json",
      "content-length": `${body.length}`,
    };
    const { answer } = await send(port, requestText("POST", target, headers, body));
    assert.equal(answer.status, 403, `POST ${target}: ${answer.status} ${answer.body.slice(0, 100)}`);
    assert.equal(answer.json.error.code, "forbidden", target);
  }
});

test("a malformed path gets the guards' answer first, then the error shape; a long id is not found", async () => {
  const { port } = guarded();
  const bad = "/api/v1/images/%";
  const foreign = await send(port, requestText("GET", bad, { host: `evil.example:${port}` }));
  assert.equal(foreign.answer.status, 403);
  assert.equal(foreign.answer.json.error.code, "bad_host");
  const anonymous = await send(port, requestText("GET", bad, hostOf(port)));
  assert.equal(anonymous.answer.status, 401);
  assert.equal(anonymous.answer.json.error.code, "unauthorized");
  const authorised = { ...hostOf(port), authorization: `Bearer ${TOKEN}` };
  for (const target of [bad, "/api/v1/jobs/%zz", "/%", "/api/v1/jobs/%E0%A4%A"]) {
    const { answer } = await send(port, requestText("GET", target, authorised));
    assert.equal(answer.status, 400, target);
    assert.equal(answer.json.error.code, "invalid_input", target);
    assertErrorShape(answer, target);
  }
  for (const target of [
    `/api/v1/jobs/${"a".repeat(300)}`,
    `/api/v1/jobs/${"a".repeat(300)}/events`,
    `/api/v1/images/${"a".repeat(300)}-0.png`,
  ]) {
    const { answer } = await send(port, requestText("GET", target, authorised));
    assert.equal(answer.status, 404, `${target.slice(0, 30)}: ${answer.status} ${answer.body}`);
    assertErrorShape(answer, target.slice(0, 30));
  }
  const longAnonymous = await send(port, requestText("GET", `/api/v1/jobs/${"a".repeat(300)}`, hostOf(port)));
  assert.equal(longAnonymous.answer.status, 401);
});

test("requests that are not valid HTTP are answered in the error shape and closed", async () => {
  const { port } = open();
  const cases: Array<[string, string, number]> = [
    [
      "a header line without a colon",
      `GET / HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nno colon here\r\n\r\n`,
      400,
    ],
    [
      "headers over the size limit",
      `GET / HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nx-big: ${"a".repeat(20_000)}\r\n\r\n`,
      431,
    ],
    ["a broken request line", "GARBAGE\r\n\r\n", 400],
  ];
  for (const [what, text, status] of cases) {
    const { answer, connection } = await send(port, text);
    assert.equal(answer.status, status, what);
    assertErrorShape(answer, what);
    assert.ok((await connection.closesWithin(10_000)).closed, `${what}: closed`);
  }
  const expectation = await send(
    port,
    requestText("GET", "/api/v1/info", { ...hostOf(port), expect: "tea" }),
  );
  assert.equal(expectation.answer.status, 417);
  assertErrorShape(expectation.answer, "an unknown expectation");
  const foreignExpectation = await send(
    port,
    requestText("GET", "/api/v1/info", { host: "evil.example", expect: "tea" }),
  );
  assert.equal(foreignExpectation.answer.status, 403, "the guards first");
  for (const method of ["PROPFIND", "PATCH", "OPTIONS"]) {
    const { answer } = await send(port, requestText(method, "/api/v1/history", hostOf(port)));
    assert.equal(answer.status, 404, method);
    assertErrorShape(answer, method);
  }
});

test("with `Expect: 100-continue`, a refused request is answered before the client is invited to send", async () => {
  const { port } = guarded();
  const body = JSON.stringify({ text: "a fox --steps 1" });
  const head = (extra: Record<string, string>) =>
    requestText("POST", "/api/v1/imagine", {
      ...hostOf(port),
      "content-type": "application/json",
      "content-length": `${body.length}`,
      expect: "100-continue",
      ...extra,
    });
  const refused = await send(port, head({}));
  assert.equal(refused.answer.status, 401);
  assert.ok((await refused.connection.closesWithin(10_000)).closed);

  const invited = new RawConnection(port);
  await invited.ready();
  invited.write(head({ authorization: `Bearer ${TOKEN}` }));
  assert.equal((await invited.answer()).status, 100);
  invited.write(body);
  const deadline = performance.now() + 10_000;
  while (!/\r\n\r\nHTTP\/1\.1 202/.test(invited.text()) && performance.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  assert.match(invited.text(), /\r\n\r\nHTTP\/1\.1 202/, "the job is accepted after the body");
  invited.destroy();
});

test("POST /session sets each cookie once: one easel_id and one easel_session", async () => {
  const { port } = guarded();
  const body = JSON.stringify({ token: TOKEN });
  const headers = { ...hostOf(port), "content-type": "application/json", "content-length": `${body.length}` };
  const { answer } = await send(port, requestText("POST", "/api/v1/session", headers, body));
  assert.equal(answer.status, 204);
  const names = setCookieNames(answer);
  assert.deepEqual(names.sort(), ["easel_id", "easel_session"], answer.headers.get("set-cookie"));
  const client = new Client(guarded().url);
  const viaFetch = await client.post("/api/v1/session", { token: TOKEN });
  assert.deepEqual(
    viaFetch.headers
      .getSetCookie()
      .map((line) => line.split("=")[0])
      .sort(),
    ["easel_id", "easel_session"],
  );
});

/** Cookie names of the Set-Cookie headers (joined by the raw reader with ", "). */
function setCookieNames(answer: RawAnswer): string[] {
  const joined = answer.headers.get("set-cookie") ?? "";
  return [...joined.matchAll(/(?:^|, )([A-Za-z_]+)=/g)].map((match) => match[1]!);
}
