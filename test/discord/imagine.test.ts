/**
 * `/imagine` end to end: the real discord.js client against the loopback Discord, easel's queue on
 * simulated devices. Everything is checked from what the bot sent over the wire.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import sharp from "sharp";
import { ALL_BOT_PERMISSIONS, PERMISSIONS } from "./fake-discord.js";
import {
  buttons,
  EPHEMERAL,
  finalMessage,
  type Harness,
  imagine,
  newUser,
  requestsOf,
  sharedScope,
  startHarness,
} from "./harness.js";

const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

test("registers /imagine, /help and /easel once, and not again when a restart finds them unchanged", async (t) => {
  const h = await startHarness(t);
  const puts = () => h.fake.calls("PUT", /^\/applications\/\d+\/guilds\/\d+\/commands$/);
  assert.equal(puts().length, 1);
  const registered = h.fake.commands.get(h.guild.id)!;
  assert.deepEqual(registered.map((c) => c.name).sort(), ["easel", "help", "imagine"]);
  const imagineCommand = registered.find((c) => c.name === "imagine")!;
  const options = imagineCommand.options as Array<{ name: string; type: number; required?: boolean }>;
  assert.equal(options[0]!.name, "prompt");
  assert.equal(options[0]!.required, true);
  assert.ok(options.some((o) => o.name === "aspect"));
  assert.ok(
    options.some((o) => o.name === "image" && o.type === 11),
    "an attachment option to refine a picture",
  );

  await h.restart();
  assert.equal(h.fake.calls("GET", /\/guilds\/\d+\/commands$/).length, 2, "the restart compared");
  assert.equal(puts().length, 1, "nothing re-registered (subcommands and their options compared too)");
});

describe("/imagine on one running easel", () => {
  let h: Harness;
  const scope = sharedScope();
  before(async () => {
    h = await startHarness(scope, { stepMs: 150 });
  });
  after(() => scope.cleanup());

  test("a valid /imagine is answered publicly at once, shows its place in line and its steps with a preview, then the whole PNGs and result buttons", async (t) => {
    const user = newUser();
    const other = newUser("bob");
    // Bob's job holds the one device, so Ann's waits in line first.
    const first = imagine(h, "a slow warm-up [sim:step-ms=200]", { steps: 3 }, { user: other });
    await h.fake.waitFor(() => h.fake.interactions.get(first.id)?.callback, 5000, "bob's answer");
    const ann = imagine(h, "a lighthouse at dusk --ar 16:9", { steps: 4 }, { user });

    const answer = await h.fake.waitFor(
      () => h.fake.interactions.get(ann.id)?.callback,
      5000,
      "ann's answer",
    );
    t.diagnostic(`interaction → first answer: ${(answer.at - ann.dispatchedAt).toFixed(1)} ms`);
    assert.equal(answer.type, 4, "answered with the job's message");
    assert.equal((answer.data?.flags ?? 0) & EPHEMERAL, 0, "public");
    assert.match(answer.data?.content ?? "", /Queued/);
    assert.deepEqual(
      buttons(answer.data!.components!)
        .flat()
        .map((b) => b.label),
      ["Cancel"],
    );

    const done = await finalMessage(h, ann);
    const edits = requestsOf(h, ann).filter((r) => r.method === "PATCH");
    const contents = edits.map((r) => (r.json as { content: string }).content);
    assert.ok(
      contents.some((c) => /step \d+\/4/.test(c)),
      `progress edits: ${contents.join(" | ")}`,
    );
    const progress = edits.filter((r) => /step \d+\/4/.test((r.json as { content: string }).content));
    assert.ok(
      progress.some((r) => r.files.some((f) => f.name.startsWith("preview."))),
      "a progress edit carries the live preview",
    );
    for (const edit of progress) {
      const labels = buttons((edit.json as { components: never[] }).components)
        .flat()
        .map((b) => b.label);
      assert.deepEqual(labels, ["Cancel"], "progress messages carry only cancel");
    }

    // The final edit: multipart with whole PNGs equal to the stored images.
    const last = edits.at(-1)!;
    assert.equal(last.files.length, 1);
    const file = last.files[0]!;
    assert.equal(file.contentType, "image/png");
    assert.deepEqual(file.data.subarray(0, 8), PNG_SIGNATURE);
    const jobs = await h.easel.queue.history(`discord:${user.id}`);
    assert.equal(jobs.length, 1);
    const stored = await h.easel.chat.image(jobs[0]!.images[0]!.id);
    assert.ok(stored);
    assert.ok(Buffer.from(stored.data).equals(file.data), "the attachment is the whole stored PNG");
    const meta = await sharp(file.data).metadata();
    assert.equal(meta.format, "png");

    assert.match(done.content, /a lighthouse at dusk/);
    assert.match(done.content, /seed \d+/);
    const labels = buttons(done)
      .flat()
      .map((b) => b.label);
    assert.ok(labels.some((l) => /Re-roll/.test(l)));
    assert.ok(labels.some((l) => /Vary/.test(l)));
    assert.ok(labels.some((l) => /Upscale/.test(l)));
    assert.ok(!labels.includes("Cancel"));

    // Edits notify no one: a short follow-up mentions the user.
    const ping = await h.fake.waitFor(
      () => h.fake.channelMessages(h.channel.id).find((m) => m.content.includes(`<@${user.id}>`)),
      5000,
      "the ping",
    );
    assert.deepEqual(ping.allowedMentions?.users, [user.id]);
    assert.equal((await h.easel.queue.job(jobs[0]!.id))?.postedTo, `discord:${h.channel.id}/${done.id}`);
  });

  test("a bad option gets one private message at once and nothing is queued", async () => {
    const user = newUser();
    const bad = imagine(h, "a fox", { steps: 9999 }, { user });
    const answer = await h.fake.waitFor(() => h.fake.interactions.get(bad.id)?.callback, 5000, "the answer");
    assert.equal(answer.type, 4);
    assert.equal((answer.data?.flags ?? 0) & EPHEMERAL, EPHEMERAL);
    assert.match(answer.data?.content ?? "", /Steps/);
    await new Promise((resolve) => setTimeout(resolve, 200));
    assert.equal(requestsOf(h, bad).length, 1, "one message, no edits or follow-ups");
    assert.deepEqual(await h.easel.queue.history(`discord:${user.id}`), []);

    const flag = imagine(h, "a fox --stpes 20", {}, { user });
    const flagAnswer = await h.fake.waitFor(() => h.fake.interactions.get(flag.id)?.callback, 5000);
    assert.equal((flagAnswer.data?.flags ?? 0) & EPHEMERAL, EPHEMERAL);
    assert.match(flagAnswer.data?.content ?? "", /--stpes/);
    assert.deepEqual(await h.easel.queue.history(`discord:${user.id}`), []);
  });

  test("a channel where the bot may not attach files gets a clear private answer and nothing is queued", async () => {
    const user = newUser();
    const closed = h.fake.addChannel(h.guild, {
      name: "no-files",
      botPermissions: ALL_BOT_PERMISSIONS & ~PERMISSIONS.attachFiles,
    });
    const it = imagine(h, "a fox", {}, { user, channel: closed });
    const answer = await h.fake.waitFor(() => h.fake.interactions.get(it.id)?.callback, 5000);
    assert.equal((answer.data?.flags ?? 0) & EPHEMERAL, EPHEMERAL);
    assert.match(answer.data?.content ?? "", /Attach Files/);
    assert.deepEqual(await h.easel.queue.history(`discord:${user.id}`), []);
  });

  test("the channel's NSFW flag, the guild and the member's roles reach the job", async () => {
    const user = newUser();
    const role = [...h.guild.roles][0]!;
    const nsfw = h.fake.addChannel(h.guild, { name: "after-dark", nsfw: true });
    // A channel created after READY reaches the bot with the interaction itself.
    const it = imagine(h, "a fox", {}, { user, channel: nsfw, roles: [role] });
    await finalMessage(h, it);
    const [job] = await h.easel.queue.history(`discord:${user.id}`);
    const requester = job!.request.requester;
    assert.equal(requester.serverId, h.guild.id);
    assert.equal(requester.channelId, nsfw.id);
    assert.equal(requester.nsfwChannel, true);
    assert.deepEqual(requester.roles, [`discord-role:${role}`]);
  });

  test("/help answers privately", async () => {
    const user = newUser();
    const it = h.fake.slashCommand({ user: user, channel: h.channel, name: "help" });
    const answer = await h.fake.waitFor(() => h.fake.interactions.get(it.id)?.callback, 5000);
    assert.equal((answer.data?.flags ?? 0) & EPHEMERAL, EPHEMERAL);
    assert.match(answer.data?.content ?? "", /--ar/);
  });

  test("a DM works, and the result is posted there", async () => {
    const user = newUser();
    const dm = h.fake.addChannel(undefined);
    const it = imagine(h, "a fox", {}, { user, channel: dm });
    await finalMessage(h, it);
    const [job] = await h.easel.queue.history(`discord:${user.id}`);
    assert.equal(job!.request.requester.serverId, undefined);
    assert.equal(job!.request.requester.channelId, dm.id);
  });
});

test("a full queue is a private answer", async (t) => {
  const h = await startHarness(t, { env: { EASEL_MAX_JOBS_PER_USER: "1" }, stepMs: 100 });
  const first = imagine(h, "one", { steps: 10 });
  await h.fake.waitFor(() => h.fake.interactions.get(first.id)?.callback, 5000);
  const second = imagine(h, "two");
  const answer = await h.fake.waitFor(() => h.fake.interactions.get(second.id)?.callback, 5000);
  assert.equal((answer.data?.flags ?? 0) & EPHEMERAL, EPHEMERAL);
  assert.match(answer.data?.content ?? "", /\b1\b|limit|wait|finish/i);
  assert.equal((await h.easel.queue.history(`discord:${h.user.id}`)).length, 1);
});

test("progress edits of one message come at most about every 2 s", async (t) => {
  const h = await startHarness(t, { bot: { viewIntervalMs: 2000 }, stepMs: 250 });
  const it = imagine(h, "a slow one", { steps: 18 });
  await finalMessage(h, it);
  const progress = requestsOf(h, it).filter(
    (r) => r.method === "PATCH" && r.status === 200 && !r.files.some((f) => f.name.startsWith("easel-")),
  );
  assert.ok(progress.length >= 2, `progress edits: ${progress.length}`);
  // The first view may follow the answer at once; later ones are spaced by the interval.
  for (let i = 1; i < progress.length; i++) {
    const gap = progress[i]!.at - progress[i - 1]!.at;
    assert.ok(gap >= 1900, `edit ${i} came ${gap.toFixed(0)} ms after the previous one`);
  }
});
