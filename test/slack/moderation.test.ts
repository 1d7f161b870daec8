/**
 * Output moderation on Slack, through the loopback Slack with the real classifier (threshold 0
 * flags every image, 1 none). Slack has no spoilers: a flagged image is uploaded as its blurred
 * copy with a Show button that sends the original in a direct message (Slack's private messages
 * carry no files); withhold uploads nothing, tells the requester privately, and an admin's
 * `/easel release` uploads it into the channel.
 */
import assert from "node:assert/strict";
import { type TestContext, test } from "node:test";
import sharp from "sharp";
import { FakeSlack, type PostedMessage } from "./fake-slack.js";
import {
  buttonsOf,
  CHANNEL,
  imagineOverHttp,
  jobIdOf,
  pressOverHttp,
  resultMessages,
  type SlackEasel,
  startSlackEasel,
  tempDir,
  USER,
  until,
} from "./support.js";

const ADMIN = "U0ADMIN";
const OTHER = "U0OTHER";

async function moderatedSlack(
  t: TestContext,
  mode: string,
  threshold: string,
): Promise<{ fake: FakeSlack; app: SlackEasel }> {
  const fake = await FakeSlack.start();
  const dir = await tempDir();
  const app = await startSlackEasel(fake, {
    mode: "http",
    dataDir: dir.path,
    simulatedStepMs: 2,
    env: {
      EASEL_MODERATION: mode,
      EASEL_MODERATION_THRESHOLD: threshold,
      EASEL_ADMINS: `slack:${fake.teamId}:${ADMIN}`,
    },
  });
  t.after(async () => {
    await app.stop();
    await fake.close();
    await dir.remove();
  });
  return { fake, app };
}

async function resultOf(fake: FakeSlack, prompt: string, app: SlackEasel): Promise<PostedMessage> {
  const before = resultMessages(fake).length;
  await imagineOverHttp(fake, app, `${prompt} --steps 2`);
  return fake.waitFor(
    () => resultMessages(fake).length > before && resultMessages(fake).at(-1),
    30_000,
    "the result message",
  );
}

function showValue(message: PostedMessage): string {
  const found = buttonsOf(message).find((button) => /Show/.test(button.text.text));
  assert.ok(found, `a Show button in ${JSON.stringify(buttonsOf(message).map((b) => b.text.text))}`);
  return found.value;
}

const uploadsOf = (fake: FakeSlack, jobId: string) =>
  [...fake.uploads.values()].filter((upload) => upload.filename.includes(jobId));

test("blur mode, threshold 0: the channel gets a blurred copy; Show sends the requester the original by DM, nobody else", async (t) => {
  const { fake, app } = await moderatedSlack(t, "blur", "0");
  const result = await resultOf(fake, "a lighthouse", app);
  const jobId = jobIdOf(result)!;
  const stored = await app.easel.queue.images.get(`${jobId}-0`);
  assert.ok(stored);
  const [posted, ...more] = uploadsOf(fake, jobId);
  assert.equal(more.length, 0);
  assert.equal(posted!.channel, CHANNEL);
  assert.match(posted!.filename, /-1-blurred\.jpg$/);
  assert.notDeepEqual(new Uint8Array(posted!.bytes!), stored.data);
  const meta = await sharp(posted!.bytes!).metadata();
  assert.deepEqual([meta.format, meta.width, meta.height], ["jpeg", stored.width, stored.height]);
  // The blurred copy is not the image: a refine must never start from it.
  const postedTo = await until(async () => (await app.easel.queue.job(jobId))?.postedTo, 10_000, "posted");
  assert.doesNotMatch(postedTo, new RegExp(posted!.fileId));

  const told = fake.ephemerals.length;
  await pressOverHttp(fake, app, showValue(result), result, { user: OTHER });
  await fake.waitFor(() => fake.ephemerals.length > told, 10_000, "the refusal");
  assert.match(fake.ephemerals.at(-1)!.text, /Only the person who made this image/);
  assert.equal(fake.directMessages.size, 0, "no DM for anyone else");

  await pressOverHttp(fake, app, showValue(result), result, { user: USER });
  const dm = await fake.waitFor(
    () => [...fake.uploads.values()].find((upload) => upload.channel?.startsWith("D")),
    10_000,
    "the original in a DM",
  );
  assert.equal(fake.directMessages.get(USER), dm.channel);
  assert.match(dm.filename, new RegExp(`easel-${jobId}-1\\.png$`));
  assert.deepEqual(new Uint8Array(dm.bytes!), stored.data);
  await fake.waitFor(
    () => fake.ephemerals.some((e) => e.user === USER && /direct message/.test(e.text)),
    10_000,
    "the note that it went to a DM",
  );
});

test("spoiler mode on Slack: a blurred copy too, but anyone may ask to see it (a spoiler only asks for a click)", async (t) => {
  const { fake, app } = await moderatedSlack(t, "spoiler", "0");
  const result = await resultOf(fake, "a lighthouse", app);
  const jobId = jobIdOf(result)!;
  assert.match(uploadsOf(fake, jobId)[0]!.filename, /-1-blurred\.jpg$/);
  await pressOverHttp(fake, app, showValue(result), result, { user: OTHER });
  const dm = await fake.waitFor(
    () => [...fake.uploads.values()].find((upload) => upload.channel === `D${OTHER.slice(1)}`),
    10_000,
    "the original in the other user's DM",
  );
  assert.match(dm.filename, /-1\.png$/);
});

test("blur mode, threshold 1: the image itself is uploaded, with no Show button", async (t) => {
  const { fake, app } = await moderatedSlack(t, "blur", "1");
  const result = await resultOf(fake, "a lighthouse", app);
  const jobId = jobIdOf(result)!;
  const [posted] = uploadsOf(fake, jobId);
  assert.match(posted!.filename, /-1\.png$/);
  assert.ok(!buttonsOf(result).some((button) => /Show/.test(button.text.text)));
});

test("withhold mode: nothing is uploaded, the requester is told privately, and an admin's release uploads it", async (t) => {
  const { fake, app } = await moderatedSlack(t, "withhold", "0");
  const result = await resultOf(fake, "a lighthouse", app);
  const jobId = jobIdOf(result)!;
  assert.equal(uploadsOf(fake, jobId).length, 0, "nothing uploaded");
  assert.match(result.text, /withheld by the content filter/);
  await fake.waitFor(
    () => fake.ephemerals.some((e) => e.user === USER && e.text.includes(jobId) && /withheld/.test(e.text)),
    10_000,
    "the private note",
  );

  const listed = fake.ephemerals.length;
  await imagineOverHttp(fake, app, "withheld", { command: "/easel", user: ADMIN });
  await fake.waitFor(() => fake.ephemerals.length > listed, 10_000, "the listing");
  assert.ok(fake.ephemerals.at(-1)!.text.includes(jobId), fake.ephemerals.at(-1)!.text);

  await imagineOverHttp(fake, app, `release ${jobId} 1`, { command: "/easel", user: ADMIN });
  const released = await fake.waitFor(
    () => uploadsOf(fake, jobId).find((upload) => upload.channel === CHANNEL && upload.bytes),
    10_000,
    "the released image in the channel",
  );
  assert.match(released.filename, /-1\.png$/);
  assert.ok(released.initialComment?.includes(`<@${USER}>`));
  const stored = await app.easel.queue.images.get(`${jobId}-0`);
  assert.deepEqual(new Uint8Array(released.bytes!), stored!.data);
  await fake.waitFor(
    () => fake.ephemerals.some((e) => e.user === ADMIN && /Released image 1/.test(e.text)),
    10_000,
    "the admin's answer",
  );
});

test("withhold mode, threshold 1: the image is uploaded and nobody is told anything", async (t) => {
  const { fake, app } = await moderatedSlack(t, "withhold", "1");
  const result = await resultOf(fake, "a lighthouse", app);
  assert.equal(uploadsOf(fake, jobIdOf(result)!).length, 1);
  assert.ok(!fake.ephemerals.some((e) => /withheld/.test(e.text)));
});
