/**
 * The page's delete button in headless Chromium, against easel on the simulated engine: a result
 * card shows it; the first press only arms it (nothing is deleted), the second deletes, and the
 * card loses its images and buttons and says who deleted it.
 */
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { chromium } from "playwright-core";
import { startWebEasel } from "../web/support.js";

test("the page's delete asks for a second press, then empties the card", async (t) => {
  const web = await startWebEasel(t);
  const profile = await mkdtemp(join(tmpdir(), "easel-chromium-"));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: "/usr/bin/chromium",
    headless: true,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-sync"],
  });
  t.after(async () => {
    await context.close();
    await rm(profile, { recursive: true, force: true });
  });
  const page = context.pages()[0] ?? (await context.newPage());
  const pageErrors: string[] = [];
  page.on("pageerror", (error) => pageErrors.push(error.message));
  await page.goto(web.url);

  await page.locator("#prompt").fill("a paper boat --steps 2");
  await page.locator("#prompt").press("Enter");
  const card = page.locator('.card[data-status="done"]');
  await card.locator(".images img").first().waitFor({ state: "visible", timeout: 20_000 });
  const jobId = await card.getAttribute("data-job-id");
  assert.ok(jobId);

  const remove = card.locator('button[data-action="delete"]');
  assert.match((await remove.textContent()) ?? "", /Delete/);
  await remove.click();
  assert.equal(await remove.getAttribute("data-confirming"), "true");
  assert.match((await remove.textContent()) ?? "", /for good/);
  assert.equal((await web.easel.queue.job(jobId))?.deleted, undefined, "one press deletes nothing");

  await remove.click();
  const deleted = page.locator(`.card[data-job-id="${jobId}"][data-status="deleted"]`);
  await deleted.waitFor({ timeout: 10_000 });
  assert.match((await deleted.locator(".status").textContent()) ?? "", /deleted by its author/);
  assert.equal(await deleted.locator(".images").count(), 0);
  assert.equal(await deleted.locator(".actions").count(), 0);
  assert.ok((await web.easel.queue.job(jobId))?.deleted, "the job records the delete");

  // After a reload the history shows the card deleted too.
  await page.reload();
  await page.locator(`.card[data-job-id="${jobId}"][data-status="deleted"]`).waitFor({ timeout: 10_000 });
  assert.equal(await page.locator(`.card[data-job-id="${jobId}"] .images`).count(), 0);
  assert.deepEqual(pageErrors, []);
});
