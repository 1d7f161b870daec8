/** `/imagine image:<attachment>`: the bot fetches the uploaded picture and the job refines it. */
import assert from "node:assert/strict";
import { test } from "node:test";
import sharp from "sharp";
import { EPHEMERAL, finalMessage, startHarness } from "./harness.js";

test("a picture attached to /imagine is downloaded and refined", async (t) => {
  const h = await startHarness(t);
  const picture = await sharp({ create: { width: 640, height: 512, channels: 3, background: "#3060c0" } })
    .png()
    .toBuffer();
  const attachment = h.fake.addSourceAttachment("holiday.png", picture);
  const it = h.fake.slashCommand({
    user: h.user,
    channel: h.channel,
    options: [{ name: "prompt", type: 3, value: "as an oil painting" }],
    attachment,
  });
  const done = await finalMessage(h, it);
  assert.match(done.content, /as an oil painting/);
  const [job] = await h.easel.queue.history(`discord:${h.user.id}`);
  assert.ok(job!.request.source, "the job refines a source image");
  assert.equal(job!.request.width, 640);
  assert.equal(job!.request.height, 512);
});

test("an attachment that is not a picture gets a private answer and nothing is queued", async (t) => {
  const h = await startHarness(t);
  const attachment = h.fake.addSourceAttachment("notes.txt", Buffer.from("hello"), "text/plain");
  const it = h.fake.slashCommand({
    user: h.user,
    channel: h.channel,
    options: [{ name: "prompt", type: 3, value: "refine this" }],
    attachment,
  });
  const answer = await h.fake.waitFor(() => h.fake.interactions.get(it.id)?.callback, 5000);
  assert.equal((answer.data?.flags ?? 0) & EPHEMERAL, EPHEMERAL);
  assert.deepEqual(await h.easel.queue.history(`discord:${h.user.id}`), []);
});
