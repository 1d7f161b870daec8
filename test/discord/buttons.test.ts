/**
 * Result and cancel buttons pressed through the loopback Discord: each press is answered within
 * Discord's window and a new job's message is posted in the channel; presses survive a restart.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import type { FakeUser, InteractionRecord, StoredMessage } from "./fake-discord.js";
import {
  buttonId,
  buttons,
  captionSeed,
  EPHEMERAL,
  finalMessage,
  type Harness,
  imagine,
  newUser,
  sharedScope,
  startHarness,
} from "./harness.js";

/** Presses a button and returns the press and the message its answer created. */
async function press(h: Harness, message: StoredMessage, label: string | RegExp, user: FakeUser = h.user) {
  const it = h.fake.pressButton({ user, message, customId: buttonId(message, label) });
  const answer = await h.fake.waitFor(
    () => h.fake.interactions.get(it.id)?.callback,
    5000,
    `the answer to ${label}`,
  );
  return { it, answer };
}

async function result(h: Harness, it: InteractionRecord): Promise<StoredMessage> {
  return await finalMessage(h, it);
}

describe("buttons on one running easel", () => {
  let h: Harness;
  const scope = sharedScope();
  before(async () => {
    h = await startHarness(scope, { stepMs: 100 });
  });
  after(() => scope.cleanup());

  test("re-roll, a variation and an upscale each post a new result; re-roll has a new seed", async () => {
    const user = newUser();
    const first = await result(h, imagine(h, "a red kite", { seed: "1234" }, { user }));
    assert.equal(captionSeed(first), "1234");

    const reroll = await press(h, first, /Re-roll/, user);
    assert.equal(reroll.answer.type, 4);
    assert.equal((reroll.answer.data?.flags ?? 0) & EPHEMERAL, 0, "the new job's message is public");
    const rerolled = await result(h, reroll.it);
    assert.notEqual(rerolled.id, first.id, "a new message in the channel");
    assert.notEqual(captionSeed(rerolled), "1234");
    assert.match(rerolled.content, /a red kite/);

    const vary = await press(h, first, /Vary \(subtle\)|V1 subtle/, user);
    const varied = await result(h, vary.it);
    assert.match(varied.content, /variation/);
    assert.equal(captionSeed(varied), "1234", "a variation keeps the seed");

    const upscale = await press(h, first, /Upscale/, user);
    const upscaled = await result(h, upscale.it);
    assert.match(upscaled.content, /upscaled/);
    assert.equal(
      h.fake
        .channelMessages(h.channel.id)
        .filter(
          (m) =>
            m.attachments.length > 0 &&
            m.content.includes("a red kite") &&
            m.interactionId !== undefined &&
            h.fake.interactions.get(m.interactionId)?.user.id === user.id,
        ).length,
      4,
    );
  });

  test("only the author may press, by default: others get a private answer and nothing is queued", async () => {
    const user = newUser();
    const first = await result(h, imagine(h, "a red kite", {}, { user }));
    const bob = newUser("bob");
    const { answer } = await press(h, first, /Re-roll/, bob);
    assert.equal((answer.data?.flags ?? 0) & EPHEMERAL, EPHEMERAL);
    assert.deepEqual(await h.easel.queue.history(`discord:${bob.id}`), []);
  });

  test("cancel while queued and while running ends the job's message with no result buttons", async () => {
    const user = newUser();
    const running = imagine(h, "runs a while", { steps: 30 }, { user });
    const runningMsg = await h.fake.waitFor(
      () => {
        const m = h.fake.original(running);
        return m && /step/.test(m.content) ? m : undefined;
      },
      5000,
      "running",
    );
    const queued = imagine(h, "waits in line", { steps: 30 }, { user });
    const queuedMsg = await h.fake.waitFor(
      () => {
        const m = h.fake.original(queued);
        return m && /Queued/.test(m.content) ? m : undefined;
      },
      5000,
      "queued",
    );

    const cancelQueued = await press(h, queuedMsg, "Cancel", user);
    assert.equal((cancelQueued.answer.data?.flags ?? 0) & EPHEMERAL, EPHEMERAL);
    const cancelledQueued = await finalMessage(h, queued, (m) => /Cancelled/i.test(m.content));
    assert.deepEqual(buttons(cancelledQueued), []);

    await press(h, runningMsg, "Cancel", user);
    const cancelledRunning = await finalMessage(h, running, (m) => /Cancelled/i.test(m.content));
    assert.deepEqual(buttons(cancelledRunning), []);
    const jobs = await h.easel.queue.history(`discord:${user.id}`);
    assert.deepEqual(
      jobs.map((j) => j.status),
      ["cancelled", "cancelled"],
    );
  });
});

test("a button on a result from before a restart still works", async (t) => {
  const h = await startHarness(t);
  const first = await result(h, imagine(h, "a red kite", { seed: "77" }));
  await h.restart();
  const reroll = await press(h, first, /Re-roll/);
  assert.equal((reroll.answer.data?.flags ?? 0) & EPHEMERAL, 0);
  const rerolled = await result(h, reroll.it);
  assert.match(rerolled.content, /a red kite/);
  assert.notEqual(captionSeed(rerolled), "77");
});
