/**
 * The web chat in a real headless Chromium against easel started for real with the demo model (the
 * project's tiny SDXL-shaped model, written on first start): type a prompt, watch it progress, get
 * a 1344×768 image, re-roll it, and see an invalid flag refused inline. Screenshots of the finished
 * card (desktop and phone widths) are saved under test-artifacts/.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { mkdir, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { type BrowserContext, chromium, type Locator } from "playwright-core";
import { createHttpAdapter } from "../../src/bots/web/index.js";
import { loadConfig } from "../../src/config.js";
import { silentLogger } from "../../src/logger.js";
import { startEasel } from "../../src/main.js";

const ARTIFACTS = join(process.cwd(), "test-artifacts");
const CHROMIUM_ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

async function launch(
  t: test.TestContext,
  viewport: { width: number; height: number },
  colorScheme: "light" | "dark" = "light",
): Promise<BrowserContext> {
  const profile = await mkdtemp(join(tmpdir(), "easel-chromium-"));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: "/usr/bin/chromium",
    headless: true,
    args: CHROMIUM_ARGS,
    viewport,
    colorScheme,
    // The page's own CSP forbids eval; the test's waitForFunction strings are evaluated in it.
    bypassCSP: true,
  });
  t.after(async () => {
    await context.close();
    await rm(profile, { recursive: true, force: true });
  });
  return context;
}

/** A locator's text, as the page holds it. */
const text = async (locator: Locator): Promise<string> => (await locator.textContent()) ?? "";

const sha256 = (bytes: Buffer) => createHash("sha256").update(bytes).digest("hex");

test("the web chat: prompt, progress, a 1344x768 image, re-roll, an inline error", async (t) => {
  const dataDir = await mkdtemp(join(tmpdir(), "easel-e2e-"));
  t.after(() => rm(dataDir, { recursive: true, force: true }));
  let url = "";
  // No EASEL_MODEL_DIR: the demo model, as `npm start` runs on a fresh clone.
  const config = loadConfig({ EASEL_DATA_DIR: dataDir, EASEL_WEB_PORT: "0", EASEL_PREVIEW_EVERY: "2" });
  const easel = await startEasel(config, {
    logger: silentLogger,
    adapters: [createHttpAdapter({ onListening: (server) => (url = server.url) })],
  });
  t.after(() => easel.stop());
  await mkdir(ARTIFACTS, { recursive: true });

  const context = await launch(t, { width: 1100, height: 900 });
  const page = context.pages()[0] ?? (await context.newPage());
  const pageErrors: string[] = [];
  page.on("pageerror", (error) => pageErrors.push(error.message));
  await page.goto(url);

  // The demo model is announced, with how to use a real one.
  const banner = page.locator("#demo-banner");
  await banner.waitFor({ state: "visible" });
  assert.match(await text(banner), /EASEL_MODEL_DIR/);

  // Help is one keystroke away (with an empty prompt), and Escape closes it.
  await page.locator("#prompt").focus();
  await page.keyboard.press("?");
  await page.locator("#help").waitFor({ state: "visible" });
  assert.match(await text(page.locator("#help-text")), /--ar/);
  await page.keyboard.press("Escape");
  await page.locator("#help").waitFor({ state: "hidden" });

  // Everything the cards show on the way is recorded, so a fast run cannot slip past the check.
  // (Functions that run in the page are strings here: this project's TypeScript has no DOM types.)
  await page.evaluate(`(() => {
    const seen = (window.seen = []);
    new MutationObserver(() => {
      for (const node of document.querySelectorAll(".status, .progress-label")) seen.push(node.textContent);
      if (document.querySelector(".preview img")) seen.push("preview");
    }).observe(document.querySelector("#cards"), { subtree: true, childList: true, characterData: true, attributes: true });
  })()`);

  await page.locator("#prompt").fill("a lighthouse at dusk --ar 16:9");
  await page.keyboard.press("Enter");
  const first = page.locator("li.card").first();
  await first.locator(".images img").waitFor({ state: "visible", timeout: 60_000 });
  const seen = (await page.evaluate("window.seen")) as string[];
  assert.ok(
    seen.some((text) => /Queued|step \d+\/\d+|preview/.test(text)),
    `saw the place in line or a step/preview: ${seen.slice(0, 10).join(" | ")}`,
  );
  await page.waitForFunction("document.querySelector('li.card .images img').complete");
  const size = await page.evaluate(
    "(() => { const img = document.querySelector('li.card .images img'); return [img.naturalWidth, img.naturalHeight]; })()",
  );
  assert.deepEqual(size, [1344, 768]);
  assert.match(await text(first.locator(".caption")), /1344x768/);
  await first.screenshot({ path: join(ARTIFACTS, "web-card.png") });

  // Clicking the image opens it full size with its parameters.
  await first.locator(".thumb").first().click();
  await page.locator("#viewer").waitFor({ state: "visible" });
  assert.equal(await text(page.locator("#viewer-size")), "1344 × 768");
  const firstSeed = await text(page.locator("#viewer-seed"));
  await page.keyboard.press("Escape");

  // Re-roll: a second card with a new seed and different pixels.
  await first.getByRole("button", { name: /Re-roll/ }).click();
  const second = page.locator("li.card").nth(1);
  await second.locator(".images img").waitFor({ state: "visible", timeout: 60_000 });
  const urls = (await page.evaluate(
    "[...document.querySelectorAll('.images img')].map((img) => img.src)",
  )) as string[];
  assert.equal(urls.length, 2);
  const [a, b] = await Promise.all(
    urls.map(async (src) => Buffer.from(await (await fetch(src)).arrayBuffer())),
  );
  assert.notEqual(sha256(a!), sha256(b!), "the re-roll is a different image");
  await second.locator(".thumb").first().click();
  assert.notEqual(await text(page.locator("#viewer-seed")), firstSeed);
  await page.keyboard.press("Escape");

  // An invalid flag: the error shows inline, nothing is queued.
  await page.locator("#prompt").fill("a fox --stpes 20");
  await page.keyboard.press("Enter");
  const error = page.locator("li.card.is-error [role=alert]");
  await error.waitFor({ state: "visible" });
  assert.match(await text(error), /--stpes/);
  assert.equal(await page.locator("#prompt").inputValue(), "a fox --stpes 20", "the text stays to be fixed");

  // History survives a reload.
  await page.reload();
  await page.locator("li.card .images img").nth(1).waitFor({ state: "visible" });
  assert.equal(await page.locator("li.card[data-status=done]").count(), 2);
  assert.match(await text(page.locator("li.card .prompt-text").first()), /lighthouse/);
  assert.deepEqual(pageErrors, []);

  // The same thread on a phone-sized screen.
  const phone = await launch(t, { width: 390, height: 844 }, "dark");
  const phonePage = phone.pages()[0] ?? (await phone.newPage());
  await phonePage.goto(url);
  await phonePage.locator("#prompt").fill("a fox in the snow --ar 2:3");
  await phonePage.keyboard.press("Enter");
  const phoneCard = phonePage.locator("li.card").first();
  await phoneCard.locator(".images img").waitFor({ state: "visible", timeout: 60_000 });
  const overflow = (await phonePage.evaluate(
    "document.documentElement.scrollWidth - window.innerWidth",
  )) as number;
  assert.ok(overflow <= 0, `no sideways scrolling on a phone (${overflow}px too wide)`);
  await phonePage.screenshot({ path: join(ARTIFACTS, "web-phone.png"), fullPage: false });
});
