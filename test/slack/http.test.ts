/**
 * The Slack app in HTTP mode, end to end: the real Bolt receiver on loopback gets signed slash
 * commands and button presses; its WebClient talks to the loopback Slack; jobs run on the fixture
 * SDXL pipeline (or simulated devices where only timing matters).
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import type { UserId } from "../../src/requests/request.js";
import { FakeSlack } from "./fake-slack.js";
import {
  buttonsOf,
  CHANNEL,
  imagineOverHttp,
  isWholePng,
  pressOverHttp,
  resultMessages,
  type SlackEasel,
  seedIn,
  startSlackEasel,
  tempDir,
  USER,
  until,
} from "./support.js";

const ACK_DEADLINE_MS = 3000;

describe("Slack over HTTP with the fixture pipeline", () => {
  let fake: FakeSlack;
  let app: SlackEasel;
  let dir: Awaited<ReturnType<typeof tempDir>>;
  const asker: UserId = `slack:T0FAKE:${USER}`;

  before(async () => {
    fake = await FakeSlack.start();
    dir = await tempDir();
    app = await startSlackEasel(fake, { mode: "http", dataDir: dir.path });
  });
  after(async () => {
    await app?.stop();
    await fake?.close();
    await dir?.remove();
  });

  test("/imagine is acked within 3 s, shown in the channel, then whole PNGs are uploaded there and a caption with buttons follows", async (t) => {
    const ack = await imagineOverHttp(
      fake,
      app,
      "a lighthouse at dusk --size 512x512 --steps 3 --seed 7 --n 2",
    );
    t.diagnostic(`ack after ${ack.ms.toFixed(1)} ms`);
    assert.equal(ack.status, 200);
    assert.ok(ack.ms < ACK_DEADLINE_MS, `ack took ${ack.ms} ms`);

    const [result] = await fake.waitFor(
      () => resultMessages(fake).length === 1 && resultMessages(fake),
      60_000,
      "the result",
    );
    const status = [...fake.deleted, ...fake.messages].find((m) => m.ts !== result!.ts);
    assert.ok(status, "a status message was posted first");
    assert.equal(status.channel, CHANNEL);
    assert.match(status.history[0]!.text, /Queued|Generating|Starting/i);
    assert.ok(
      buttonsOf(status.history[0]!).some((b) => b.value.includes(":cancel:")),
      "cancel while it runs",
    );
    // The status message makes way for the result.
    await fake.waitFor(
      () => fake.deleted.some((m) => m.ts === status.ts),
      10_000,
      "the status message removed",
    );

    const uploads = [...fake.uploads.values()];
    assert.equal(uploads.length, 2);
    for (const upload of uploads) {
      assert.equal(upload.channel, CHANNEL);
      assert.equal(upload.initialComment, `<@${USER}>`);
      assert.ok(upload.bytes && isWholePng(upload.bytes), `${upload.filename} is a whole PNG`);
      assert.equal(upload.bytes.length, upload.length);
    }
    // The bytes are the stored images, whole.
    const jobId = buttonsOf(result!)
      .find((b) => b.value.includes(":reroll:"))!
      .value.split(":")[3]!;
    const job = await app.easel.queue.job(jobId);
    assert.equal(job?.status, "done");
    assert.equal(job?.userId, asker);
    assert.equal(job?.request.requester.channelId, CHANNEL);
    const stored = await app.easel.chat.image(job!.images[0]!.id);
    if (stored) assert.ok(uploads.some((u) => u.bytes!.equals(Buffer.from(stored.data))));

    // The caption and the buttons come after the upload, in their own message.
    const completed = fake.callsOf("files.completeUploadExternal")[0]!;
    const resultPost = fake
      .callsOf("chat.postMessage")
      .find((call) => call.params.text === result!.history[0]!.text)!;
    assert.ok(resultPost.at > completed.at);
    assert.match(result!.text, /a lighthouse at dusk/);
    assert.equal(seedIn(result!.text), "7");
    const values = buttonsOf(result!).map((b) => b.value);
    assert.ok(values.some((v) => v.includes(":reroll:")));
    assert.ok(values.some((v) => v.includes(":vary:")));
    for (const button of buttonsOf(result!)) {
      assert.equal(button.action_id, button.value);
      assert.ok(button.text.text.length <= 75);
    }
    assert.ok(
      buttonsOf(result!).every((b) => !b.value.includes(":cancel:")),
      "no cancel on a result",
    );
    const postedTo = await until(
      async () => (await app.easel.queue.job(jobId))?.postedTo,
      10_000,
      "postedTo",
    );
    // The message, and each image's uploaded file (what a button fetches back once the bot's copy is gone).
    const files = [...fake.uploads.values()]
      .filter((upload) => upload.filename.includes(jobId))
      .map((upload) => `${Number(/-(\d+)\.png$/.exec(upload.filename)![1]) - 1}=${upload.fileId}`);
    assert.equal(postedTo, `slack:T0FAKE/${CHANNEL}/${result!.ts}/${files.join(",")}`);
  });

  test("a re-roll press is acked within 3 s and makes a new image with a different seed", async (t) => {
    const [first] = resultMessages(fake);
    const reroll = buttonsOf(first!).find((b) => b.value.includes(":reroll:"))!;
    const uploadsBefore = fake.uploads.size;
    const ack = await pressOverHttp(fake, app, reroll.value, first!);
    t.diagnostic(`press ack after ${ack.ms.toFixed(1)} ms`);
    assert.equal(ack.status, 200);
    assert.ok(ack.ms < ACK_DEADLINE_MS);
    const second = await fake.waitFor(() => resultMessages(fake)[1], 60_000, "the re-roll's result");
    assert.equal(fake.uploads.size, uploadsBefore + 2);
    assert.notEqual(seedIn(second.text), seedIn(first!.text));
    const [a, b] = [...fake.uploads.values()].slice(-2);
    const firstBytes = [...fake.uploads.values()].slice(0, 2).map((u) => u.bytes!);
    assert.ok(!firstBytes.some((bytes) => bytes.equals(a!.bytes!) || bytes.equals(b!.bytes!)), "new pixels");
  });

  test("someone else's press gets a private answer and starts nothing", async () => {
    const [first] = resultMessages(fake);
    const vary = buttonsOf(first!).find((b) => b.value.includes(":vary:"))!;
    const posts = fake.callsOf("chat.postMessage").length;
    const ephemerals = fake.ephemerals.length;
    const ack = await pressOverHttp(fake, app, vary.value, first!, { user: "U0BOB" });
    assert.equal(ack.status, 200);
    const answer = await fake.waitFor(() => fake.ephemerals[ephemerals], 10_000, "the private answer");
    assert.equal(answer.user, "U0BOB");
    assert.match(answer.text, /Only the person/);
    assert.equal(fake.callsOf("chat.postMessage").length, posts);
    assert.deepEqual(await app.easel.queue.history("slack:T0FAKE:U0BOB"), []);
  });

  test("bad input gets an ephemeral answer only; nothing is queued or posted", async () => {
    const jobs = (await app.easel.queue.history(asker)).length;
    const posts = fake.callsOf("chat.postMessage").length;
    const ephemerals = fake.ephemerals.length;
    const ack = await imagineOverHttp(fake, app, "a fox --steps 100000");
    assert.equal(ack.status, 200);
    const answer = await fake.waitFor(() => fake.ephemerals[ephemerals], 10_000, "the private answer");
    assert.equal(answer.user, USER);
    assert.equal(answer.channel, CHANNEL);
    assert.match(answer.text, /Steps/i);
    assert.equal(fake.callsOf("chat.postMessage").length, posts);
    assert.equal((await app.easel.queue.history(asker)).length, jobs);
  });

  test("/imagine help answers privately with the usage line and the flags", async () => {
    const ephemerals = fake.ephemerals.length;
    await imagineOverHttp(fake, app, "help");
    const answer = await fake.waitFor(() => fake.ephemerals[ephemerals], 10_000, "the help");
    assert.match(answer.text, /^Usage: `\/imagine &lt;prompt&gt; \[--/);
    assert.match(answer.text, /--ar/);
  });

  test("a request with a bad signature is refused and nothing is done", async () => {
    const calls = fake.calls.length;
    const jobs = (await app.easel.queue.history(asker)).length;
    const refused = await imagineOverHttp(fake, app, "a fox", { signature: `v0=${"0".repeat(64)}` });
    assert.equal(refused.status, 401);
    // Signed with another secret: refused too.
    const other = await imagineOverHttp(fake, app, "a fox", { secret: "not-the-secret" });
    assert.equal(other.status, 401);
    await new Promise((resolve) => setTimeout(resolve, 200));
    assert.equal(fake.calls.length, calls);
    assert.equal((await app.easel.queue.history(asker)).length, jobs);
  });

  test("a correctly signed request that is 10 minutes old is refused and nothing is done", async () => {
    const calls = fake.calls.length;
    const jobs = (await app.easel.queue.history(asker)).length;
    const stale = await imagineOverHttp(fake, app, "a fox", {
      timestamp: Math.floor(Date.now() / 1000) - 600,
    });
    assert.equal(stale.status, 401);
    await new Promise((resolve) => setTimeout(resolve, 200));
    assert.equal(fake.calls.length, calls);
    assert.equal((await app.easel.queue.history(asker)).length, jobs);
  });

  test("a correctly signed request from more than 5 minutes ahead is refused; one within the window is taken", async () => {
    const calls = fake.calls.length;
    const jobs = (await app.easel.queue.history(asker)).length;
    for (const ahead of [10 * 60, 24 * 3600]) {
      const future = await imagineOverHttp(fake, app, "a fox", {
        timestamp: Math.floor(Date.now() / 1000) + ahead,
      });
      assert.equal(future.status, 401, `${ahead} s ahead`);
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
    assert.equal(fake.calls.length, calls);
    assert.equal((await app.easel.queue.history(asker)).length, jobs);
    // A clock a minute ahead is within Bolt's window, both ways.
    const near = await imagineOverHttp(fake, app, "help", { timestamp: Math.floor(Date.now() / 1000) + 60 });
    assert.equal(near.status, 200);
  });
});
