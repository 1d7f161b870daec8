/**
 * What Slack and restarts throw at the app: rate limits, channels it is not in, missing scopes,
 * expired response_urls, a restart with results on screen and a job mid-run. Simulated devices
 * (the pipeline's contract, timed steps, tiny PNGs), since only the timing matters here.
 */
import assert from "node:assert/strict";
import { afterEach, beforeEach, describe, test } from "node:test";
import type { UserId } from "../../src/requests/request.js";
import { FakeSlack } from "./fake-slack.js";
import {
  buttonsOf,
  CHANNEL,
  imagineOverHttp,
  jobIdOf,
  pressOverHttp,
  resultMessages,
  type SlackEasel,
  seedIn,
  startSlackEasel,
  tempDir,
  USER,
} from "./support.js";

const asker: UserId = `slack:T0FAKE:${USER}`;

describe("Slack faults and restarts", () => {
  let fake: FakeSlack;
  let dir: Awaited<ReturnType<typeof tempDir>>;
  const apps: SlackEasel[] = [];
  const start = async (stepMs = 20) => {
    const app = await startSlackEasel(fake, { mode: "http", dataDir: dir.path, simulatedStepMs: stepMs });
    apps.push(app);
    return app;
  };

  beforeEach(async () => {
    fake = await FakeSlack.start();
    dir = await tempDir();
  });
  afterEach(async () => {
    for (const app of apps.splice(0)) await app.stop();
    await fake.close();
    await dir.remove();
  });

  test("a bot token Slack refuses stops the start with a clear error, before anything listens", async () => {
    await assert.rejects(
      startSlackEasel(fake, {
        mode: "http",
        dataDir: dir.path,
        simulatedStepMs: 1,
        env: { SLACK_BOT_TOKEN: "xoxb-revoked" },
      }),
      /SLACK_BOT_TOKEN: Slack refused it .*\(invalid_auth\)/,
    );
    assert.deepEqual(
      fake.calls.map((call) => call.method),
      ["auth.test"],
    );
  });

  test("progress is edited into the one status message at most about every 2 s", async () => {
    const app = await start(100);
    await imagineOverHttp(fake, app, "a fox --steps 50");
    await fake.waitFor(() => resultMessages(fake).length === 1, 30_000, "the result");
    const status = await fake.waitFor(() => fake.deleted[0], 10_000, "the status message removed");
    const progress = fake
      .callsOf("chat.update")
      .filter((call) => call.params.ts === status.ts && /Generating/.test(String(call.params.text)));
    assert.ok(progress.length >= 2, `${progress.length} progress edits`);
    // At most one edit per 2 s of the job's run (+2 for the edges); 50 steps of 100 ms unpaced would
    // be about 50 edits. Counted over the whole span, so a busy machine's bunched arrivals don't matter.
    const span = progress.at(-1)!.at - progress[0]!.at;
    assert.ok(progress.length <= span / 2000 + 2, `${progress.length} edits in ${Math.round(span)} ms`);
    assert.ok(progress.length < 10);
  });

  test("a 429 from chat.update is waited out for its Retry-After and the same edit retried", async () => {
    const app = await start(100);
    fake.inject("chat.update", { rateLimited: { retryAfterSeconds: 1 } });
    await imagineOverHttp(fake, app, "a fox --steps 30");
    await fake.waitFor(() => resultMessages(fake).length === 1, 30_000, "the result");
    const updates = fake.callsOf("chat.update");
    const limited = updates.findIndex((call) => call.outcome === "rate_limited");
    assert.ok(limited >= 0, "the fake answered 429 once");
    const retry = updates[limited + 1]!;
    assert.equal(retry.outcome, "ok");
    assert.deepEqual(retry.params, updates[limited]!.params);
    assert.ok(retry.at - updates[limited]!.at >= 1000, "waited for Retry-After");
    assert.equal(resultMessages(fake).length, 1, "posted once");
  });

  test("Cancel on a running job: a private answer, the status message says so, nothing is uploaded", async () => {
    const app = await start(100);
    await imagineOverHttp(fake, app, "a fox --steps 60");
    const status = await fake.waitFor(() => fake.messages[0], 10_000, "the status message");
    const cancel = buttonsOf(status).find((b) => b.value.includes(":cancel:"))!;
    const ack = await pressOverHttp(fake, app, cancel.value, status);
    assert.equal(ack.status, 200);
    const answer = await fake.waitFor(() => fake.ephemerals[0], 10_000, "the private answer");
    assert.match(answer.text, /Cancel/);
    await fake.waitFor(() => /Cancelled/.test(status.text), 10_000, "the status message to say Cancelled");
    assert.deepEqual(buttonsOf(status), []);
    const [job] = await app.easel.queue.history(asker);
    assert.equal((await app.easel.queue.wait(job!.id)).status, "cancelled");
    assert.equal(fake.uploads.size, 0);
  });

  test("in a channel the bot is not in, the job is cancelled and the asker told privately how to fix it", async () => {
    const app = await start();
    fake.notInChannel.add("C0ELSEWHERE");
    await imagineOverHttp(fake, app, "a fox --steps 5", { channel: "C0ELSEWHERE" });
    const answer = await fake.waitFor(() => fake.ephemerals[0], 10_000, "the private answer");
    assert.equal(answer.channel, "C0ELSEWHERE");
    assert.match(answer.text, /\/invite @easel/);
    const [job] = await app.easel.queue.history(asker);
    assert.equal((await app.easel.queue.wait(job!.id)).status, "cancelled");
    assert.equal(fake.uploads.size, 0);
    assert.equal(fake.messages.length, 0);
  });

  test("an expired response_url: the private answer goes through chat.postEphemeral", async () => {
    const app = await start();
    await imagineOverHttp(fake, app, "a fox --ar 0:0", { expiredResponseUrl: true });
    const answer = await fake.waitFor(() => fake.ephemerals[0], 10_000, "the private answer");
    assert.equal(answer.via, "chat.postEphemeral");
    assert.equal(answer.user, USER);
    assert.match(answer.text, /Aspect ratio/);
    assert.equal(fake.callsOf("response_url")[0]?.outcome, "expired_url");
    assert.deepEqual(await app.easel.queue.history(asker), []);
  });

  test("an upload refused for a missing scope is said in the channel and the images stay unposted", async () => {
    const app = await start();
    fake.inject("files.getUploadURLExternal", { error: "missing_scope" });
    await imagineOverHttp(fake, app, "a fox --steps 3");
    const status = await fake.waitFor(
      () => fake.messages.find((m) => /may not upload files/.test(m.text)),
      10_000,
      "the notice",
    );
    assert.equal(status.channel, CHANNEL);
    assert.equal(resultMessages(fake).length, 0);
    const [job] = await app.easel.queue.history(asker);
    assert.equal(job!.status, "done");
    assert.equal(job!.postedTo, undefined);
  });

  test("after a restart, old buttons work and a job that was running gets a new message and is delivered once", async () => {
    const before = await start();
    await imagineOverHttp(fake, before, "a calm sea --steps 3");
    const [first] = await fake.waitFor(
      () => resultMessages(fake).length === 1 && resultMessages(fake),
      10_000,
      "a result",
    );
    await imagineOverHttp(fake, before, "a slow fox [sim:step-ms=100] --steps 60");
    await fake.waitFor(
      () => fake.calls.some((c) => c.method === "chat.update" && /Generating/.test(String(c.params.text))),
      10_000,
      "the slow job running",
    );
    const slowStatus = fake.messages.at(-1)!;
    await before.stop();
    const postsBefore = fake.callsOf("chat.postMessage").length;

    const after = await start();
    // The interrupted job is posted anew and finishes.
    const fresh = await fake.waitFor(
      () => fake.callsOf("chat.postMessage").length > postsBefore && fake.messages.at(-1),
      10_000,
      "the recovered job's message",
    );
    assert.notEqual(fresh.ts, slowStatus.ts);
    const slow = await fake.waitFor(
      () => resultMessages(fake).find((m) => m.text.includes("a slow fox")),
      30_000,
      "the recovered job's result",
    );
    const slowId = jobIdOf(slow)!;
    assert.equal((await after.easel.queue.job(slowId))?.attempts, 2);
    assert.equal(resultMessages(fake).filter((m) => jobIdOf(m) === slowId).length, 1);
    assert.equal([...fake.uploads.values()].filter((u) => u.filename.includes(slowId)).length, 1);

    // The first job's re-roll button, pressed after the restart.
    const reroll = buttonsOf(first!).find((b) => b.value.includes(":reroll:"))!;
    const ack = await pressOverHttp(fake, after, reroll.value, first!);
    assert.equal(ack.status, 200);
    const rerolled = await fake.waitFor(
      () => resultMessages(fake).find((m) => m.text.includes("a calm sea") && m.ts !== first!.ts),
      10_000,
      "the re-roll's result",
    );
    assert.notEqual(seedIn(rerolled.text), seedIn(first!.text));
  });
});
