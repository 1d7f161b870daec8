/**
 * The same Slack app in Socket Mode: Bolt opens a connection through apps.connections.open with
 * the app token, gets `hello`, and acks every envelope by its envelope_id; the Web API side is the
 * same loopback Slack.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import type { UserId } from "../../src/requests/request.js";
import { FakeSlack } from "./fake-slack.js";
import { blockActionsPayload, slashCommandPayload } from "./signed.js";
import {
  buttonsOf,
  CHANNEL,
  isWholePng,
  resultMessages,
  type SlackEasel,
  seedIn,
  startSlackEasel,
  tempDir,
  USER,
} from "./support.js";

const asker: UserId = `slack:T0FAKE:${USER}`;

describe("Slack over Socket Mode", () => {
  let fake: FakeSlack;
  let app: SlackEasel;
  let dir: Awaited<ReturnType<typeof tempDir>>;

  const command = (text: string) =>
    fake.deliver(
      "slash_commands",
      slashCommandPayload({
        text,
        teamId: fake.teamId,
        channelId: CHANNEL,
        userId: USER,
        responseUrl: fake.responseUrl(CHANNEL, USER),
      }),
    );

  before(async () => {
    fake = await FakeSlack.start();
    dir = await tempDir();
    app = await startSlackEasel(fake, { mode: "socket", dataDir: dir.path, simulatedStepMs: 20 });
  });
  after(async () => {
    await app?.stop();
    await fake?.close();
    await dir?.remove();
  });

  test("the app connects with its app token through apps.connections.open", () => {
    const [open] = fake.callsOf("apps.connections.open");
    assert.equal(open?.token, fake.appToken);
    assert.equal(fake.socketCount, 1);
  });

  test("a slash_commands envelope is acked by its envelope_id within 3 s; the job is posted, uploaded and captioned", async (t) => {
    const envelope = await command("a lighthouse at dusk --steps 4 --seed 11");
    const ackMs = envelope.ackedAt! - envelope.sentAt;
    t.diagnostic(`envelope acked after ${ackMs.toFixed(1)} ms`);
    assert.ok(ackMs < 3000);
    const [result] = await fake.waitFor(
      () => resultMessages(fake).length === 1 && resultMessages(fake),
      10_000,
      "the result",
    );
    assert.equal(result!.channel, CHANNEL);
    assert.equal(seedIn(result!.text), "11");
    const [upload] = [...fake.uploads.values()];
    assert.equal(upload!.channel, CHANNEL);
    assert.ok(isWholePng(upload!.bytes!));
    await fake.waitFor(() => fake.deleted.length === 1, 10_000, "the status message removed");
  });

  test("an interactive envelope (re-roll) is acked and makes a new image with a different seed", async () => {
    const [first] = resultMessages(fake);
    const reroll = buttonsOf(first!).find((b) => b.value.includes(":reroll:"))!;
    const envelope = await fake.deliver(
      "interactive",
      blockActionsPayload({
        teamId: fake.teamId,
        channelId: CHANNEL,
        userId: USER,
        value: reroll.value,
        messageTs: first!.ts,
        responseUrl: fake.responseUrl(CHANNEL, USER),
      }),
    );
    assert.ok(envelope.ackedAt !== undefined);
    const second = await fake.waitFor(() => resultMessages(fake)[1], 10_000, "the re-roll's result");
    assert.notEqual(seedIn(second.text), seedIn(first!.text));
  });

  test("bad input: an ephemeral answer only, nothing queued", async () => {
    const jobs = (await app.easel.queue.history(asker)).length;
    const posts = fake.callsOf("chat.postMessage").length;
    await command("a fox --n 0");
    const answer = await fake.waitFor(() => fake.ephemerals[0], 10_000, "the private answer");
    assert.equal(answer.user, USER);
    assert.equal(fake.callsOf("chat.postMessage").length, posts);
    assert.equal((await app.easel.queue.history(asker)).length, jobs);
  });

  test("an envelope delivered again (same trigger_id) is acked but makes no second job", async () => {
    const payload = slashCommandPayload({
      text: "one heron --steps 2",
      teamId: fake.teamId,
      channelId: CHANNEL,
      userId: USER,
      responseUrl: fake.responseUrl(CHANNEL, USER),
    });
    const jobs = (await app.easel.queue.history(asker)).length;
    const first = await fake.deliver("slash_commands", payload);
    const again = await fake.deliver("slash_commands", payload);
    assert.ok(first.ackedAt !== undefined && again.ackedAt !== undefined);
    await fake.waitFor(
      () => resultMessages(fake).some((m) => m.text.includes("one heron")),
      10_000,
      "the result",
    );
    assert.equal((await app.easel.queue.history(asker)).length, jobs + 1);
    assert.equal(resultMessages(fake).filter((m) => m.text.includes("one heron")).length, 1);
  });

  test("when Slack drops the connection the app opens a new one and keeps answering", async () => {
    const opened = fake.connectionsOpened;
    fake.dropSockets();
    await fake.waitFor(
      () => fake.connectionsOpened > opened && fake.socketCount === 1,
      20_000,
      "a new connection",
    );
    const results = resultMessages(fake).length;
    const envelope = await command("a calm sea --steps 2");
    assert.ok(envelope.ackedAt !== undefined);
    await fake.waitFor(() => resultMessages(fake).length === results + 1, 10_000, "the result");
  });
});
