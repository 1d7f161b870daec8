/**
 * Operator controls through the chat service, the way every adapter reaches them: allowed places,
 * bans, quotas over a UTC day, cooldowns, admins, the delete button, `/easel` admin commands, and
 * buttons on results the retention sweep removed. The queue underneath is the embedded one on the
 * simulated engine, with an injected clock shared by the queue and the chat service.
 */
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it, type TestContext } from "node:test";
import type { ChatReply, ChatService, JobView } from "../../src/commands/chat.js";
import { createChatService } from "../../src/commands/chat-service.js";
import type { Config } from "../../src/config.js";
import { EmbeddedJobQueue } from "../../src/queue/index.js";
import type { Where, Who } from "../../src/requests/request.js";
import { testConfig } from "../queue/support.js";

const guildChannel: Where = { platform: "discord", serverId: "g1", channelId: "c1" };
const alice: Who = { userId: "discord:111", userName: "alice" };
const bob: Who = { userId: "discord:222", userName: "bob" };
const admin: Who = { userId: "discord:999", userName: "mod" };
const roleAdmin: Who = { userId: "discord:333", userName: "carol", roles: ["discord-role:42"] };

/** 2026-12-06 23:59:50 UTC: ten seconds before a UTC day ends. */
const LATE_EVENING = Date.UTC(2026, 11, 6, 23, 59, 50);

interface Harness {
  chat: ChatService;
  queue: EmbeddedJobQueue;
  config: Config;
  clock: { now: number };
}

async function harness(
  t: TestContext,
  access: Partial<Config["access"]> = {},
  retentionHours = 24,
): Promise<Harness> {
  const dir = await mkdtemp(join(tmpdir(), "easel-operator-"));
  const base = testConfig(dir, { maxJobsPerUser: 20, retentionHours });
  const config: Config = {
    ...base,
    access: { ...base.access, admins: ["discord:999", "discord-role:42"], ...access },
  };
  const clock = { now: LATE_EVENING };
  const now = () => clock.now;
  const queue = new EmbeddedJobQueue({
    config,
    engineFor: () => ({ kind: "simulated", stepMs: 2 }),
    cancelGraceMs: 2000,
    shutdownGraceMs: 2000,
    sweepEveryMs: 0,
    now,
  });
  t.after(async () => {
    await queue.stop();
    await rm(dir, { recursive: true, force: true });
  });
  await queue.start();
  let seed = 100n;
  return { chat: createChatService({ config, queue, randomSeed: () => seed++, now }), queue, config, clock };
}

/** The job's final view, following it from its first view. */
function finalView(chat: ChatService, reply: ChatReply): Promise<JobView> {
  assert.equal(reply.kind, "job", reply.kind !== "job" ? reply.text : "");
  if (reply.kind !== "job") throw new Error("no job");
  return new Promise((resolve) =>
    chat.watch(reply.jobId, (view) => {
      if (view.final) resolve(view);
    }),
  );
}

function privateText(reply: ChatReply): { text: string; code: string | undefined; retryAt?: number } {
  assert.notEqual(reply.kind, "job", `expected a private reply, got a job`);
  if (reply.kind === "job") throw new Error("not private");
  if (reply.kind === "info") return { text: reply.text, code: undefined };
  return {
    text: reply.text,
    code: reply.code,
    ...(reply.retryAt !== undefined ? { retryAt: reply.retryAt } : {}),
  };
}

const button = (view: JobView, label: RegExp) => {
  const found = view.buttons.flat().find((b) => label.test(b.label));
  assert.ok(found, `a ${label} button`);
  return found.id;
};

describe("where the bot answers (EASEL_ALLOWED_CHANNELS)", () => {
  it("answers in listed guilds, guild channels and Slack channels, refuses elsewhere privately, and leaves web and CLI alone", async (t) => {
    const { chat, queue } = await harness(t, {
      allowedChannels: ["discord:g1", "discord:g2/c7", "slack:T1/C1"],
    });
    const places: Array<[Where, boolean]> = [
      [{ platform: "discord", serverId: "g1", channelId: "any" }, true],
      [{ platform: "discord", serverId: "g2", channelId: "c7" }, true],
      [{ platform: "discord", serverId: "g2", channelId: "c8" }, false],
      [{ platform: "discord", serverId: "g3", channelId: "c7" }, false],
      [{ platform: "discord", channelId: "dm1" }, false],
      [{ platform: "slack", serverId: "T1", channelId: "C1" }, true],
      [{ platform: "slack", serverId: "T1", channelId: "C2" }, false],
      [{ platform: "slack", serverId: "T2", channelId: "C1" }, false],
      [{ platform: "web" }, true],
      [{ platform: "cli" }, true],
    ];
    for (const [index, [where, allowed]] of places.entries()) {
      const who: Who = { userId: `${where.platform}:u${index}` as Who["userId"] };
      const reply = await chat.imagine({ text: "a fox --steps 1" }, who, where);
      if (allowed) assert.equal(reply.kind, "job", JSON.stringify(where));
      else {
        const refusal = privateText(reply);
        assert.equal(refusal.code, "forbidden");
        assert.match(refusal.text, /don't answer in this channel/);
        assert.deepEqual(await queue.history(who.userId), [], "nothing queued");
      }
    }
  });

  it("applies to buttons too: a re-roll pressed in a place that is not allowed is refused", async (t) => {
    const { chat } = await harness(t, { allowedChannels: ["discord:g1/c1"] });
    const done = await finalView(chat, await chat.imagine({ text: "a fox --steps 1" }, alice, guildChannel));
    const elsewhere = await chat.press(button(done, /Re-roll/), alice, {
      platform: "discord",
      serverId: "g1",
      channelId: "c2",
    });
    assert.equal(privateText(elsewhere).code, "forbidden");
  });
});

describe("quotas, cooldowns and bans", () => {
  it("counts images per UTC day, refuses past the quota with the reset time, and resets at midnight UTC", async (t) => {
    const { chat, queue, clock } = await harness(t, { quotaPerDay: 3 });
    assert.equal((await chat.imagine({ text: "a fox --n 2 --steps 1" }, alice, guildChannel)).kind, "job");
    const tooMany = privateText(await chat.imagine({ text: "a fox --n 2 --steps 1" }, alice, guildChannel));
    assert.equal(tooMany.code, "queue_full");
    assert.match(tooMany.text, /You have 1 image left today and asked for 2/);
    assert.equal((await chat.imagine({ text: "a fox --steps 1" }, alice, guildChannel)).kind, "job");
    const spent = privateText(await chat.imagine({ text: "a fox --steps 1" }, alice, guildChannel));
    assert.equal(
      spent.text,
      "You've made your 3 images for today. The quota resets at 00:00 UTC (in 10 seconds).",
    );
    assert.equal(spent.retryAt, Date.UTC(2026, 11, 7));
    assert.equal((await queue.history(alice.userId)).length, 2, "refusals queue nothing");
    assert.equal(
      (await chat.imagine({ text: "a fox --steps 1" }, bob, guildChannel)).kind,
      "job",
      "per user",
    );

    clock.now = Date.UTC(2026, 11, 7, 0, 0, 1);
    assert.equal((await chat.imagine({ text: "a fox --n 3 --steps 1" }, alice, guildChannel)).kind, "job");
  });

  it("gives back the images of a cancelled request", async (t) => {
    const { chat, queue } = await harness(t, { quotaPerDay: 1 });
    const reply = await chat.imagine({ text: "[sim:step-ms=50] a slow fox --steps 40" }, alice, guildChannel);
    assert.equal(reply.kind, "job");
    if (reply.kind !== "job") return;
    await chat.press(button(reply.view, /Cancel/), alice, guildChannel);
    await queue.wait(reply.jobId);
    assert.equal((await chat.imagine({ text: "a fox --steps 1" }, alice, guildChannel)).kind, "job");
  });

  it("makes a user wait out the cooldown between requests, telling them how long", async (t) => {
    const { chat, clock } = await harness(t, { cooldownSeconds: 30 });
    const start = clock.now;
    const done = await finalView(chat, await chat.imagine({ text: "a fox --steps 1" }, alice, guildChannel));
    const early = privateText(await chat.imagine({ text: "a fox" }, alice, guildChannel));
    assert.deepEqual(early, {
      text: "Please wait a little between requests: you can ask again in 30 seconds.",
      code: "queue_full",
      retryAt: start + 30_000,
    });
    clock.now = start + 29_500;
    assert.match(
      privateText(await chat.press(button(done, /Re-roll/), alice, guildChannel)).text,
      /in 1 second\./,
    );
    clock.now = start + 30_000;
    assert.equal((await chat.imagine({ text: "a fox --steps 1" }, alice, guildChannel)).kind, "job");
  });

  it("holds the cooldown for two requests sent at once", async (t) => {
    const { chat } = await harness(t, { cooldownSeconds: 30 });
    const replies = await Promise.all([
      chat.imagine({ text: "a fox --steps 1" }, alice, guildChannel),
      chat.imagine({ text: "a fox --steps 1" }, alice, guildChannel),
    ]);
    assert.deepEqual(replies.map((reply) => reply.kind).sort(), ["job", "refusal"]);
  });

  it("exempts admins, by user id or by role, from quotas and cooldowns", async (t) => {
    const { chat } = await harness(t, { quotaPerDay: 1, cooldownSeconds: 60 });
    for (const who of [admin, roleAdmin]) {
      for (let i = 0; i < 3; i++) {
        assert.equal((await chat.imagine({ text: "a fox --n 2 --steps 1" }, who, guildChannel)).kind, "job");
      }
    }
  });

  it("refuses a banned user privately, on /imagine and on buttons, and queues nothing", async (t) => {
    const { chat, queue } = await harness(t);
    const done = await finalView(chat, await chat.imagine({ text: "a fox --steps 1" }, bob, guildChannel));
    await queue.ledger.ban({ userId: bob.userId, byUserId: admin.userId, at: Date.now() });
    const refused = privateText(await chat.imagine({ text: "a fox" }, bob, guildChannel));
    assert.equal(refused.code, "forbidden");
    assert.match(refused.text, /admins have blocked you/);
    assert.equal(privateText(await chat.press(button(done, /Re-roll/), bob, guildChannel)).code, "forbidden");
    assert.equal((await queue.history(bob.userId)).length, 1, "only the job from before the ban");
    assert.equal((await chat.imagine({ text: "a fox --steps 1" }, alice, guildChannel)).kind, "job");
  });
});

describe("the delete button", () => {
  it("lets the author delete a result: the images go, the view says so, the record keeps who did it", async (t) => {
    const { chat, queue } = await harness(t);
    const done = await finalView(chat, await chat.imagine({ text: "a fox --steps 1" }, alice, guildChannel));
    const imageId = done.images[0]!.id;
    assert.ok(await chat.image(imageId));

    const refused = privateText(await chat.press(button(done, /Delete/), bob, guildChannel));
    assert.deepEqual(refused, {
      text: "Only the person who ran this /imagine, or an admin, can delete it.",
      code: "forbidden",
    });
    assert.ok(await chat.image(imageId), "still there after a refused press");

    const reply = await chat.press(button(done, /Delete/), alice, guildChannel);
    assert.equal(reply.kind, "info");
    if (reply.kind !== "info") return;
    assert.match(reply.text, /^Deleted/);
    assert.deepEqual(reply.deleted?.deleted, { byUserId: alice.userId, byAuthor: true });
    assert.equal(reply.deleted?.text, "This image was deleted by its author.");
    assert.deepEqual(reply.deleted?.buttons, []);
    assert.deepEqual(reply.deleted?.images, []);
    assert.equal(await chat.image(imageId), undefined);
    const record = await queue.job(done.jobId);
    assert.equal(record?.deleted?.byUserId, alice.userId);
    assert.ok(record?.images.every((image) => image.deleted));
    assert.deepEqual((await chat.view(done.jobId))?.deleted, { byUserId: alice.userId, byAuthor: true });
    const actions = await queue.ledger.actions(0);
    assert.deepEqual(
      actions.map((a) => [a.action, a.actor, a.target, a.place]),
      [["delete", alice.userId, done.jobId, "discord:g1/c1"]],
    );

    const again = privateText(await chat.press(button(done, /Delete/), alice, guildChannel));
    assert.equal(again.text, "This result was already deleted.");
    const vary = privateText(await chat.press(button(done, /Vary \(subtle\)/), alice, guildChannel));
    assert.equal(vary.text, "This result was deleted, so its buttons no longer work.");
  });

  it("lets an admin delete anyone's result, and the view says an admin did", async (t) => {
    const { chat, queue, config } = await harness(t);
    const done = await finalView(chat, await chat.imagine({ text: "a fox --steps 1" }, bob, guildChannel));
    const file = join(config.dataDir, "images", `${done.jobId}-0.png`);
    assert.ok(existsSync(file));
    const reply = await chat.press(button(done, /Delete/), roleAdmin, guildChannel);
    assert.equal(reply.kind === "info" && reply.deleted?.text, "This image was deleted by an admin.");
    assert.equal(existsSync(file), false, "the stored file is removed");
    assert.equal((await queue.job(done.jobId))?.deleted?.byUserId, roleAdmin.userId);
  });
});

describe("buttons after the retention sweep", () => {
  it("says plainly there is nothing to refine or upscale any more; re-roll and vary still work", async (t) => {
    const { chat, queue, clock } = await harness(t, {}, 1);
    const done = await finalView(chat, await chat.imagine({ text: "a fox --steps 1" }, alice, guildChannel));
    clock.now += 2 * 3_600_000;
    await queue.sweep();
    assert.ok((await queue.job(done.jobId))?.images.every((image) => image.deleted));
    for (const label of [/Refine/, /Upscale/]) {
      const reply = privateText(await chat.press(button(done, label), alice, guildChannel));
      assert.equal(reply.code, "not_found");
      assert.equal(
        reply.text,
        "Image 1 of this result is no longer kept (the bot keeps results for 1 hour), so there is nothing to refine or upscale any more. Re-roll and variations still work, or run /imagine again.",
      );
    }
    assert.equal((await chat.press(button(done, /Re-roll/), alice, guildChannel)).kind, "job");
    assert.equal((await chat.press(button(done, /Vary \(strong\)/), alice, guildChannel)).kind, "job");
  });

  it("keeps variations working on a posted result within the retention: the sweep keeps its file", async (t) => {
    const { chat, queue } = await harness(t, {}, 24);
    const done = await finalView(chat, await chat.imagine({ text: "a fox --steps 1" }, alice, guildChannel));
    await chat.posted(done.jobId, "discord:c1/m1");
    await queue.sweep();
    assert.equal((await queue.job(done.jobId))?.images[0]?.deleted, false);
    assert.equal((await chat.press(button(done, /Vary \(subtle\)/), alice, guildChannel)).kind, "job");
  });

  it("keeps variations working on a posted result whose file is gone; refine says why it cannot", async (t) => {
    const { chat, config } = await harness(t, {}, 24);
    const done = await finalView(chat, await chat.imagine({ text: "a fox --steps 1" }, alice, guildChannel));
    await chat.posted(done.jobId, "discord:c1/m1");
    // The bot's copy gone, as a sweep past the retention time deletes it.
    const images = join(config.dataDir, "images");
    for (const name of await readdir(images)) await rm(join(images, name), { force: true });
    assert.equal(await chat.image(done.images[0]!.id), undefined);
    assert.equal((await chat.press(button(done, /Vary \(subtle\)/), alice, guildChannel)).kind, "job");
    // No adapter here fetches Discord posts back: a refine says the image is gone, and why.
    const refine = privateText(await chat.press(button(done, /Refine/), alice, guildChannel));
    assert.equal(refine.code, "not_found");
    assert.match(
      refine.text,
      /no longer kept .*, and it could not be fetched back from where it was posted,/,
    );
  });
});

describe("/easel admin commands through the chat service", () => {
  it("refuses anyone who is not an admin, privately", async (t) => {
    const { chat } = await harness(t);
    const reply = privateText(await chat.admin("queue", {}, alice, guildChannel));
    assert.deepEqual(reply, { text: "Only this bot's admins can use /easel.", code: "forbidden" });
  });

  it("lists the queue, cancels anyone's job, bans and unbans, reports stats, and records each action", async (t) => {
    const { chat, queue } = await harness(t);
    const slow = await chat.imagine({ text: "[sim:step-ms=50] a slow fox --steps 60" }, alice, guildChannel);
    const waiting = await chat.imagine({ text: "a waiting owl --steps 1" }, bob, guildChannel);
    assert.ok(slow.kind === "job" && waiting.kind === "job");
    await new Promise<void>((resolve) => {
      chat.watch(slow.jobId, (view) => view.state === "running" && resolve());
    });

    const listing = privateText(await chat.admin("queue", {}, admin, guildChannel)).text;
    assert.match(
      listing,
      new RegExp(
        `\\*\\*Running\\*\\* \\(1\\)\\n\`${slow.jobId}\` on cpu, for \\d+ s · discord:111 \\("alice"\\) in discord:g1/c1 · 1 image · "\\[sim:step-ms=50\\] a slow fox"`,
      ),
    );
    assert.match(
      listing,
      new RegExp(`\\*\\*Queued\\*\\* \\(1\\)\\n#1 \`${waiting.jobId}\` waiting \\d+ s · discord:222`),
    );

    const cancel = privateText(await chat.admin("cancel", { job: slow.jobId }, admin, guildChannel));
    assert.equal(cancel.text, `Job \`${slow.jobId}\` is stopping: it ends at its next step.`);
    const ended = await queue.wait(slow.jobId);
    assert.equal(ended.status, "cancelled");
    assert.equal(ended.cancelledBy, admin.userId);
    await queue.wait(waiting.jobId);
    // A job that ended exists: information, not a refusal; an unknown one is not_found.
    const again = privateText(await chat.admin("cancel", { job: slow.jobId }, admin, guildChannel));
    assert.match(again.text, /already ended \(cancelled\)/);
    assert.equal(again.code, undefined);
    assert.deepEqual(privateText(await chat.admin("cancel", { job: "nope" }, admin, guildChannel)), {
      text: "There is no job `nope`.",
      code: "not_found",
    });

    assert.equal(
      privateText(await chat.admin("ban", { user: "discord:222", reason: "spam" }, admin, guildChannel)).text,
      "Banned discord:222: their requests are refused from now on.",
    );
    assert.equal(privateText(await chat.imagine({ text: "an owl" }, bob, guildChannel)).code, "forbidden");
    assert.match(
      privateText(await chat.admin("ban", { user: "discord:222" }, admin, guildChannel)).text,
      /already banned/,
    );
    assert.match(
      privateText(await chat.admin("ban", { user: "discord:999" }, roleAdmin, guildChannel)).text,
      /is an admin/,
    );
    assert.match(
      privateText(await chat.admin("ban", { user: "not a user" }, admin, guildChannel)).text,
      /is not a user/,
    );
    assert.equal(
      privateText(await chat.admin("unban", { user: "discord:222" }, admin, guildChannel)).text,
      "Lifted the ban on discord:222.",
    );
    assert.equal((await chat.imagine({ text: "an owl --steps 1" }, bob, guildChannel)).kind, "job");

    const stats = privateText(await chat.admin("stats", { days: "1" }, admin, guildChannel)).text;
    assert.match(
      stats,
      /^\*\*Last 1 day \(UTC\)\*\*: 3 jobs, 1 image\n2026-12-06 discord: 3 jobs, 1 image, 0 failed, 1 cancelled\n/,
    );
    assert.match(
      privateText(await chat.admin("stats", { days: "365" }, admin, guildChannel)).text,
      /from 1 to 90/,
    );
    assert.match(
      privateText(await chat.admin("launch", {}, admin, guildChannel)).text,
      /There is no \/easel "launch"/,
    );

    const actions = await queue.ledger.actions(0);
    assert.deepEqual(
      actions.map((a) => [a.action, a.actor, a.target]),
      [
        ["cancel", admin.userId, slow.jobId],
        ["ban", admin.userId, "discord:222"],
        ["unban", admin.userId, "discord:222"],
      ],
    );
    assert.equal(actions[1]!.detail, "spam");
    assert.equal(actions[1]!.place, "discord:g1/c1");
  });
});
