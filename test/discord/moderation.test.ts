/**
 * Output moderation on Discord, through the loopback Discord with the real classifier: threshold 0
 * flags every image and 1 none, so the scores do not matter here. Spoiler mode marks attachments
 * `SPOILER_`; blur posts a blurred copy and a Show button that gives the requester the original
 * privately; withhold posts no image, tells the requester privately, and an admin's
 * `/easel release` posts it.
 */
import assert from "node:assert/strict";
import { readdir, rm } from "node:fs/promises";
import { join } from "node:path";
import { test } from "node:test";
import sharp from "sharp";
import type { FakeUser, InteractionRecord, StoredMessage } from "./fake-discord.js";
import {
  buttonId,
  buttons,
  EPHEMERAL,
  finalMessage,
  type Harness,
  imagine,
  newUser,
  startHarness,
} from "./harness.js";

const isResult = (message: StoredMessage) =>
  message.components.some((row) => row.components.some((button) => /Re-roll/.test(button.label ?? "")));

function moderated(mode: string, threshold: string, extra: Record<string, string> = {}) {
  return { EASEL_MODERATION: mode, EASEL_MODERATION_THRESHOLD: threshold, ...extra };
}

async function result(h: Harness, it: InteractionRecord): Promise<StoredMessage> {
  return finalMessage(h, it, isResult, 30_000);
}

/** `/easel <subcommand>` with its options, as Discord sends it. */
function easel(
  h: Harness,
  user: FakeUser,
  subcommand: string,
  options: Record<string, string | number> = {},
) {
  return h.fake.slashCommand({
    user,
    channel: h.channel,
    name: "easel",
    options: [
      {
        name: subcommand,
        type: 1,
        options: Object.entries(options).map(([name, value]) => ({
          name,
          type: typeof value === "number" ? 4 : 3,
          value,
        })),
      },
    ],
  });
}

async function callbackOf(h: Harness, it: InteractionRecord) {
  return h.fake.waitFor(() => h.fake.interactions.get(it.id)?.callback, 10_000, "the answer");
}

/** The channel's messages with an image since the first `before` ones. */
function postsWithImages(h: Harness, before: number) {
  return h.fake
    .channelMessages(h.channel.id)
    .slice(before)
    .filter((m) => m.attachments.length > 0);
}

/** The first message with an image posted in the channel after the first `before` (a release). */
function releasedPost(h: Harness, before: number) {
  return h.fake.waitFor(() => postsWithImages(h, before)[0], 15_000, "the released image in the channel");
}

test("spoiler mode, threshold 0: every attachment of a result is a spoiler, and the job records the scores", async (t) => {
  const h = await startHarness(t, { env: moderated("spoiler", "0") });
  const message = await result(h, imagine(h, "two lighthouses", { count: 2 }));
  const names = message.attachments.map((attachment) => attachment.filename);
  assert.equal(names.length, 2, names.join(", "));
  for (const name of names) assert.match(name, /^SPOILER_easel-[\w-]+-\d\.png$/);
  // A spoiler is revealed by a click on it: no Show button on Discord.
  assert.ok(
    !buttons(message)
      .flat()
      .some((button) => /Show/.test(button.label)),
    JSON.stringify(buttons(message)),
  );
  const [job] = await h.easel.queue.history(`discord:${h.user.id}`);
  for (const image of job!.images) {
    assert.equal(image.moderation?.flagged, true);
    assert.equal(image.moderation?.action, "spoiler");
    assert.ok(image.moderation.score >= 0 && image.moderation.score <= 1);
  }
});

test("spoiler mode, threshold 1: no attachment is a spoiler", async (t) => {
  const h = await startHarness(t, { env: moderated("spoiler", "1") });
  const message = await result(h, imagine(h, "two lighthouses", { count: 2 }));
  const names = message.attachments.map((attachment) => attachment.filename);
  assert.equal(names.length, 2);
  for (const name of names) assert.match(name, /^easel-[\w-]+-\d\.png$/);
  const [job] = await h.easel.queue.history(`discord:${h.user.id}`);
  assert.ok(job!.images.every((image) => image.moderation?.flagged === false));
});

test("blur mode: the channel gets a blurred copy; Show gives the requester the original privately, and nobody else", async (t) => {
  const h = await startHarness(t, { env: moderated("blur", "0") });
  const message = await result(h, imagine(h, "a lighthouse"));
  const [job] = await h.easel.queue.history(`discord:${h.user.id}`);
  const stored = await h.easel.queue.images.get(job!.images[0]!.id);
  assert.ok(stored);
  assert.equal(message.attachments.length, 1);
  const posted = message.attachments[0]!;
  assert.match(posted.filename, /^easel-[\w-]+-1-blurred\.jpg$/);
  const postedBytes = message.files.get(posted.id)!.data;
  assert.notDeepEqual(new Uint8Array(postedBytes), stored.data, "the channel does not get the original");
  assert.deepEqual(
    [(await sharp(postedBytes).metadata()).width, (await sharp(postedBytes).metadata()).height],
    [stored.width, stored.height],
  );

  const show = h.fake.pressButton({ user: h.user, message, customId: buttonId(message, /Show/) });
  const answer = await callbackOf(h, show);
  assert.equal((answer.data?.flags ?? 0) & EPHEMERAL, EPHEMERAL, "only the requester sees it");
  const shown = h.fake.original(show)!;
  assert.equal(shown.attachments.length, 1);
  assert.match(shown.attachments[0]!.filename, /^easel-[\w-]+-1\.png$/);
  assert.deepEqual(new Uint8Array(shown.files.get(shown.attachments[0]!.id)!.data), stored.data);

  const other = newUser("other");
  const refused = h.fake.pressButton({ user: other, message, customId: buttonId(message, /Show/) });
  const refusal = await callbackOf(h, refused);
  assert.equal((refusal.data?.flags ?? 0) & EPHEMERAL, EPHEMERAL);
  assert.match(refusal.data?.content ?? "", /Only the person who made this image/);
  assert.equal(h.fake.original(refused)?.attachments.length ?? 0, 0, "no file for anyone else");
});

test("blur mode, threshold 1: the image is posted as it is, without a Show button", async (t) => {
  const h = await startHarness(t, { env: moderated("blur", "1") });
  const message = await result(h, imagine(h, "a lighthouse"));
  assert.match(message.attachments[0]!.filename, /^easel-[\w-]+-1\.png$/);
  assert.ok(
    !buttons(message)
      .flat()
      .some((button) => /Show/.test(button.label)),
  );
});

test("withhold mode: no image is posted, the requester is told privately, and an admin's release posts it", async (t) => {
  const admin = newUser("admin");
  const h = await startHarness(t, {
    env: moderated("withhold", "0", { EASEL_ADMINS: `discord:${admin.id}` }),
  });
  const it = imagine(h, "a lighthouse");
  const message = await result(h, it);
  assert.equal(message.attachments.length, 0, "nothing posted");
  assert.match(message.content, /withheld by the content filter/);
  const [job] = await h.easel.queue.history(`discord:${h.user.id}`);
  assert.equal(job!.images[0]!.moderation?.action, "withhold");
  // The note: an ephemeral follow-up on the requester's interaction.
  const note = await h.fake.waitFor(
    () =>
      [...h.fake.messages.values()].find(
        (m) => m.interactionId === it.id && (m.flags & EPHEMERAL) === EPHEMERAL && /withheld/.test(m.content),
      ),
    10_000,
    "the private note",
  );
  assert.ok(note.content.includes(job!.id));

  // Nobody but an admin may see it.
  const requesterShow = await h.easel.chat.imageFor(job!.images[0]!.id, { userId: `discord:${h.user.id}` });
  assert.equal(requesterShow.kind, "refusal");

  const listing = await callbackOf(h, easel(h, admin, "withheld"));
  assert.equal((listing.data?.flags ?? 0) & EPHEMERAL, EPHEMERAL);
  assert.ok(listing.data?.content?.includes(job!.id), listing.data?.content ?? "");

  const look = easel(h, admin, "show", { job: job!.id, image: 1 });
  await callbackOf(h, look);
  assert.equal(h.fake.original(look)?.attachments.length, 1, "an admin may look privately");

  const before = h.fake.channelMessages(h.channel.id).length;
  const release = await callbackOf(h, easel(h, admin, "release", { job: job!.id, image: 1 }));
  assert.match(release.data?.content ?? "", /Released image 1/);
  const posted = await releasedPost(h, before);
  assert.match(posted.attachments[0]!.filename, /^easel-[\w-]+-1\.png$/);
  assert.ok(posted.content.includes(`<@${h.user.id}>`));
  const stored = await h.easel.queue.images.get(job!.images[0]!.id);
  assert.deepEqual(new Uint8Array(posted.files.get(posted.attachments[0]!.id)!.data), stored!.data);
  const again = await callbackOf(h, easel(h, admin, "release", { job: job!.id, image: 1 }));
  assert.match(again.data?.content ?? "", /already released/);
  // The service queue sees the release in the store too (about every second): it is not posted
  // a second time.
  await new Promise((resolve) => setTimeout(resolve, 4500));
  assert.equal(postsWithImages(h, before).length, 1);
});

test("withhold mode: a release on the box (easel admin release, through the job store) is posted in the channel too", async (t) => {
  const h = await startHarness(t, { env: moderated("withhold", "0") });
  const message = await result(h, imagine(h, "a lighthouse", { count: 2 }));
  assert.equal(message.attachments.length, 0);
  const [job] = await h.easel.queue.history(`discord:${h.user.id}`);
  const before = h.fake.channelMessages(h.channel.id).length;
  // What `easel admin release JOB 2` does, from another process: a write to the shared store.
  assert.equal(await h.easel.queue.ledger.release(job!.id, 1, "cli:operator", "cli"), "released");
  const posted = await releasedPost(h, before);
  assert.match(posted.attachments[0]!.filename, /^easel-[\w-]+-2\.png$/);
  assert.match(posted.content, /Image 2 of this result was released/);
});

test("withhold mode, threshold 1: the image is posted and nobody is told anything", async (t) => {
  const h = await startHarness(t, { env: moderated("withhold", "1") });
  const it = imagine(h, "a lighthouse");
  const message = await result(h, it);
  assert.equal(message.attachments.length, 1);
  assert.doesNotMatch(message.content, /withheld/);
  assert.ok(![...h.fake.messages.values()].some((m) => /withheld/.test(m.content)));
});

test("a channel marked NSFW is exempt unless EASEL_MODERATION_NSFW_CHANNELS=on", async (t) => {
  const h = await startHarness(t, { env: moderated("spoiler", "0") });
  const nsfw = h.fake.addChannel(h.guild, { name: "after-dark", nsfw: true });
  const exempt = await result(h, imagine(h, "a lighthouse", {}, { channel: nsfw }));
  assert.match(exempt.attachments[0]!.filename, /^easel-/);

  const strict = await startHarness(t, {
    env: moderated("spoiler", "0", { EASEL_MODERATION_NSFW_CHANNELS: "on" }),
  });
  const strictNsfw = strict.fake.addChannel(strict.guild, { name: "after-dark", nsfw: true });
  const moderatedThere = await result(strict, imagine(strict, "a lighthouse", {}, { channel: strictNsfw }));
  assert.match(moderatedThere.attachments[0]!.filename, /^SPOILER_easel-/);
});

test("past the retention time, Refine fetches a spoiler back from its SPOILER_ attachment, never from a blurred copy", async (t) => {
  for (const [mode, fetched] of [
    ["spoiler", true],
    ["blur", false],
  ] as const) {
    const h = await startHarness(t, { env: moderated(mode, "0") });
    const first = await result(h, imagine(h, "a lighthouse", { steps: 2 }));
    const jobId = buttonId(first, /Re-roll/).split(":")[3]!;
    // Recorded once the result message is up (just after the fake shows it).
    for (let tries = 0; tries < 500 && !(await h.easel.queue.job(jobId))?.postedTo; tries++) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    await h.restart();
    for (const name of await readdir(join(h.dataDir, "images"))) await rm(join(h.dataDir, "images", name));
    const it = h.fake.pressButton({ user: h.user, message: first, customId: buttonId(first, /^Refine$/) });
    const answer = await callbackOf(h, it);
    if (fetched) {
      assert.equal((answer.data?.flags ?? 0) & EPHEMERAL, 0, `${mode}: ${answer.data?.content}`);
      const refined = await result(h, it);
      assert.match(refined.content, /refined from image 1/);
    } else {
      assert.equal((answer.data?.flags ?? 0) & EPHEMERAL, EPHEMERAL);
      assert.match(String(answer.data?.content), /no longer kept/);
    }
  }
});
