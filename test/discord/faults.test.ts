/**
 * The things that go wrong in production, survived: a failing run, gateway drops, 429s and 5xx on
 * edits, an interaction token that expires before the result, a restart mid-job.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { FakeDiscord } from "./fake-discord.js";
import { buttons, finalMessage, type Harness, imagine, requestsOf, startHarness } from "./harness.js";

const isResult = (files: { name: string }[]) => files.some((f) => f.name.startsWith("easel-"));

/** Requests that delivered result images (edits or posts), by anyone's route. */
function resultDeliveries(h: Harness) {
  return h.fake.requests.filter((r) => r.status === 200 && isResult(r.files));
}

test("a failing pipeline ends the message with a clear failure and no buttons", async (t) => {
  const h = await startHarness(t);
  const it = imagine(h, "a cat [sim:fail]");
  const failed = await finalMessage(h, it, (m) => /fail/i.test(m.content));
  assert.deepEqual(buttons(failed), []);
  assert.doesNotMatch(failed.content, /ONNXRuntime|\/tmp|node/);
  const [job] = await h.easel.queue.history(`discord:${h.user.id}`);
  assert.equal(job!.status, "failed");
});

for (const code of [4000, 1006] as const) {
  test(`a gateway drop (${code}) mid-job: the bot resumes, the result is posted once, and a command sent meanwhile is answered`, async (t) => {
    const h = await startHarness(t, { stepMs: 60 });
    const it = imagine(h, "through the storm", { steps: 12 });
    await h.fake.waitFor(() => /step/.test(h.fake.original(it)?.content ?? ""), 5000, "running");
    h.fake.gateway.drop(code);
    // Dispatched while the bot is away: Discord replays it on RESUME.
    const meanwhile = imagine(h, "sent during the drop");
    await finalMessage(h, it);
    await finalMessage(h, meanwhile);
    assert.ok(h.fake.gateway.resumes >= 1, "resumed the session");
    assert.equal(h.fake.gateway.identifies, 1, "no new session");
    await new Promise((resolve) => setTimeout(resolve, 300));
    const deliveries = resultDeliveries(h);
    assert.equal(deliveries.length, 2, "each result delivered once");
    const pings = h.fake.channelMessages(h.channel.id).filter((m) => /images are ready/.test(m.content));
    assert.equal(pings.length, 2, "one ping each");
    assert.equal((await h.easel.queue.history(`discord:${h.user.id}`)).length, 2);
  });
}

test("a 429 on an edit is waited out and retried; the flow completes", async (t) => {
  const h = await startHarness(t, { stepMs: 40 });
  const fault = h.fake.fault({
    method: "PATCH",
    route: /^\/webhooks\/\d+\/[^/]+\/messages\/@original$/,
    status: 429,
    retryAfter: 0.3,
  });
  const it = imagine(h, "rate limited");
  await finalMessage(h, it);
  assert.equal(fault.hits, 1);
  const patches = requestsOf(h, it).filter((r) => r.method === "PATCH");
  const limited = patches.findIndex((r) => r.status === 429);
  assert.ok(limited >= 0);
  assert.ok(
    patches.slice(limited + 1).some((r) => r.status === 200),
    "retried after the 429",
  );
  assert.ok(patches[limited + 1]!.at - patches[limited]!.at >= 250, "waited retry_after before retrying");
});

test("a 502 on the final edit is retried; the result arrives", async (t) => {
  const h = await startHarness(t);
  const fault = h.fake.fault({ method: "PATCH", route: /\/messages\/@original$/, status: 502, times: 2 });
  const it = imagine(h, "bad gateway");
  await finalMessage(h, it);
  assert.equal(fault.hits, 2);
});

test("a result that outlives the interaction token is posted with the bot token, mentioning the user", async (t) => {
  // The bot's own clock says the token is spent after 300 ms.
  const h = await startHarness(t, { stepMs: 100, bot: { tokenLifetimeMs: 300 } });
  const it = imagine(h, "a long one", { steps: 8 });
  const posted = await h.fake.waitFor(
    () =>
      h.fake
        .channelMessages(h.channel.id)
        .find(
          (m) => m.interactionId === undefined && m.attachments.some((a) => a.filename.startsWith("easel-")),
        ),
    10_000,
    "the channel post",
  );
  assert.match(posted.content, new RegExp(`^<@${h.user.id}>`));
  assert.deepEqual(posted.allowedMentions?.users, [h.user.id]);
  assert.ok(
    buttons(posted)
      .flat()
      .some((b) => /Re-roll/.test(b.label)),
  );
  // Posted, or a progress post then edited, in the channel with the bot's own token.
  const delivery = h.fake.requests.find(
    (r) => r.route.startsWith(`/channels/${h.channel.id}/messages`) && isResult(r.files),
  );
  assert.equal(delivery?.authorization, `Bot ${h.fake.token}`);
  assert.equal(resultDeliveries(h).length, 1);
  assert.ok(!h.fake.original(it)?.attachments.some((a) => a.filename.startsWith("easel-")));
});

test("when Discord refuses an expired token, the result still reaches the channel", async (t) => {
  const fake = await new FakeDiscord({ tokenLifetimeMs: 400 }).start();
  const h = await startHarness(t, { fake, stepMs: 100 });
  t.after(() => fake.close());
  imagine(h, "outlives the token", { steps: 8 });
  const posted = await fake.waitFor(
    () =>
      fake
        .channelMessages(h.channel.id)
        .find((m) => m.interactionId === undefined && m.attachments.length > 0),
    10_000,
    "the channel post",
  );
  assert.match(posted.content, new RegExp(`<@${h.user.id}>`));
  assert.ok(
    fake.requests.some((r) => r.status === 401),
    "the refused edit happened",
  );
});

test("a job interrupted by a restart is posted as a new channel message and finishes there", async (t) => {
  const h = await startHarness(t, { stepMs: 100 });
  const it = imagine(h, "interrupted", { steps: 10 });
  await h.fake.waitFor(() => /step/.test(h.fake.original(it)?.content ?? ""), 5000, "running");
  await h.restart();
  const posted = await h.fake.waitFor(
    () =>
      h.fake
        .channelMessages(h.channel.id)
        .find(
          (m) => m.interactionId === undefined && m.attachments.some((a) => a.filename.startsWith("easel-")),
        ),
    10_000,
    "the recovered result",
  );
  assert.match(posted.content, /interrupted/);
  assert.ok(
    buttons(posted)
      .flat()
      .some((b) => /Re-roll/.test(b.label)),
  );
  const [job] = await h.easel.queue.history(`discord:${h.user.id}`);
  assert.equal(job!.status, "done");
  assert.equal(resultDeliveries(h).length, 1);
});
