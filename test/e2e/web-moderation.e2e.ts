/**
 * Output moderation on the web page in headless Chromium, with the real classifier at threshold 0
 * (every image flagged): in blur mode the card shows the blurred copy and a Show button, which
 * loads the original in its place for the browser that asked; in withhold mode the card shows no
 * image, says so, and shows the private note.
 */
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type TestContext, test } from "node:test";
import { chromium, type Page } from "playwright-core";
import { startWebEasel, type WebEasel } from "../web/support.js";

async function pageOn(
  t: TestContext,
  mode: string,
): Promise<{ web: WebEasel; page: Page; errors: string[] }> {
  const web = await startWebEasel(t, { env: { EASEL_MODERATION: mode, EASEL_MODERATION_THRESHOLD: "0" } });
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
  const errors: string[] = [];
  page.on("pageerror", (error) => errors.push(error.message));
  await page.goto(web.url);
  await page.locator("#prompt").fill("a paper boat --steps 2");
  await page.locator("#prompt").press("Enter");
  return { web, page, errors };
}

test("blur: the card shows the blurred copy; Show puts the original in its place", async (t) => {
  const { web, page, errors } = await pageOn(t, "blur");
  const originals: string[] = [];
  page.on("response", (response) => {
    if (/\/api\/v1\/images\/[\w-]+-\d\.png$/.test(response.url()))
      originals.push(`${response.url()} ${response.status()}`);
  });
  const card = page.locator('.card[data-status="done"]');
  const img = card.locator(".images img").first();
  await img.waitFor({ state: "visible", timeout: 30_000 });
  assert.match((await img.getAttribute("src")) ?? "", /-0-blurred\.jpg$/);
  assert.equal(await card.locator(".thumb").first().getAttribute("data-display"), "blur");
  const show = card.locator('button[data-action="show"]');
  assert.match((await show.textContent()) ?? "", /Show/);
  await show.click();
  await page.waitForFunction(
    'document.querySelector(".card .images img")?.getAttribute("src")?.startsWith("blob:") === true',
    undefined,
    { timeout: 10_000 },
  );
  // The page loaded the original (its requester's to see), decoded at the stored image's size.
  const jobId = (await card.getAttribute("data-job-id"))!;
  const stored = (await web.easel.queue.images.get(`${jobId}-0`))!;
  assert.ok(
    originals.some((response) => response.endsWith(`/api/v1/images/${jobId}-0.png 200`)),
    originals.join(", "),
  );
  const natural = await page.evaluate(
    'const i = document.querySelector(".card .images img"); [i.naturalWidth, i.naturalHeight]',
  );
  assert.deepEqual(natural, [stored.width, stored.height]);
  assert.equal(await card.locator('button[data-action="show"]').count(), 0);
  assert.equal(await card.locator(".card-error").count(), 0);
  assert.deepEqual(errors, []);
});

test("withhold: the card has no image, says it was withheld, and shows the note", async (t) => {
  const { page, errors } = await pageOn(t, "withhold");
  const card = page.locator('.card[data-status="done"]');
  await card.locator(".caption").waitFor({ timeout: 30_000 });
  assert.equal(await card.locator(".images img").count(), 0);
  assert.match((await card.locator(".caption").textContent()) ?? "", /withheld by the content filter/);
  assert.match((await card.locator(".notice").textContent()) ?? "", /An admin can look at it/);
  assert.deepEqual(errors, []);
});
