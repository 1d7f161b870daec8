/**
 * Who may use the API: the token (Bearer or the page's session cookie), the Host check against DNS
 * rebinding, cross-site requests, the browser id cookie, body caps and image file names.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { Client, finished, rawRequest, sharedWebEasel, startWebEasel } from "./support.js";

const easel = sharedWebEasel();

test("without a token the API answers on loopback; the browser id is an HttpOnly, SameSite=Lax cookie", async () => {
  const client = new Client(easel().url);
  const info = await client.get("/api/v1/info");
  assert.equal(info.status, 200);
  const [cookie] = info.headers.getSetCookie();
  assert.match(cookie!, /^easel_id=[A-Za-z0-9_-]{22};/);
  assert.match(cookie!, /; HttpOnly/);
  assert.match(cookie!, /; SameSite=Lax/);
  assert.match(cookie!, /; Path=\//);
  const again = await client.get("/api/v1/info");
  assert.deepEqual(again.headers.getSetCookie(), [], "a browser that has its id keeps it");
});

test("a forged or malformed browser id is replaced, not trusted", async () => {
  const client = new Client(easel().url);
  client.cookies.set("easel_id", "../../etc/passwd");
  const answer = await client.get("/api/v1/history");
  assert.equal(answer.status, 200);
  assert.match(client.cookies.get("easel_id")!, /^[A-Za-z0-9_-]{22}$/);
});

test("the browser id decides whose jobs are whose", async () => {
  const alice = new Client(easel().url);
  const bob = new Client(easel().url);
  const job = await alice.post("/api/v1/imagine", { text: "alice's fox --steps 2" });
  await finished(alice, job.json.jobId);
  assert.equal((await alice.get("/api/v1/history")).json.jobs.length, 1);
  assert.equal((await bob.get("/api/v1/history")).json.jobs.length, 0);
  const press = await bob.post(`/api/v1/jobs/${job.json.jobId}/actions`, { action: "reroll" });
  assert.equal(press.status, 403, "buttons are the author's (EASEL_BUTTONS=author)");
  assert.equal(press.json.error.code, "forbidden");
  // The same cookie jar is the same user on a later call, as `curl -c jar -b jar` is.
  const carol = new Client(easel().url);
  carol.cookies.set("easel_id", alice.cookies.get("easel_id")!);
  assert.equal((await carol.get("/api/v1/history")).json.jobs[0].id, job.json.jobId);
});

test("on loopback the Host header must name this server (DNS rebinding)", async () => {
  const { port } = easel();
  const ok = ["127.0.0.1", "localhost", "[::1]", "LOCALHOST"];
  for (const name of ok) {
    const answer = await rawRequest(port, { path: "/api/v1/info", headers: { host: `${name}:${port}` } });
    assert.equal(answer.status, 200, name);
  }
  const page = await rawRequest(port, { path: "/", headers: { host: `localhost:${port}` } });
  assert.equal(page.status, 200);
  for (const host of [
    `evil.example:${port}`,
    "evil.example",
    `127.0.0.1:${port + 1}`,
    `localhost.evil.example:${port}`,
  ]) {
    for (const path of ["/api/v1/info", "/", "/api/v1/history"]) {
      const answer = await rawRequest(port, { path, headers: { host } });
      assert.equal(answer.status, 403, `${host} ${path}`);
      assert.equal(JSON.parse(answer.body).error.code, "bad_host");
    }
  }
  const posted = await rawRequest(port, {
    method: "POST",
    path: "/api/v1/imagine",
    headers: { host: `rebound.example:${port}`, "content-type": "application/json" },
    body: JSON.stringify({ text: "a fox" }),
  });
  assert.equal(posted.status, 403);
  // Health and metrics answer any Host: probes and scrapers use whatever name they know.
  const health = await rawRequest(port, { path: "/healthz", headers: { host: "easel.internal" } });
  assert.equal(health.status, 200);
});

test("requests from other sites that change something are refused", async () => {
  const client = new Client(easel().url);
  const cross = await client.post("/api/v1/imagine", { text: "a fox" }, { origin: "https://evil.example" });
  assert.equal(cross.status, 403);
  assert.equal(cross.json.error.code, "forbidden");
  const fetchSite = await client.post(
    "/api/v1/imagine",
    { text: "a fox" },
    { "sec-fetch-site": "cross-site" },
  );
  assert.equal(fetchSite.status, 403);
  // A no-cors form or fetch can only send simple content types: those are not JSON, and refused.
  const plain = await client.post("/api/v1/imagine", JSON.stringify({ text: "a fox" }), {
    "content-type": "text/plain",
  });
  assert.equal(plain.status, 415);
  assert.equal(plain.json.error.code, "unsupported_media_type");
  const form = await client.post("/api/v1/imagine", "text=a+fox", {
    "content-type": "application/x-www-form-urlencoded",
  });
  assert.equal(form.status, 415);
  const sameOrigin = await client.post(
    "/api/v1/imagine",
    { text: "a fox --steps 1" },
    {
      origin: easel().url.replace(/\/$/, ""),
    },
  );
  assert.equal(sameOrigin.status, 202);
  assert.equal((await client.get("/api/v1/history")).json.jobs.length, 1, "only the same-origin one");
});

test("bodies over the cap are refused with 413 and the error shape", async () => {
  const client = new Client(easel().url);
  const answer = await client.post("/api/v1/imagine", { text: "x".repeat(70 * 1024) });
  assert.equal(answer.status, 413);
  assert.equal(answer.json.error.code, "body_too_large");
  const long = await client.post("/api/v1/imagine", { text: "x".repeat(5000) });
  assert.equal(long.status, 400, "under the cap but over the text limit");
  assert.deepEqual((await client.get("/api/v1/history")).json.jobs, []);
});

test("image URLs serve only <jobId>-<index>.<ext> of existing images: no path traversal", async () => {
  const { port, url } = easel();
  const client = new Client(url);
  const job = await client.post("/api/v1/imagine", { text: "a fox --steps 1" });
  const done = await finished(client, job.json.jobId);
  const good = done.data.images[0].url as string;
  assert.equal((await rawRequest(port, { path: good, headers: { host: `127.0.0.1:${port}` } })).status, 200);
  const id = job.json.jobId as string;
  const attempts = [
    "/api/v1/images/../jobs.sqlite",
    "/api/v1/images/..%2Fjobs.sqlite",
    "/api/v1/images/%2e%2e%2f%2e%2e%2fetc%2fpasswd",
    "/api/v1/images/..%5C..%5Cjobs.sqlite",
    `/api/v1/images/${id}-0.png%00.txt`,
    `/api/v1/images/${id}-0.png/..`,
    `/api/v1/images/${id}-0.PNG`,
    `/api/v1/images/${id}-0.jpg`,
    `/api/v1/images/${id}-00.png`,
    `/api/v1/images/${id}-1.png`,
    `/api/v1/images/${id}-0`,
    "/api/v1/images/jobs.sqlite",
    "/api/v1/images/images%2F..%2F..%2Fjobs.sqlite",
    "/api/v1/images//etc/passwd",
  ];
  for (const path of attempts) {
    const answer = await rawRequest(port, { path, headers: { host: `127.0.0.1:${port}` } });
    assert.ok(answer.status === 404 || answer.status === 400, `${path}: ${answer.status}`);
    assert.doesNotMatch(answer.body, /SQLite|root:/);
    assert.equal(JSON.parse(answer.body).error.code === "not_found" || answer.status === 400, true, path);
  }
});

test("with a token every API call needs it; health, metrics and the page itself do not", async (t) => {
  const token = "s3cret-token-for-tests";
  const { url } = await startWebEasel(t, { env: { EASEL_WEB_TOKEN: token } });
  const anonymous = new Client(url);
  for (const answer of [
    await anonymous.get("/api/v1/info"),
    await anonymous.post("/api/v1/imagine", { text: "a fox" }),
    await anonymous.get("/api/v1/history"),
    await anonymous.get("/api/v1/images/abc-0.png"),
  ]) {
    assert.equal(answer.status, 401);
    assert.equal(answer.json.error.code, "unauthorized");
    assert.match(answer.headers.get("www-authenticate") ?? "", /^Bearer/);
  }
  assert.equal((await anonymous.get("/api/v1/info", { authorization: "Bearer wrong" })).status, 401);
  assert.equal((await anonymous.get("/api/v1/info", { authorization: `Basic ${token}` })).status, 401);
  assert.equal((await anonymous.get("/healthz")).status, 200);
  assert.equal((await anonymous.get("/metrics")).status, 200);
  assert.equal((await anonymous.get("/")).status, 200, "the page loads and asks for the token");

  const bearer = new Client(url, { authorization: `Bearer ${token}` });
  const job = await bearer.post("/api/v1/imagine", { text: "a fox --steps 1" });
  assert.equal(job.status, 202);
  assert.equal((await finished(bearer, job.json.jobId)).event, "done");

  // The page trades the token once for an HttpOnly session cookie (images and EventSource send no headers).
  const browser = new Client(url);
  const wrong = await browser.post("/api/v1/session", { token: "nope" });
  assert.equal(wrong.status, 401);
  const session = await browser.post("/api/v1/session", { token });
  assert.equal(session.status, 204);
  const cookie = session.headers.getSetCookie().find((line) => line.startsWith("easel_session="));
  assert.ok(cookie);
  assert.match(cookie, /HttpOnly/);
  assert.match(cookie, /SameSite=Strict/);
  assert.doesNotMatch(cookie, new RegExp(token), "the cookie is not the token itself");
  assert.equal((await browser.get("/api/v1/info")).status, 200);
  browser.cookies.set("easel_session", "forged");
  assert.equal((await browser.get("/api/v1/info")).status, 401);
});

test("a server bound to a non-loopback address refuses to serve the chat without a token", async (t) => {
  await assert.rejects(startWebEasel(t, { env: { EASEL_WEB_HOST: "0.0.0.0" } }), /EASEL_WEB_TOKEN/);
});

test("the page is served with its scripts under a strict content security policy", async () => {
  const { url } = easel();
  const client = new Client(url);
  const page = await client.get("/");
  assert.equal(page.status, 200);
  assert.match(page.headers.get("content-type") ?? "", /^text\/html/);
  assert.match(page.headers.get("content-security-policy") ?? "", /script-src 'self'/);
  assert.match(page.text, /<script type="module" src="\/app.js">/);
  for (const [path, type] of [
    ["/app.js", /javascript/],
    ["/style.css", /css/],
    ["/icon.svg", /svg/],
  ] as const) {
    const answer = await client.get(path);
    assert.equal(answer.status, 200, path);
    assert.match(answer.headers.get("content-type") ?? "", type);
  }
});
