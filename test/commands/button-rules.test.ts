/**
 * One rule for what each button does on each job state (src/commands/button-rules.ts), pressed
 * through the real chat service on the embedded queue, and coded replies: every refusal has a
 * code, information is its own kind, and an unknown error is `internal`, logged with its cause.
 */
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import { describe, it, type TestContext } from "node:test";
import { BUTTON_RULES, type ButtonJobState } from "../../src/commands/button-rules.js";
import type { ButtonAction, ButtonKind } from "../../src/commands/buttons.js";
import type { ChatReply, ChatService, JobView } from "../../src/commands/chat.js";
import { createChatService } from "../../src/commands/chat-service.js";
import { createLogger } from "../../src/logger.js";
import { createJobQueue, type JobQueue } from "../../src/queue/index.js";
import type { Where, Who } from "../../src/requests/request.js";
import { testConfig } from "../queue/support.js";

const channel: Where = { platform: "discord", serverId: "g1", channelId: "c1" };
const alice: Who = { userId: "discord:alice", userName: "alice" };

async function service(
  t: TestContext,
  lines: string[] = [],
): Promise<{ chat: ChatService; queue: JobQueue }> {
  const dir = await mkdtemp(join(tmpdir(), "easel-rules-"));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const config = testConfig(dir, { maxJobsPerUser: 10 });
  const queue = createJobQueue(config, {
    engineFor: () => ({ kind: "simulated", stepMs: 2 }),
    cancelGraceMs: 2000,
    shutdownGraceMs: 2000,
  });
  t.after(() => queue.stop());
  await queue.start();
  const destination = new Writable({
    write(chunk, _encoding, done) {
      lines.push(String(chunk));
      done();
    },
  });
  const logger = createLogger({ logLevel: "info" }, { destination, pretty: false });
  let seed = 100n;
  return { chat: createChatService({ config, queue, logger, randomSeed: () => seed++ }), queue };
}

function follow(chat: ChatService, reply: ChatReply, until: (view: JobView) => boolean): Promise<JobView> {
  assert.equal(reply.kind, "job", reply.kind !== "job" ? reply.text : "");
  if (reply.kind !== "job") throw new Error("no job");
  return new Promise((resolve) => {
    const stop = chat.watch(reply.jobId, (view) => {
      if (until(view)) {
        resolve(view);
        queueMicrotask(() => stop());
      }
    });
  });
}

const ALL_KINDS: readonly ButtonKind[] = [
  "cancel",
  "delete",
  "reroll",
  "vary",
  "refine",
  "upscale",
  "zoom",
  "pan",
];

function action(kind: ButtonKind, jobId: string): ButtonAction {
  if (kind === "vary") return { kind, jobId, imageIndex: 0, strength: "subtle" };
  if (kind === "refine" || kind === "upscale" || kind === "show") return { kind, jobId, imageIndex: 0 };
  if (kind === "zoom") return { kind, jobId, imageIndex: 0, factor: 2 };
  if (kind === "pan") return { kind, jobId, imageIndex: 0, direction: "left" };
  return { kind, jobId };
}

/** A repaint of image 0's top-left corner: an API action that follows the rules of a button. */
const repaintOf = (chat: ChatService, jobId: string) =>
  chat.repaint(
    { jobId, imageIndex: 0, region: { rects: [{ x: 0, y: 0, width: 4, height: 4 }] } },
    alice,
    channel,
  );

/** Jobs in every state a button can meet, with their current views. */
async function jobsInEveryState(chat: ChatService): Promise<Record<ButtonJobState, JobView>> {
  const done = await follow(
    chat,
    await chat.imagine({ text: "a fox --steps 1" }, alice, channel),
    (v) => v.final,
  );
  const deleted = await follow(
    chat,
    await chat.imagine({ text: "an owl --steps 1" }, alice, channel),
    (v) => v.final,
  );
  await chat.pressAction({ kind: "delete", jobId: deleted.jobId }, alice, channel);
  const cancelledReply = await chat.imagine({ text: "[sim:step-ms=40] a hare --steps 50" }, alice, channel);
  const cancelledRunning = await follow(chat, cancelledReply, (v) => v.state === "running");
  await chat.pressAction({ kind: "cancel", jobId: cancelledRunning.jobId }, alice, channel);
  const cancelled = await follow(chat, cancelledReply, (v) => v.final);
  const running = await follow(
    chat,
    await chat.imagine({ text: "[sim:step-ms=40] a slow stag --steps 150" }, alice, channel),
    (v) => v.state === "running" && (v.step ?? 0) > 0,
  );
  const queuedReply = await chat.imagine({ text: "a waiting wren --steps 1" }, alice, channel);
  assert.equal(queuedReply.kind === "job" && queuedReply.view.state, "queued");
  return {
    done,
    deleted: (await chat.view(deleted.jobId))!,
    cancelled,
    running,
    queued: queuedReply.kind === "job" ? queuedReply.view : (undefined as never),
    failed: undefined as never, // pressed in its own test (a failure needs its own engine setting)
  };
}

describe("one rule per button and job state", () => {
  it("answers every cell as the table says, and a card shows exactly the buttons its state allows", async (t) => {
    const { chat } = await service(t);
    const jobs = await jobsInEveryState(chat);
    for (const state of ["queued", "running", "done", "deleted", "cancelled"] as const) {
      const view = jobs[state];
      const onCard = new Set(view.buttons.flat().map((button) => button.action.kind));
      const allowed = ALL_KINDS.filter((kind) => BUTTON_RULES[kind][state].kind === "allowed");
      assert.deepEqual([...onCard].sort(), [...allowed].sort(), `the ${state} card`);
      for (const kind of ALL_KINDS) {
        const rule = BUTTON_RULES[kind][state];
        if (rule.kind === "allowed") continue; // pressing would change the job for the next cells
        const reply = await chat.pressAction(action(kind, view.jobId), alice, channel);
        assert.equal(reply.kind, rule.kind, `${kind} on ${state}: ${JSON.stringify(reply)}`);
        assert.equal("text" in reply && reply.text, rule.text(), `${kind} on ${state}`);
        if (rule.kind === "refusal") assert.equal(reply.kind === "refusal" && reply.code, rule.code);
      }
      const rule = BUTTON_RULES.repaint[state];
      if (rule.kind === "allowed") continue;
      const reply = await repaintOf(chat, view.jobId);
      assert.equal(reply.kind, rule.kind, `repaint on ${state}: ${JSON.stringify(reply)}`);
      assert.equal("text" in reply && reply.text, rule.text(), `repaint on ${state}`);
      if (rule.kind === "refusal") assert.equal(reply.kind === "refusal" && reply.code, rule.code);
    }
    assert.equal(BUTTON_RULES.repaint.done.kind, "allowed");
    assert.equal(
      (await repaintOf(chat, jobs.done.jobId)).kind,
      "job",
      "a repaint of a kept result is queued",
    );
    await chat.pressAction({ kind: "cancel", jobId: jobs.running.jobId }, alice, channel);
    await chat.pressAction({ kind: "cancel", jobId: jobs.queued.jobId }, alice, channel);
  });

  it("says a finished job has ended on cancel, not that it is unknown", async (t) => {
    const { chat } = await service(t);
    const done = await follow(
      chat,
      await chat.imagine({ text: "a fox --steps 1" }, alice, channel),
      (v) => v.final,
    );
    const reply = await chat.pressAction({ kind: "cancel", jobId: done.jobId }, alice, channel);
    assert.deepEqual(reply, {
      kind: "info",
      text: "This job has already finished, so there is nothing to cancel.",
    });
  });

  it("says a cancelled job has no images to upscale or refine, rather than that it hasn't finished", async (t) => {
    const { chat } = await service(t);
    const reply = await chat.imagine({ text: "[sim:step-ms=40] a hare --steps 50" }, alice, channel);
    const running = await follow(chat, reply, (v) => v.state === "running");
    await chat.pressAction({ kind: "cancel", jobId: running.jobId }, alice, channel);
    await follow(chat, reply, (v) => v.final);
    for (const kind of ["upscale", "refine"] as const) {
      const answer = await chat.pressAction({ kind, jobId: running.jobId, imageIndex: 0 }, alice, channel);
      assert.equal(answer.kind, "refusal");
      assert.doesNotMatch(answer.kind === "refusal" ? answer.text : "", /hasn't finished/);
      assert.match(answer.kind === "refusal" ? answer.text : "", /cancelled before it made any images/);
    }
    const vary = await chat.pressAction(
      { kind: "vary", jobId: running.jobId, imageIndex: 0, strength: "strong" },
      alice,
      channel,
    );
    assert.equal(vary.kind, "refusal", "the cancelled card shows no vary button, and a press is refused");
  });

  it("refuses result buttons on a failed job, which shows none", async (t) => {
    const { chat } = await service(t);
    const failed = await follow(
      chat,
      await chat.imagine({ text: "[sim:fail] a fox --steps 2" }, alice, channel),
      (v) => v.final,
    );
    assert.equal(failed.state, "failed");
    assert.deepEqual(failed.buttons, []);
    for (const kind of ALL_KINDS) {
      const rule = BUTTON_RULES[kind].failed;
      const reply = await chat.pressAction(action(kind, failed.jobId), alice, channel);
      assert.equal(reply.kind, rule.kind, kind);
      assert.equal("text" in reply && reply.text, rule.kind !== "allowed" && rule.text());
    }
    const repaint = await repaintOf(chat, failed.jobId);
    const rule = BUTTON_RULES.repaint.failed;
    assert.equal(repaint.kind, rule.kind);
    assert.equal("text" in repaint && repaint.text, rule.kind !== "allowed" && rule.text());
  });
});

describe("coded replies", () => {
  it("gives every refusal a code, and help is information", async (t) => {
    const { chat } = await service(t);
    const help = await chat.imagine({ text: "help" }, alice, channel);
    assert.equal(help.kind, "info");
    const bad = await chat.imagine({ text: "a fox --steps 0" }, alice, channel);
    assert.deepEqual(bad.kind === "refusal" && bad.code, "invalid_input");
    const garbage = await chat.press("easel:1:launch:x", alice, channel);
    assert.deepEqual(garbage.kind === "refusal" && garbage.code, "invalid_input");
  });

  it("wraps an unknown error as `internal`, never as success, and logs its cause", async (t) => {
    const lines: string[] = [];
    const { chat, queue } = await service(t, lines);
    const done = await follow(
      chat,
      await chat.imagine({ text: "a fox --steps 1" }, alice, channel),
      (v) => v.final,
    );
    // The store closes with the queue: its next read throws an error that is none of ours.
    await queue.stop();
    for (const reply of [
      await chat.imagine({ text: "a fox --steps 1" }, alice, channel),
      await chat.pressAction({ kind: "reroll", jobId: done.jobId }, alice, channel),
    ]) {
      assert.equal(reply.kind, "refusal", JSON.stringify(reply));
      assert.equal(reply.kind === "refusal" && reply.code, "internal");
      assert.equal(
        reply.kind === "refusal" && reply.text,
        "Something went wrong on our side. Please try again.",
      );
    }
    const logged = lines
      .map((line) => JSON.parse(line))
      .filter((line) => line.msg === "chat service: internal error");
    assert.equal(logged.length, 2);
    assert.ok(logged.every((line) => typeof line.err?.message === "string" && line.err.message.length > 0));
  });
});
