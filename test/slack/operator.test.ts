/**
 * The operator controls on Slack, end to end over HTTP: signed `/easel` commands reach the chat
 * service's admin commands and come back ephemerally, and the delete button removes the result
 * message it was on (or, when Slack will not delete it, empties it). Jobs run on simulated devices.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import type { UserId } from "../../src/requests/request.js";
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

const ADMIN = "U0BOSS";
const STRANGER = "U0EVE";
const asker: UserId = `slack:T0FAKE:${USER}`;

describe("Slack operator controls", () => {
  let fake: FakeSlack;
  let app: SlackEasel;
  let dir: Awaited<ReturnType<typeof tempDir>>;

  before(async () => {
    fake = await FakeSlack.start();
    dir = await tempDir();
    app = await startSlackEasel(fake, {
      mode: "http",
      dataDir: dir.path,
      simulatedStepMs: 50,
      env: { EASEL_ADMINS: `slack:T0FAKE:${ADMIN}` },
    });
  });
  after(async () => {
    await app?.stop();
    await fake?.close();
    await dir?.remove();
  });

  /** `/easel <text>` by `user`: its ephemeral answer. */
  const easel = async (text: string, user: string) => {
    const before = fake.ephemerals.length;
    const posts = fake.callsOf("chat.postMessage").length;
    const ack = await imagineOverHttp(fake, app, text, { user, command: "/easel" });
    assert.equal(ack.status, 200);
    const answer = await fake.waitFor(() => fake.ephemerals[before], 10_000, `the answer to /easel ${text}`);
    assert.equal(answer.user, user);
    assert.equal(answer.channel, CHANNEL);
    assert.equal(fake.callsOf("chat.postMessage").length, posts, "nothing public");
    return answer;
  };

  /** A finished result of USER's, posted in the channel. */
  const result = async (prompt: string): Promise<PostedMessage> => {
    const count = resultMessages(fake).length;
    await imagineOverHttp(fake, app, `${prompt} --steps 2`);
    const message = await fake.waitFor(() => resultMessages(fake)[count], 30_000, "the result");
    // Recorded once the status message has made way: the job's own Slack calls are over.
    await until(async () => (await app.easel.queue.job(jobIdOf(message)!))?.postedTo, 10_000, "postedTo");
    return message;
  };

  const deleteButton = (message: PostedMessage) => {
    const button = buttonsOf(message).find((b) => b.value.includes(":delete:"));
    assert.ok(button, "a result has a delete button");
    return button;
  };

  test("an admin's /easel queue lists the running job, and /easel cancel stops it", async () => {
    await imagineOverHttp(fake, app, "a slow lighthouse --steps 60");
    const jobId = await until(
      async () => (await app.easel.queue.history(asker)).find((job) => job.status === "running")?.id,
      10_000,
      "the job running",
    );
    await fake.waitFor(
      () => fake.messages.some((m) => buttonsOf(m).some((b) => b.value === `easel:1:cancel:${jobId}`)),
      10_000,
      "the job's status message",
    );
    const listing = await easel("queue", ADMIN);
    assert.match(listing.text, /Running\*? \(1\)/);
    assert.ok(listing.text.includes(jobId), listing.text);
    assert.ok(listing.text.includes(asker), "for whom");

    const cancelled = await easel(`cancel ${jobId}`, ADMIN);
    assert.match(cancelled.text, new RegExp(jobId));
    await until(
      async () => (await app.easel.queue.job(jobId))?.status === "cancelled",
      10_000,
      "the job cancelled",
    );
    assert.match((await easel("queue", ADMIN)).text, /Nothing is queued or running/);
  });

  test("an admin's /easel ban @user refuses that user's next /imagine privately; unban lifts it", async () => {
    const banned = await easel(`ban <@${STRANGER}|eve> posting spam`, ADMIN);
    assert.match(banned.text, new RegExp(`Banned slack:T0FAKE:${STRANGER}`));

    const ephemerals = fake.ephemerals.length;
    const posts = fake.callsOf("chat.postMessage").length;
    await imagineOverHttp(fake, app, "a fox", { user: STRANGER });
    const refusal = await fake.waitFor(() => fake.ephemerals[ephemerals], 10_000, "the refusal");
    assert.equal(refusal.user, STRANGER);
    assert.match(refusal.text, /blocked you/);
    assert.equal(fake.callsOf("chat.postMessage").length, posts);
    assert.deepEqual(await app.easel.queue.history(`slack:T0FAKE:${STRANGER}`), []);

    assert.match((await easel(`unban ${STRANGER}`, ADMIN)).text, /Lifted the ban/);
  });

  test("a non-admin's /easel is refused privately and changes nothing", async () => {
    const answer = await easel(`ban ${USER}`, STRANGER);
    assert.match(answer.text, /Only this bot's admins/);
    const ephemerals = fake.ephemerals.length;
    await imagineOverHttp(fake, app, "a fox --steps 2");
    // USER is not banned: the request is accepted and its result posted.
    await fake.waitFor(
      () => resultMessages(fake).some((m) => m.text.includes("a fox")),
      30_000,
      "the result",
    );
    assert.ok(fake.ephemerals.slice(ephemerals).every((e) => !/blocked/.test(e.text)));
  });

  test("the delete button by another user is refused privately and the message stays", async () => {
    const message = await result("a red kite");
    const ephemerals = fake.ephemerals.length;
    await pressOverHttp(fake, app, deleteButton(message).value, message, { user: STRANGER });
    const refusal = await fake.waitFor(() => fake.ephemerals[ephemerals], 10_000, "the refusal");
    assert.equal(refusal.user, STRANGER);
    assert.match(refusal.text, /Only the person who ran this/);
    assert.equal(fake.deletedFiles.size, 0, "no file removed");
    assert.ok(fake.messages.some((m) => m.ts === message.ts));
    assert.ok(!fake.deleted.some((m) => m.ts === message.ts));
    const job = await app.easel.queue.job(jobIdOf(message)!);
    assert.equal(job?.deleted, undefined);
  });

  /** The files uploaded for the job just before its result message. */
  const filesOf = (jobId: string) =>
    [...fake.uploads.values()].filter((upload) => upload.filename.startsWith(`easel-${jobId}-`));

  test("the delete button by the author removes the result message and its image files, and answers privately", async () => {
    const message = await result("a blue heron");
    const jobId = jobIdOf(message)!;
    const files = filesOf(jobId);
    assert.ok(files.length > 0);
    const ephemerals = fake.ephemerals.length;
    await pressOverHttp(fake, app, deleteButton(message).value, message);
    const answer = await fake.waitFor(() => fake.ephemerals[ephemerals], 10_000, "the answer");
    assert.equal(answer.user, USER);
    assert.match(answer.text, /Deleted/);
    assert.ok(
      fake.deleted.some((m) => m.ts === message.ts),
      "the result message is gone",
    );
    assert.ok(!fake.messages.some((m) => m.ts === message.ts));
    for (const file of files) assert.ok(fake.deletedFiles.has(file.fileId), `${file.filename} deleted`);
    const job = await app.easel.queue.job(jobId);
    assert.equal(job?.deleted?.byUserId, asker);
    // A second press of a button on the gone message (a stale client) answers, and nothing breaks.
    const reroll = buttonsOf(message).find((b) => b.value.includes(":reroll:"))!;
    const later = fake.ephemerals.length;
    await pressOverHttp(fake, app, reroll.value, message);
    const stale = await fake.waitFor(() => fake.ephemerals[later], 10_000, "the re-roll's answer");
    assert.match(stale.text, /deleted/);
  });

  test("when Slack refuses chat.delete, an admin's delete edits the message to the deleted text with no buttons", async () => {
    const message = await result("a grey wolf");
    const jobId = jobIdOf(message)!; // read now: the fake edits the message object in place
    fake.inject("chat.delete", { error: "cant_delete_message" });
    const ephemerals = fake.ephemerals.length;
    await pressOverHttp(fake, app, deleteButton(message).value, message, { user: ADMIN });
    const answer = await fake.waitFor(() => fake.ephemerals[ephemerals], 10_000, "the answer");
    assert.equal(answer.user, ADMIN);
    assert.match(answer.text, /Deleted/);
    const edited = fake.messages.find((m) => m.ts === message.ts)!;
    assert.match(edited.text, /deleted by an admin/);
    assert.deepEqual(edited.blocks ?? [], []);
    assert.equal(buttonsOf(edited).length, 0);
    const job = await app.easel.queue.job(jobId);
    assert.equal(job?.deleted?.byUserId, `slack:T0FAKE:${ADMIN}`);
  });
});
