/**
 * The one follow loop (src/bots/follow.ts), on the real chat service and the embedded queue with
 * simulated devices, into a sink that records what a platform would have been sent and takes a
 * while to answer, as a platform's API does.
 */
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { Followers, type JobSink } from "../../src/bots/follow.js";
import type { JobView, ViewChange } from "../../src/commands/chat.js";
import { createChatService } from "../../src/commands/chat-service.js";
import { silentLogger } from "../../src/logger.js";
import { createJobQueue } from "../../src/queue/index.js";
import { testConfig } from "../queue/support.js";

interface Sent {
  kind: "post" | "edit";
  view: JobView;
  changes: readonly ViewChange[];
  startedAt: number;
  endedAt: number;
}

/** A platform that takes `delayMs` per call and records every call. */
function slowSink(delayMs: number, sent: Sent[]): JobSink & { overlapped: boolean } {
  let inFlight = 0;
  const sink = {
    overlapped: false,
    async post(view: JobView, changes: readonly ViewChange[]) {
      await call("post", view, changes);
    },
    async edit(view: JobView, changes: readonly ViewChange[]) {
      await call("edit", view, changes);
    },
  };
  async function call(kind: Sent["kind"], view: JobView, changes: readonly ViewChange[]) {
    inFlight++;
    if (inFlight > 1) sink.overlapped = true;
    const startedAt = performance.now();
    await new Promise((resolve) => setTimeout(resolve, delayMs));
    inFlight--;
    sent.push({ kind, view, changes, startedAt, endedAt: performance.now() });
  }
  return sink;
}

test("one send at a time, spaced, newest view first, nothing twice, and the final view always", async (t) => {
  const dir = await mkdtemp(join(tmpdir(), "easel-follow-"));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const queue = createJobQueue(testConfig(dir, { previewEvery: 1 }), {
    engineFor: () => ({ kind: "simulated", stepMs: 5 }),
  });
  t.after(() => queue.stop());
  await queue.start();
  const chat = createChatService({ config: testConfig(dir), queue });
  const interval = 60;
  const followers = new Followers(chat, { logger: silentLogger, minIntervalMs: interval });

  const reply = await chat.imagine(
    { text: "[sim:step-ms=10] a fox --steps 40" },
    { userId: "web:a" },
    { platform: "web" },
  );
  assert.equal(reply.kind, "job");
  if (reply.kind !== "job") return;
  const sent: Sent[] = [];
  const sink = slowSink(25, sent);
  await followers.follow(reply.view, sink);
  await followers.follow(reply.view, slowSink(0, sent)); // followed once: ignored
  await followers.idle();

  assert.equal(sink.overlapped, false, "never two calls at once");
  assert.equal(sent[0]!.kind, "post");
  assert.ok(sent.slice(1).every((each) => each.kind === "edit"));
  const last = sent.at(-1)!;
  assert.equal(last.view.state, "done", "the final view is sent");
  assert.deepEqual(last.changes, ["done"]);
  assert.equal(sent.filter((each) => each.view.final).length, 1, "and only once");
  // Steps come faster than sends may go: the views between two sends collapse into the newest.
  const progress = sent.filter((each) => each.view.state === "running");
  assert.ok(progress.length > 0, "progress was shown");
  for (let i = 1; i < sent.length; i++) {
    if (sent[i]!.view.final) continue;
    const gap = sent[i]!.startedAt - sent[i - 1]!.startedAt;
    assert.ok(gap >= interval - 5, `send ${i} came ${gap.toFixed(0)} ms after the one before`);
  }
  const steps = progress.map((each) => each.view.step ?? 0);
  assert.deepEqual(
    steps,
    [...steps].sort((a, b) => a - b),
    "in order",
  );
  assert.equal(new Set(steps).size, steps.length, "no step sent twice");
  assert.equal(followers.has(reply.jobId), false, "done with the job");
});
