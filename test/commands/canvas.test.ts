/**
 * Zoom out, pan and repaint through the chat service on the embedded queue (simulated devices):
 * the requests they queue, the private refusals of bad ones (nothing stored, nothing queued), and
 * `--zoom` on an attached picture.
 */
import assert from "node:assert/strict";
import { mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it, type TestContext } from "node:test";
import sharp from "sharp";
import type { ChatReply, ChatService, JobView } from "../../src/commands/chat.js";
import { createChatService } from "../../src/commands/chat-service.js";
import { EaselError } from "../../src/errors.js";
import { CANVAS_STRENGTH } from "../../src/pipeline/canvas/index.js";
import { createJobQueue, type JobQueue } from "../../src/queue/index.js";
import type { Where, Who } from "../../src/requests/request.js";
import { testConfig } from "../queue/support.js";

const channel: Where = { platform: "web" };
const alice: Who = { userId: "web:alice" };
const bob: Who = { userId: "web:bob" };

async function service(t: TestContext): Promise<{ chat: ChatService; queue: JobQueue; dir: string }> {
  const dir = await mkdtemp(join(tmpdir(), "easel-canvas-"));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const base = testConfig(dir, { maxJobsPerUser: 5 });
  const config = { ...base, policy: { ...base.policy, blockedTerms: ["forbidden"] } };
  const queue = createJobQueue(config, {
    engineFor: () => ({ kind: "simulated", stepMs: 2 }),
    cancelGraceMs: 2000,
    shutdownGraceMs: 2000,
  });
  t.after(() => queue.stop());
  await queue.start();
  let seed = 100n;
  return { chat: createChatService({ config, queue, randomSeed: () => seed++ }), queue, dir };
}

function finished(chat: ChatService, reply: ChatReply): Promise<JobView> {
  assert.equal(reply.kind, "job", reply.kind !== "job" ? reply.text : "");
  if (reply.kind !== "job") throw new Error("no job");
  return new Promise((resolve) => {
    const stop = chat.watch(reply.jobId, (view) => {
      if (!view.final) return;
      resolve(view);
      queueMicrotask(() => stop());
    });
  });
}

const uploadsIn = async (dir: string) => (await readdir(join(dir, "uploads")).catch(() => [])).length;

const picture = (width: number, height: number) =>
  sharp({ create: { width, height, channels: 3, background: "#336699" } })
    .png()
    .toBuffer();

describe("--zoom on an attached picture", () => {
  it("zooms the picture out at its own size, at the canvas strength", async (t) => {
    const { chat, queue } = await service(t);
    const reply = await chat.imagine(
      { text: "a harbour --zoom 1.5 --steps 4", image: { data: await picture(640, 512) } },
      alice,
      channel,
    );
    const view = await finished(chat, reply);
    assert.equal(view.state, "done", view.text);
    const job = await queue.job(view.jobId);
    assert.deepEqual(job!.request.canvas, { kind: "zoom_out", factor: 1.5 });
    assert.deepEqual([job!.request.width, job!.request.height], [640, 512]);
    assert.equal(job!.request.source?.strength, CANVAS_STRENGTH.zoom_out);
    assert.match(view.text, /640x512 .*zoomed out 1\.5× from your picture/);
  });

  it("refuses --zoom without a picture, or out of 1-2, privately, queueing nothing", async (t) => {
    const { chat, queue, dir } = await service(t);
    const alone = await chat.imagine({ text: "a harbour --zoom 2" }, alice, channel);
    assert.equal(alone.kind, "refusal");
    assert.match(alone.kind === "refusal" ? alone.text : "", /Zoom works on a picture attached to \/imagine/);
    const tooFar = await chat.imagine(
      { text: "a harbour --zoom 3", image: { data: await picture(640, 512) } },
      alice,
      channel,
    );
    assert.equal(tooFar.kind === "refusal" && tooFar.code, "invalid_input");
    assert.match(tooFar.kind === "refusal" ? tooFar.text : "", /Zoom/);
    assert.deepEqual(await queue.history(alice.userId), []);
    assert.equal(await uploadsIn(dir), 0);
  });
});

describe("repaint", () => {
  it("keeps a mask like an upload, queues the repaint with it, and the job reads it back", async (t) => {
    const { chat, queue, dir } = await service(t);
    const original = await finished(
      chat,
      await chat.imagine({ text: "a harbour --steps 2 --n 2" }, alice, channel),
    );
    const mask = await sharp({ create: { width: 64, height: 64, channels: 3, background: "#000" } })
      .composite([
        { input: { create: { width: 16, height: 16, channels: 3, background: "#fff" } }, left: 8, top: 8 },
      ])
      .png()
      .toBuffer();
    const reply = await chat.repaint(
      { jobId: original.jobId, imageIndex: 1, region: { mask }, prompt: "a red boat", strength: 0.7 },
      alice,
      channel,
    );
    const view = await finished(chat, reply);
    assert.equal(view.state, "done", view.text);
    const job = await queue.job(view.jobId);
    const request = job!.request;
    assert.equal(request.prompt, "a red boat");
    assert.equal(request.count, 1);
    assert.equal(request.seed, String(BigInt((await queue.job(original.jobId))!.request.seed) + 1n));
    assert.deepEqual(request.source, { jobId: original.jobId, imageIndex: 1, strength: 0.7, upscale: 1 });
    assert.ok(request.canvas?.kind === "repaint" && "maskUploadId" in request.canvas);
    assert.equal(await uploadsIn(dir), 1);
    assert.match(view.text, /^a red boat\n.*repainted at strength 0\.7 from image 2/);
    assert.ok(
      view.buttons.flat().some((button) => button.action.kind === "zoom"),
      "a repaint's result has every result button",
    );
  });

  it("takes rectangles inside the image, with the job's prompt and the default strength", async (t) => {
    const { chat, queue } = await service(t);
    const original = await finished(
      chat,
      await chat.imagine({ text: "a harbour --steps 2" }, alice, channel),
    );
    const { width, height } = original.images[0]!;
    const rects = [{ x: 0, y: 0, width, height: Math.max(1, height / 2) }];
    const view = await finished(
      chat,
      await chat.repaint({ jobId: original.jobId, imageIndex: 0, region: { rects } }, alice, channel),
    );
    const request = (await queue.job(view.jobId))!.request;
    assert.equal(request.prompt, "a harbour");
    assert.deepEqual(request.canvas, { kind: "repaint", rects });
    assert.equal(request.source?.strength, CANVAS_STRENGTH.repaint);
  });

  it("refuses a bad region or prompt privately, storing and queueing nothing", async (t) => {
    const { chat, queue, dir } = await service(t);
    const original = await finished(
      chat,
      await chat.imagine({ text: "a harbour --steps 2" }, alice, channel),
    );
    const { width, height } = original.images[0]!;
    const jobId = original.jobId;
    const truncated = (await picture(64, 64)).subarray(0, 60);
    const cases: Array<[Parameters<ChatService["repaint"]>[0], RegExp]> = [
      [
        { jobId, imageIndex: 0, region: { mask: new TextEncoder().encode("not a picture") } },
        /mask is not a PNG/,
      ],
      [{ jobId, imageIndex: 0, region: { mask: truncated } }, /mask is not a PNG/],
      [
        { jobId, imageIndex: 0, region: { rects: [{ x: 1, y: 0, width, height: 1 }] } },
        new RegExp(`Rectangle 1 is not inside the image.*${width}x${height}`),
      ],
      [{ jobId, imageIndex: 0, region: { rects: [{ x: 0, y: 0, width: 0, height: 1 }] } }, /Rectangle 1/],
      [{ jobId, imageIndex: 0, region: { rects: [] } }, /at least one rectangle/],
      [
        {
          jobId,
          imageIndex: 0,
          region: { rects: [{ x: 0, y: 0, width: 1, height: 1 }] },
          prompt: "forbidden art",
        },
        /.+/,
      ],
      [{ jobId, imageIndex: 1, region: { rects: [{ x: 0, y: 0, width: 1, height: 1 }] } }, /no image 2/],
    ];
    for (const [edit, message] of cases) {
      const reply = await chat.repaint(edit, alice, channel);
      assert.equal(reply.kind === "refusal" && reply.code, "invalid_input", JSON.stringify(reply));
      assert.match(reply.kind === "refusal" ? reply.text : "", message);
    }
    const missing = await chat.repaint(
      { jobId: "nosuchjob", imageIndex: 0, region: { rects: [{ x: 0, y: 0, width: 1, height: 1 }] } },
      alice,
      channel,
    );
    assert.equal(missing.kind === "refusal" && missing.code, "not_found");
    const notTheirs = await chat.repaint(
      { jobId, imageIndex: 0, region: { rects: [{ x: 0, y: 0, width: 1, height: 1 }] } },
      bob,
      channel,
    );
    assert.equal(notTheirs.kind === "refusal" && notTheirs.code, "forbidden");
    assert.equal((await queue.history(alice.userId)).length, 1, "only the original was queued");
    assert.deepEqual(await queue.history(bob.userId), []);
    assert.equal(await uploadsIn(dir), 0);
  });
});

describe("the queue and a repaint's mask", () => {
  it("refuses at submit a repaint whose mask upload is gone", async (t) => {
    const { chat, queue } = await service(t);
    const original = await finished(
      chat,
      await chat.imagine({ text: "a harbour --steps 2" }, alice, channel),
    );
    const request = (await queue.job(original.jobId))!.request;
    await assert.rejects(
      queue.submit({
        ...request,
        count: 1,
        source: { jobId: original.jobId, imageIndex: 0, strength: 0.8, upscale: 1 },
        canvas: { kind: "repaint", maskUploadId: "upload-0123456789abcdef" },
      }),
      (error: unknown) =>
        error instanceof EaselError &&
        error.code === "not_found" &&
        /mask of this repaint/.test(error.userMessage),
    );
  });
});

describe("zoom and pan buttons", () => {
  it("start a canvas job of image i whose result carries every result button again", async (t) => {
    const { chat, queue } = await service(t);
    const original = await finished(
      chat,
      await chat.imagine({ text: "a harbour --steps 2" }, alice, channel),
    );
    const zoom = original.buttons.flat().find((button) => button.label === "Zoom Out 2×")!;
    const zoomed = await finished(chat, await chat.press(zoom.id, alice, channel));
    assert.equal(zoomed.state, "done", zoomed.text);
    assert.match(zoomed.text, /zoomed out 2× from image 1/);
    const pan = zoomed.buttons.flat().find((button) => button.label === "➡️")!;
    const panned = await finished(chat, await chat.press(pan.id, alice, channel));
    const request = (await queue.job(panned.jobId))!.request;
    assert.deepEqual(request.canvas, { kind: "pan", direction: "right" });
    assert.deepEqual(request.source, {
      jobId: zoomed.jobId,
      imageIndex: 0,
      strength: CANVAS_STRENGTH.pan,
      upscale: 1,
    });
    assert.ok(request.width > request.height, "panned right: wider than tall");
    const kinds = new Set(panned.buttons.flat().map((button) => button.action.kind));
    for (const kind of ["vary", "refine", "zoom", "pan", "reroll", "delete"] as const) {
      assert.ok(kinds.has(kind), `a panned result has ${kind}`);
    }
  });
});
