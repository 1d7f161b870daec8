/**
 * Buttons on yesterday's images: once the bot's own copy of a result's image is gone (a restart,
 * then the files deleted as a sweep past the retention time deletes them), Upscale, Refine, Zoom Out
 * and Pan fetch
 * the image back from the Discord message that shows it, reading the message again for a fresh
 * attachment URL (the old ones have expired). Only when the message is gone too does the button
 * say the image is gone.
 */
import assert from "node:assert/strict";
import { readdir, rm } from "node:fs/promises";
import { join } from "node:path";
import { test } from "node:test";
import type { StoredMessage } from "./fake-discord.js";
import { buttonId, EPHEMERAL, finalMessage, type Harness, imagine, startHarness } from "./harness.js";

async function deleteImageFiles(h: Harness): Promise<void> {
  const dir = join(h.dataDir, "images");
  for (const name of await readdir(dir)) await rm(join(dir, name), { force: true });
}

async function press(h: Harness, message: StoredMessage, label: RegExp) {
  const it = h.fake.pressButton({ user: h.user, message, customId: buttonId(message, label) });
  const answer = await h.fake.waitFor(() => h.fake.interactions.get(it.id)?.callback, 10_000, `${label}`);
  return { it, answer };
}

test("Upscale, Refine, Zoom Out and Pan on a posted result work after a restart and after its files are gone", async (t) => {
  const h = await startHarness(t);
  const first = await finalMessage(h, imagine(h, "a lighthouse", { seed: "5", steps: 2 }));
  const jobId = buttonId(first, /Re-roll/).split(":")[3]!;
  // Recorded once the result message is up (just after the fake shows it).
  let postedTo: string | undefined;
  for (let tries = 0; tries < 500 && !postedTo; tries++) {
    postedTo = (await h.easel.queue.job(jobId))?.postedTo;
    if (!postedTo) await new Promise((resolve) => setTimeout(resolve, 20));
  }
  assert.equal(postedTo, `discord:${first.channelId}/${first.id}`, "where it was posted is recorded");

  await h.restart();
  // Whether the stop's sweep took them already or they waited for the retention time to pass.
  await deleteImageFiles(h);
  assert.equal(await h.easel.chat.image(`${jobId}-0`), undefined, "the bot's own copy is gone");
  h.fake.expireAttachmentUrls();

  for (const [label, caption] of [
    [/^Upscale$/, /2048x2048 .* upscaled x2 from image 1/],
    [/^Refine$/, /1024x1024 .* refined from image 1/],
    [/^Zoom Out 1\.5×$/, /1024x1024 .* zoomed out 1\.5× from image 1/],
    [/^⬆️$/, /832x1216 .* panned up from image 1/],
  ] as const) {
    const reads = h.fake.calls(
      "GET",
      new RegExp(`^/channels/${first.channelId}/messages/${first.id}$`),
    ).length;
    const { it, answer } = await press(h, first, label);
    assert.equal((answer.data?.flags ?? 0) & EPHEMERAL, 0, `${label}: ${answer.data?.content}`);
    const result = await finalMessage(
      h,
      it,
      (m) => m.attachments.some((a) => a.filename.startsWith("easel-")),
      20_000,
    );
    assert.match(result.content, caption);
    assert.ok(result.attachments.length > 0, "a new image");
    assert.ok(
      h.fake.calls("GET", new RegExp(`^/channels/${first.channelId}/messages/${first.id}$`)).length > reads,
      "the posted message was read again for a fresh URL",
    );
  }
  const downloads = h.fake.attachmentDownloads.filter((d) => d.path.includes("/easel-"));
  assert.ok(downloads.length >= 4 && downloads.every((d) => d.served), JSON.stringify(downloads));
  const [panned] = await h.easel.queue.history(`discord:${h.user.id}`, 1);
  assert.deepEqual(panned!.request.canvas, { kind: "pan", direction: "up" });
  assert.ok(
    "uploadId" in panned!.request.source! && panned!.request.source.strength === 0.9,
    "the copy, at the canvas strength",
  );

  // The message deleted on Discord: now the image is gone, and the button says so privately.
  const stored = h.fake.messages.get(first.id)!;
  stored.deleted = true;
  const { answer } = await press(h, first, /^Upscale$/);
  assert.equal((answer.data?.flags ?? 0) & EPHEMERAL, EPHEMERAL);
  assert.match(String(answer.data?.content), /Image 1 of this result is no longer kept/);
});
