/**
 * The chat service driven the way an adapter drives it: a fake transport of a few lines turns
 * `/imagine` and button presses into service calls and renders every view it is given to a string.
 * The queue underneath is the embedded one on the simulated engine.
 */
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it, type TestContext } from "node:test";
import sharp from "sharp";
import type { ChatReply, ChatService, JobView } from "../../src/commands/chat.js";
import { createChatService } from "../../src/commands/chat-service.js";
import type { Config } from "../../src/config.js";
import { createJobQueue, type JobQueue } from "../../src/queue/index.js";
import type { Where, Who } from "../../src/requests/request.js";
import { testConfig } from "../queue/support.js";

const channel: Where = { platform: "discord", serverId: "g1", channelId: "c1" };
const alice: Who = { userId: "discord:alice", userName: "alice" };
const bob: Who = { userId: "discord:bob", userName: "bob" };

/** One line per view: state, text, and the button labels by row. */
const render = (view: JobView) =>
  `${view.state} | ${view.text.split("\n")[0]} | ${view.buttons.map((row) => row.map((b) => b.label).join(",")).join(" / ")}`;

/** The fake transport: posts a job's views as "messages" (rendered strings) until the final one. */
class FakeTransport {
  readonly messages = new Map<string, string[]>();
  constructor(private readonly chat: ChatService) {}

  /** Sends a reply: a private text, or a job's message followed to its final view. */
  async send(reply: ChatReply): Promise<{ jobId?: string; text: string; final?: JobView }> {
    if (reply.kind !== "job") return { text: reply.text };
    const lines = [render(reply.view)];
    this.messages.set(reply.jobId, lines);
    const final = await new Promise<JobView>((resolve) => {
      this.chat.watch(reply.jobId, (view) => {
        lines.push(render(view));
        if (view.final) resolve(view);
      });
    });
    return { jobId: reply.jobId, text: lines.join("\n"), final };
  }

  imagine(text: string, who: Who) {
    return this.chat.imagine({ text }, who, channel).then((reply) => this.send(reply));
  }

  press(view: JobView, label: RegExp, who: Who) {
    const button = view.buttons.flat().find((b) => label.test(b.label));
    assert.ok(button, `a ${label} button in ${render(view)}`);
    return this.chat.press(button.id, who, channel);
  }
}

async function service(
  t: TestContext,
  dir?: string,
): Promise<{ chat: ChatService; queue: JobQueue; config: Config; dir: string }> {
  const dataDir = dir ?? (await mkdtemp(join(tmpdir(), "easel-chat-")));
  if (!dir) t.after(() => rm(dataDir, { recursive: true, force: true }));
  const config = testConfig(dataDir, { maxJobsPerUser: 3 });
  const queue = createJobQueue(config, {
    engineFor: () => ({ kind: "simulated", stepMs: 2 }),
    cancelGraceMs: 2000,
    shutdownGraceMs: 2000,
  });
  t.after(() => queue.stop());
  await queue.start();
  let seed = 100n;
  return {
    chat: createChatService({ config, queue, randomSeed: () => seed++ }),
    queue,
    config,
    dir: dataDir,
  };
}

describe("the chat service, through a fake transport", () => {
  it("answers help and bad input privately, queueing nothing", async (t) => {
    const { chat, queue } = await service(t);
    const transport = new FakeTransport(chat);
    const help = await transport.imagine("help", alice);
    assert.match(help.text, /--ar/);
    const bad = await chat.imagine({ text: "a fox --stpes 3" }, alice, channel);
    assert.equal(bad.kind, "refusal");
    assert.equal(bad.kind === "refusal" && bad.code, "invalid_input");
    assert.match(bad.kind === "refusal" ? bad.text : "", /--steps/);
    assert.deepEqual(await queue.history(alice.userId), []);
  });

  it("runs /imagine to a result with buttons, then a re-roll, a variation and an upscale", async (t) => {
    const { chat, queue } = await service(t);
    const transport = new FakeTransport(chat);
    const first = await transport.imagine("a red fox --steps 3 --seed 7", alice);
    const lines = first.text.split("\n");
    assert.match(lines[0]!, /^(queued|running) \| .* \| Cancel$/);
    assert.match(
      lines.at(-1)!,
      /^done \| a red fox \| Vary \(subtle\),Vary \(strong\),Refine,Upscale \/ Zoom Out 2×,Zoom Out 1\.5× \/ ⬅️,➡️,⬆️,⬇️ \/ 🔄 Re-roll,🗑️ Delete$/,
    );
    const done = first.final!;
    assert.equal(done.images.length, 1);
    assert.ok((await chat.image(done.images[0]!.id))!.data.length > 0);
    assert.match(done.text, /seed 7 · 1024x1024 · 3 steps/);

    const refused = await transport.press(done, /Re-roll/, bob);
    assert.equal(refused.kind === "refusal" && refused.code, "forbidden", "EASEL_BUTTONS=author by default");
    const reroll = await transport.send(await transport.press(done, /Re-roll/, alice));
    assert.match(reroll.final!.text, /seed 100 · 1024x1024/, "a fresh seed, same settings");
    assert.equal((await queue.job(reroll.jobId!))!.userId, "discord:alice");

    const vary = await transport.send(await transport.press(done, /Vary \(strong\)/, alice));
    assert.match(vary.final!.text, /seed 7 .* variation 0\.45/);

    const upscale = await transport.send(await transport.press(done, /Upscale/, alice));
    assert.ok(upscale.final, upscale.text);
    assert.match(upscale.final.text, /2048x2048 .* upscaled x2 from image 1/);
    assert.equal(upscale.final!.state, "done");
  });

  it("cancels on the author's press only, privately, and ends the job's message as cancelled", async (t) => {
    const { chat } = await service(t);
    const transport = new FakeTransport(chat);
    const reply = await chat.imagine({ text: "[sim:step-ms=40] a slow fox --steps 40" }, alice, channel);
    assert.equal(reply.kind, "job");
    if (reply.kind !== "job") return;
    const ending = transport.send(reply);
    const refused = await transport.press(reply.view, /Cancel/, bob);
    assert.deepEqual(refused.kind === "refusal" && [refused.code, refused.text], [
      "forbidden",
      "Only the person who started this job can cancel it.",
    ]);
    const answer = await transport.press(reply.view, /Cancel/, alice);
    assert.equal(answer.kind, "info");
    assert.match(answer.kind === "info" ? answer.text : "", /^Cancel/);
    const ended = await ending;
    assert.equal(ended.final!.state, "cancelled");
    assert.match(ended.text.split("\n").at(-1)!, /^cancelled \| Cancelled\. \| $/);
  });

  it("delivers a finished job's final view at once to a late watcher, and coalesces progress", async (t) => {
    const { chat } = await service(t);
    const transport = new FakeTransport(chat);
    const { jobId } = await transport.imagine("a fox --steps 20", alice);
    const late: JobView[] = [];
    await new Promise<void>((resolve) =>
      chat.watch(jobId!, (view) => {
        late.push(view);
        if (view.final) resolve();
      }),
    );
    assert.deepEqual(
      late.map((view) => view.state),
      ["done"],
    );

    const reply = await chat.imagine({ text: "[sim:step-ms=10] a fox --steps 30" }, alice, channel);
    assert.equal(reply.kind, "job");
    const views: JobView[] = [];
    await new Promise<void>((resolve) =>
      chat.watch(
        reply.kind === "job" ? reply.jobId : "",
        (view) => {
          views.push(view);
          if (view.final) resolve();
        },
        {
          minIntervalMs: 100,
        },
      ),
    );
    assert.equal(views.at(-1)!.state, "done", "the final view always arrives");
    const running = views.filter((view) => view.state === "running");
    assert.ok(running.length < 30, `progress coalesced into ${running.length} views for 30 steps`);
  });

  it("keeps buttons working after a restart: everything comes from the id and the store", async (t) => {
    const dir = await mkdtemp(join(tmpdir(), "easel-chat-"));
    t.after(() => rm(dir, { recursive: true, force: true }));
    const before = await service(t, dir);
    const first = await new FakeTransport(before.chat).imagine("a lighthouse --steps 2 --seed 5", alice);
    const rerollId = first.final!.buttons.flat().find((b) => /Re-roll/.test(b.label))!.id;
    await before.queue.stop();

    const after = await service(t, dir);
    const transport = new FakeTransport(after.chat);
    const again = await transport.send(await after.chat.press(rerollId, alice, channel));
    assert.equal(again.final!.state, "done");
    assert.match(again.final!.text, /^a lighthouse\n/);
    const history = await after.chat.history(alice.userId);
    assert.deepEqual(
      history.map((view) => view.state),
      ["done", "done"],
    );
    const unknown = await after.chat.press("easel:1:reroll:nosuchjob", alice, channel);
    assert.equal(unknown.kind === "refusal" && unknown.code, "not_found");
    const garbage = await after.chat.press("easel:1:launch:x", alice, channel);
    assert.equal(garbage.kind === "refusal" && garbage.code, "invalid_input");
  });

  it("refines an uploaded picture, and refuses a file that is not one, privately", async (t) => {
    const { chat, queue } = await service(t);
    const transport = new FakeTransport(chat);
    const notAPicture = await chat.imagine(
      { text: "a fox", image: { data: new TextEncoder().encode("hello") } },
      alice,
      channel,
    );
    assert.equal(notAPicture.kind === "refusal" && notAPicture.code, "invalid_input");
    assert.deepEqual(await queue.history(alice.userId), []);
    const picture = await sharp({ create: { width: 640, height: 512, channels: 3, background: "#336699" } })
      .png()
      .toBuffer();
    const reply = await chat.imagine({ text: "a fox --steps 4", image: { data: picture } }, alice, channel);
    const result = await transport.send(reply);
    assert.equal(result.final?.state, "done", result.text);
    assert.match(result.final!.text, /640x512 .* from your picture/);
  });
});
