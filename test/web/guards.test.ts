/** The request guards and cookie helpers on their own: Host names, cross-site signs, tokens, cookies. */
import assert from "node:assert/strict";
import { test } from "node:test";
import {
  isBrowserId,
  newBrowserId,
  parseCookies,
  sameSecret,
  sessionValue,
} from "../../src/bots/web/cookies.js";
import { jobJson } from "../../src/bots/web/job-json.js";
import { bearerToken, hostIsOurs, isAuthorised, isCrossSite } from "../../src/bots/web/request-guards.js";
import type { JobView } from "../../src/commands/chat.js";
import { changesBetween } from "../../src/commands/view-changes.js";

test("hostIsOurs accepts loopback names with our port only", () => {
  for (const host of ["127.0.0.1:8080", "localhost:8080", "LocalHost:8080", "[::1]:8080", "127.1.2.3:8080"]) {
    assert.equal(hostIsOurs(host, 8080), true, host);
  }
  assert.equal(hostIsOurs("localhost", 80), true, "no port means 80");
  for (const host of [
    undefined,
    "",
    "localhost",
    "localhost:8081",
    "evil.example:8080",
    "localhost.evil.example:8080",
    "127.0.0.1.nip.io:8080",
    "[::2]:8080",
    "localhost:8080:1",
    "user@localhost:8080",
    "localhost:08080x",
  ]) {
    assert.equal(hostIsOurs(host, 8080), false, String(host));
  }
});

test("isCrossSite reads Origin and Sec-Fetch-Site; tools that send neither are not cross-site", () => {
  assert.equal(isCrossSite({ host: "127.0.0.1:8080" }), false);
  assert.equal(isCrossSite({ host: "127.0.0.1:8080", origin: "http://127.0.0.1:8080" }), false);
  assert.equal(isCrossSite({ host: "127.0.0.1:8080", "sec-fetch-site": "same-origin" }), false);
  assert.equal(isCrossSite({ host: "127.0.0.1:8080", origin: "http://localhost:8080" }), true);
  assert.equal(isCrossSite({ host: "127.0.0.1:8080", origin: "null" }), true);
  assert.equal(isCrossSite({ host: "127.0.0.1:8080", origin: "not a url" }), true);
  assert.equal(isCrossSite({ host: "127.0.0.1:8080", "sec-fetch-site": "cross-site" }), true);
  assert.equal(isCrossSite({ host: "127.0.0.1:8080", "sec-fetch-site": "same-site" }), true);
});

test("tokens: Bearer only, compared whole; the session cookie is derived, not the token", () => {
  assert.equal(bearerToken("Bearer abc"), "abc");
  assert.equal(bearerToken("bearer abc "), "abc");
  assert.equal(bearerToken("Basic abc"), undefined);
  assert.equal(bearerToken("Bearer a b"), undefined);
  assert.equal(isAuthorised({ authorization: "Bearer tok" }, "tok"), true);
  assert.equal(isAuthorised({ authorization: "Bearer to" }, "tok"), false);
  assert.equal(isAuthorised({ authorization: "Bearer tokk" }, "tok"), false);
  assert.equal(isAuthorised({}, "tok"), false);
  assert.equal(isAuthorised({ cookie: `easel_session=${sessionValue("tok")}` }, "tok"), true);
  assert.equal(isAuthorised({ cookie: `easel_session=${sessionValue("other")}` }, "tok"), false);
  assert.notEqual(sessionValue("tok"), "tok");
  assert.equal(sameSecret("a", "a"), true);
  assert.equal(sameSecret("a", "ab"), false);
});

test("parseCookies reads our names; the first of a repeated name wins; browser ids are strict", () => {
  const cookies = parseCookies('a=1; easel_id="abc"; b; =x; a=2');
  assert.equal(cookies.get("a"), "1");
  assert.equal(cookies.get("easel_id"), "abc");
  assert.equal(cookies.has("b"), false);
  assert.equal(parseCookies(undefined).size, 0);
  const id = newBrowserId();
  assert.equal(isBrowserId(id), true);
  assert.notEqual(newBrowserId(), id);
  for (const bad of [
    undefined,
    "",
    "short",
    `${id}x`,
    "../../../../etc/passwd.......",
    `${"a".repeat(21)}/`,
  ]) {
    assert.equal(isBrowserId(bad), false, String(bad));
  }
});

const view = (overrides: Partial<JobView>): JobView => ({
  jobId: "job1",
  state: "queued",
  requester: { userId: "web:x", platform: "web" },
  text: "Queued",
  images: [],
  buttons: [],
  final: false,
  ...overrides,
});

test("what changed between views: queued, started, progress and one final event", () => {
  let previous: JobView | undefined;
  const names = (v: JobView) => {
    const changes = changesBetween(previous, v);
    previous = v;
    return changes;
  };
  assert.deepEqual(names(view({ position: 2 })), ["queued"]);
  assert.deepEqual(names(view({ position: 2 })), [], "the same place twice is one event");
  assert.deepEqual(names(view({ position: 1 })), ["queued"]);
  assert.deepEqual(names(view({ state: "running", step: 0, total: 4 })), ["started"]);
  assert.deepEqual(names(view({ state: "running", step: 1, total: 4 })), ["progress"]);
  assert.deepEqual(names(view({ state: "running", step: 1, total: 4 })), []);
  assert.deepEqual(names(view({ state: "running", step: 3, total: 4 })), ["progress"]);
  assert.deepEqual(names(view({ state: "done", final: true })), ["done"]);
  assert.deepEqual(names(view({ state: "done", final: true })), [], "nothing after the end");
  assert.deepEqual(
    changesBetween(undefined, view({ state: "running", step: 2, total: 4 })),
    ["started", "progress"],
    "a late subscriber to a running job",
  );
});

test("job JSON turns image refs into URLs, buttons into API calls, and hides swept images", () => {
  const json = jobJson(
    view({
      state: "done",
      final: true,
      text: "a fox\nseed 7",
      images: [
        {
          id: "job1-0",
          jobId: "job1",
          index: 0,
          seed: "7",
          mime: "image/png",
          width: 1344,
          height: 768,
          deleted: false,
          display: "plain",
        },
        {
          id: "job1-1",
          jobId: "job1",
          index: 1,
          seed: "8",
          mime: "image/png",
          width: 1344,
          height: 768,
          deleted: true,
          display: "plain",
        },
      ],
      buttons: [
        [
          {
            id: "easel:1:vary:job1:0:strong",
            action: { kind: "vary", jobId: "job1", imageIndex: 0, strength: "strong" },
            label: "V1 strong",
            style: "secondary",
          },
          {
            id: "easel:1:upscale:job1:0",
            action: { kind: "upscale", jobId: "job1", imageIndex: 0 },
            label: "Upscale 1",
            style: "secondary",
          },
        ],
        [
          {
            id: "easel:1:reroll:job1",
            action: { kind: "reroll", jobId: "job1" },
            label: "Re-roll",
            style: "primary",
          },
        ],
      ],
    }),
  );
  assert.deepEqual(json.images, [
    { url: "/api/v1/images/job1-0.png", display: "plain", index: 0, seed: "7", width: 1344, height: 768 },
  ]);
  assert.equal(json.caption, "a fox\nseed 7");
  assert.deepEqual(
    json.buttons.map((row) => row.map((button) => button.press)),
    [
      [
        { kind: "action", action: { action: "vary", index: 0, strength: "strong" } },
        { kind: "action", action: { action: "upscale", index: 0 } },
      ],
      [{ kind: "action", action: { action: "reroll" } }],
    ],
  );
  const failed = jobJson(
    view({ state: "failed", final: true, text: "Sorry, this one failed: out of memory" }),
  );
  assert.deepEqual(failed.error, { code: "job_failed", message: "Sorry, this one failed: out of memory" });
});
