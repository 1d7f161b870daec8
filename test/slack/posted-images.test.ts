/**
 * Buttons on yesterday's images in Slack: once the bot's own copy of a result's image is gone (a
 * restart, then the files deleted as a sweep past the retention time deletes them), Upscale and
 * Refine fetch the uploaded file back (`files.info`, then its private URL with the bot token).
 * Only when the file is gone from Slack too does the button say the image is gone.
 */
import assert from "node:assert/strict";
import { readdir, rm } from "node:fs/promises";
import { join } from "node:path";
import { test } from "node:test";
import { FakeSlack, type PostedMessage } from "./fake-slack.js";
import {
  buttonsOf,
  imagineOverHttp,
  jobIdOf,
  pressOverHttp,
  resultMessages,
  type SlackEasel,
  startSlackEasel,
  tempDir,
  until,
} from "./support.js";

function buttonValue(message: PostedMessage, label: RegExp): string {
  const found = buttonsOf(message).find((button) => label.test(button.text.text));
  assert.ok(found, `a ${label} button`);
  return found.value;
}

test("Upscale and Refine on a Slack result work after a restart and after its files are gone", async (t) => {
  const fake = await FakeSlack.start();
  const dir = await tempDir();
  let app: SlackEasel | undefined;
  t.after(async () => {
    await app?.stop();
    await fake.close();
    await dir.remove();
  });
  const start = () => startSlackEasel(fake, { mode: "http", dataDir: dir.path, simulatedStepMs: 2 });
  app = await start();
  await imagineOverHttp(fake, app, "a lighthouse --steps 2 --seed 5");
  const [first] = await fake.waitFor(() => resultMessages(fake).length === 1 && resultMessages(fake), 20_000);
  const jobId = jobIdOf(first!)!;
  const running = app;
  const posted = await until(async () => (await running.easel.queue.job(jobId))?.postedTo, 10_000, "posted");
  const fileId = [...fake.uploads.values()].find((upload) => upload.filename.includes(jobId))?.fileId;
  assert.equal(posted, `slack:T0FAKE/${first!.channel}/${first!.ts}/0=${fileId}`, "the file is recorded");

  await app.stop();
  // Whether the stop's sweep took them already or they waited for the retention time to pass.
  for (const name of await readdir(join(dir.path, "images"))) await rm(join(dir.path, "images", name));
  app = await start();
  assert.equal(await app.easel.chat.image(`${jobId}-0`), undefined, "the bot's own copy is gone");

  let results = 1;
  for (const [label, caption] of [
    [/^Upscale$/, /2048x2048 .* upscaled x2 from image 1/],
    [/^Refine$/, /1024x1024 .* refined from image 1/],
  ] as const) {
    const infos = fake.calls.filter((call) => call.method === "files.info").length;
    await pressOverHttp(fake, app, buttonValue(first!, label), first!);
    results++;
    const made = await fake.waitFor(
      () => resultMessages(fake).length === results && resultMessages(fake).at(-1),
      20_000,
      `the ${label} result`,
    );
    assert.match(made.text, caption);
    assert.ok(
      fake.calls.filter((call) => call.method === "files.info").length > infos,
      "files.info was asked",
    );
  }
  assert.ok(fake.privateDownloads.length >= 2);
  assert.ok(fake.privateDownloads.every((download) => download.authorised && download.file === fileId));

  // The file deleted in Slack: now the image is gone, and the button says so privately.
  fake.deletedFiles.add(fileId!);
  const told = fake.ephemerals.length;
  await pressOverHttp(fake, app, buttonValue(first!, /^Upscale$/), first!);
  const answer = await fake.waitFor(() => fake.ephemerals[told], 10_000, "the private answer");
  assert.match(answer.text, /Image 1 of this result is no longer kept/);
  assert.equal(resultMessages(fake).length, results, "nothing new was made");
});
