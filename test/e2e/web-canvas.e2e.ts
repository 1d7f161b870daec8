/**
 * The page's canvas tools in a real headless Chromium against easel started for real with the demo
 * model (the project's tiny SDXL-shaped model; its pictures are noise, which makes any change to a
 * pixel visible): Zoom Out 2× gives a same-size card whose centre is the earlier image at half size,
 * Pan right a wider one that starts with the earlier image, and a region marked in the repaint
 * editor (dragged rectangle, brush stroke by touch) changes only that region. The README's
 * screenshot is taken here: with EASEL_UPDATE_SCREENSHOTS=1 it is written to docs/images/, otherwise
 * to a temporary folder, so a test run leaves the tree as it was.
 */
import assert from "node:assert/strict";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { basename, dirname, join } from "node:path";
import { type TestContext, test } from "node:test";
import { type BrowserContext, chromium, type Locator, type Page } from "playwright-core";
import sharp from "sharp";
import { createHttpAdapter } from "../../src/bots/web/index.js";
import { loadConfig } from "../../src/config.js";
import { silentLogger } from "../../src/logger.js";
import { startEasel } from "../../src/main.js";

const CHROMIUM_ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];
/** A demo-model run on a slow, shared machine. */
const JOB_TIMEOUT_MS = 240_000;
const SCREENSHOT = "docs/images/web-canvas.png";

interface Raster {
  width: number;
  height: number;
  /** RGB, row by row. */
  data: Buffer;
}

interface ImageJson {
  url: string;
  index: number;
  width: number;
  height: number;
  source?: { x: number; y: number; width: number; height: number };
}

async function raster(
  bytes: Buffer | Uint8Array,
  resize?: { width: number; height: number },
): Promise<Raster> {
  let image = sharp(bytes).removeAlpha();
  if (resize) image = image.resize(resize.width, resize.height, { fit: "fill", kernel: "lanczos3" });
  const { data, info } = await image.raw().toBuffer({ resolveWithObject: true });
  return { width: info.width, height: info.height, data };
}

/** Pixels of `a` inside `rect` against `b`'s (offset by `at` in b). */
function psnr(a: Raster, b: Raster, rect: { x: number; y: number; width: number; height: number }): number {
  let sum = 0;
  let n = 0;
  for (let y = 0; y < rect.height; y++) {
    for (let x = 0; x < rect.width; x++) {
      const i = ((rect.y + y) * a.width + rect.x + x) * 3;
      const j = (y * b.width + x) * 3;
      for (let c = 0; c < 3; c++) {
        const d = a.data[i + c]! - b.data[j + c]!;
        sum += d * d;
        n += 1;
      }
    }
  }
  const mse = sum / n;
  return mse === 0 ? Number.POSITIVE_INFINITY : 10 * Math.log10((255 * 255) / mse);
}

/** Per pixel of a same-size pair: the largest channel difference. */
function pixelDiff(a: Raster, b: Raster): Uint8Array {
  assert.equal(a.width, b.width);
  assert.equal(a.height, b.height);
  const diff = new Uint8Array(a.width * a.height);
  for (let p = 0; p < diff.length; p++) {
    let most = 0;
    for (let c = 0; c < 3; c++) most = Math.max(most, Math.abs(a.data[p * 3 + c]! - b.data[p * 3 + c]!));
    diff[p] = most;
  }
  return diff;
}

async function launch(t: TestContext, options: { hasTouch?: boolean } = {}): Promise<BrowserContext> {
  const profile = await mkdtemp(join(tmpdir(), "easel-chromium-"));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: "/usr/bin/chromium",
    headless: true,
    args: CHROMIUM_ARGS,
    viewport: { width: 1000, height: 1000 },
    colorScheme: "dark",
    hasTouch: options.hasTouch ?? false,
    // The page's own CSP forbids eval; the test's waitForFunction strings are evaluated in it.
    bypassCSP: true,
  });
  t.after(async () => {
    await context.close();
    await rm(profile, { recursive: true, force: true });
  });
  return context;
}

/** The job JSON of a card, as the server has it now. */
async function jobOf(page: Page, card: Locator): Promise<{ images: ImageJson[]; caption?: string }> {
  const id = await card.getAttribute("data-job-id");
  assert.ok(id, "the card shows a job");
  const answer = (await page.evaluate(`fetch("/api/v1/jobs/${id}").then((r) => r.json())`)) as {
    images: ImageJson[];
  };
  return answer;
}

async function bytesOf(base: string, url: string): Promise<Buffer> {
  const response = await fetch(new URL(url, base));
  assert.equal(response.status, 200, `${url} is served`);
  return Buffer.from(await response.arrayBuffer());
}

/** Waits for the n-th card (0-based) to finish and show its image; returns the card. */
async function doneCard(page: Page, n: number): Promise<Locator> {
  const card = page.locator("li.card").nth(n);
  await card.locator(".images img").first().waitFor({ state: "visible", timeout: JOB_TIMEOUT_MS });
  await page.waitForFunction(
    `[...document.querySelectorAll("li.card")][${n}].querySelector(".images img").complete`,
  );
  assert.equal(await card.getAttribute("data-status"), "done");
  return card;
}

/** Where an image pixel is on screen, over the repaint editor's drawing surface. */
async function screenPoint(surface: Locator, image: { width: number; height: number }, x: number, y: number) {
  const box = await surface.boundingBox();
  assert.ok(box, "the drawing surface is on screen");
  return { x: box.x + (x * box.width) / image.width, y: box.y + (y * box.height) / image.height };
}

test("the page's canvas buttons and region repaint, on the demo model", async (t) => {
  const dataDir = await mkdtemp(join(tmpdir(), "easel-e2e-"));
  t.after(() => rm(dataDir, { recursive: true, force: true }));
  let url = "";
  const config = loadConfig({ EASEL_DATA_DIR: dataDir, EASEL_WEB_PORT: "0" });
  const easel = await startEasel(config, {
    logger: silentLogger,
    adapters: [createHttpAdapter({ onListening: (server) => (url = server.url) })],
  });
  t.after(() => easel.stop());

  const context = await launch(t, { hasTouch: true });
  const page = context.pages()[0] ?? (await context.newPage());
  const pageErrors: string[] = [];
  page.on("pageerror", (error) => pageErrors.push(error.message));
  await page.goto(url);

  await page.locator("#prompt").fill("a lighthouse at dusk --ar 1:1 --steps 4 --seed 11");
  await page.keyboard.press("Enter");
  const first = await doneCard(page, 0);
  const original = (await jobOf(page, first)).images[0]!;
  assert.deepEqual([original.width, original.height], [1024, 1024]);
  const originalPixels = await raster(await bytesOf(url, original.url));

  // ── Zoom Out 2×: the same size, the earlier image at half size in the centre, a seam outline ──
  await t.test("Zoom Out 2× gives a same-size card with the earlier image in its centre", async (st) => {
    const zoom = first.locator('button[data-action="zoom_out"][data-factor="2"]');
    await zoom.click();
    const card = await doneCard(page, 1);
    assert.match((await card.locator(".origin").textContent()) ?? "", /Zoom/);
    const image = (await jobOf(page, card)).images[0]!;
    assert.deepEqual([image.width, image.height], [1024, 1024], "zoom out keeps the size");
    assert.deepEqual(image.source, { x: 256, y: 256, width: 512, height: 512 });
    const pixels = await raster(await bytesOf(url, image.url));
    const halved = await raster(await bytesOf(url, original.url), { width: 512, height: 512 });
    // The seam band reaches a few latent pixels into the original: judge its inner part.
    const inner = { x: 256 + 32, y: 256 + 32, width: 512 - 64, height: 512 - 64 };
    const innerHalved = await raster(
      await sharp(halved.data, { raw: { width: 512, height: 512, channels: 3 } })
        .extract({ left: 32, top: 32, width: 448, height: 448 })
        .png()
        .toBuffer(),
    );
    const centre = psnr(pixels, innerHalved, inner);
    assert.ok(centre >= 35, `the centre is the earlier image at half size (PSNR ${centre.toFixed(1)} dB)`);
    const border = psnr(pixels, originalPixels, { x: 0, y: 0, width: 1024, height: 128 });
    st.diagnostic(
      `centre vs the earlier image at half size: ${centre.toFixed(1)} dB; top border vs the earlier image: ${border.toFixed(1)} dB`,
    );
    assert.ok(border < 20, `the border is new (PSNR ${border.toFixed(1)} dB against the earlier image)`);
    // The page outlines where the earlier image sits: a quarter in from each side.
    const seam = card.locator(".thumb .seam");
    await seam.waitFor({ state: "visible" });
    const [thumbBox, seamBoxOnScreen] = await Promise.all([
      card.locator(".thumb").boundingBox(),
      seam.boundingBox(),
    ]);
    assert.ok(thumbBox && seamBoxOnScreen);
    assert.ok(
      Math.abs(seamBoxOnScreen.x - thumbBox.x - thumbBox.width / 4) < 3,
      "the seam starts a quarter in",
    );
    assert.ok(Math.abs(seamBoxOnScreen.width - thumbBox.width / 2) < 3, "the seam is half as wide");
  });

  // ── Pan right: wider, and its left part is the earlier image ──
  await t.test("Pan right gives a wider card that starts with the earlier image", async (st) => {
    await first.locator('button[data-action="pan"][data-direction="right"]').click();
    const card = await doneCard(page, 2);
    assert.match((await card.locator(".origin").textContent()) ?? "", /Pan right/);
    const image = (await jobOf(page, card)).images[0]!;
    assert.ok(image.width > 1024 * 1.1, `wider than the earlier image: ${image.width}x${image.height}`);
    assert.ok(image.width / image.height > 1.2, `wider than tall: ${image.width}x${image.height}`);
    const source = image.source;
    assert.ok(source, "a pan result says where the earlier image went");
    assert.equal(source.x, 0, "the earlier image is at the left edge");
    const pixels = await raster(await bytesOf(url, image.url));
    const placed = await raster(await bytesOf(url, original.url), {
      width: source.width,
      height: source.height,
    });
    // Up to the seam band at its right edge.
    const kept = { x: 0, y: source.y, width: source.width - 48, height: source.height };
    const left = psnr(pixels, placed, kept);
    st.diagnostic(
      `${image.width}x${image.height}, source ${JSON.stringify(source)}, kept part: ${left.toFixed(1)} dB`,
    );
    assert.ok(left >= 35, `the left part is the earlier image (PSNR ${left.toFixed(1)} dB)`);
    await card.locator(".thumb .seam").waitFor({ state: "visible" });
  });

  // ── Repaint a dragged rectangle: only the region changes ──
  await t.test("a rectangle dragged in the repaint editor changes only that region", async (st) => {
    await first.locator('button[data-action="repaint"]').click();
    const dialog = page.locator("#repaint");
    await dialog.waitFor({ state: "visible" });
    assert.equal(
      await page.locator("#repaint-prompt").inputValue(),
      "a lighthouse at dusk",
      "the job's prompt is the default",
    );
    const surface = page.locator("#repaint-canvas");
    const from = await screenPoint(surface, original, 300, 340);
    const to = await screenPoint(surface, original, 700, 660);
    await page.mouse.move(from.x, from.y);
    await page.mouse.down();
    await page.mouse.move(to.x, to.y, { steps: 8 });
    await page.mouse.up();
    assert.match((await page.locator("#repaint-status").textContent()) ?? "", /rectangle/);
    await page.locator("#repaint-prompt").fill("a red door");
    await page.locator("#repaint-strength").fill("0.9");
    const sent = page.waitForRequest((request) => request.url().endsWith("/actions"));
    await page.locator("#repaint-send").click();
    const body = (await sent).postDataJSON() as {
      action: string;
      index: number;
      prompt: string;
      strength: number;
      rects: Array<{ x: number; y: number; width: number; height: number }>;
    };
    assert.equal(body.action, "repaint");
    assert.equal(body.index, 0);
    assert.equal(body.prompt, "a red door");
    assert.equal(body.strength, 0.9);
    assert.equal(body.rects.length, 1);
    const rect = body.rects[0]!;
    // The drag in image pixels, to a screen pixel's precision (the image is shown smaller).
    for (const [got, want] of [
      [rect.x, 300],
      [rect.y, 340],
      [rect.x + rect.width, 700],
      [rect.y + rect.height, 660],
    ] as const) {
      assert.ok(Math.abs(got - want) <= 3, `the rectangle ${JSON.stringify(rect)} is the drag`);
    }
    await dialog.waitFor({ state: "hidden" });
    const card = await doneCard(page, 3);
    const image = (await jobOf(page, card)).images[0]!;
    assert.deepEqual([image.width, image.height], [1024, 1024]);
    assert.equal(await card.locator(".seam").count(), 0, "a repaint keeps the whole frame: no seam");
    const diff = pixelDiff(originalPixels, await raster(await bytesOf(url, image.url)));
    const { inside, outside } = regionChange(diff, 1024, (x, y) => {
      // Away from the rectangle's feathered edge, on either side.
      const margin = 32;
      const within = (lo: number, hi: number, v: number, m: number) => v >= lo + m && v < hi - m;
      if (within(rect.x, rect.x + rect.width, x, margin) && within(rect.y, rect.y + rect.height, y, margin))
        return "inside";
      if (
        !within(rect.x, rect.x + rect.width, x, -margin) ||
        !within(rect.y, rect.y + rect.height, y, -margin)
      )
        return "outside";
      return undefined;
    });
    st.diagnostic(
      `changed: ${inside.changed}/${inside.count} inside, ${outside.changed}/${outside.count} outside`,
    );
    assert.equal(outside.changed, 0, `no pixel outside the region changed (of ${outside.count})`);
    assert.ok(
      inside.changed / inside.count > 0.9,
      `the region is repainted (${inside.changed}/${inside.count})`,
    );
  });

  // ── Repaint a brush stroke drawn by touch: the mask PNG, and only the stroke changes ──
  await t.test("a brush stroke drawn by touch is sent as a mask and repaints only under it", async (st) => {
    await first.locator('button[data-action="repaint"]').click();
    await page.locator("#repaint").waitFor({ state: "visible" });
    await page.locator('#repaint input[name="tool"][value="brush"]').check();
    const brush = Number(await page.locator("#repaint-brush").inputValue());
    const surface = page.locator("#repaint-canvas");
    // A real touch: Chromium turns these into touch pointer events.
    const cdp = await context.newCDPSession(page);
    const track = [];
    for (let x = 200; x <= 820; x += 40) track.push(await screenPoint(surface, original, x, 760));
    await cdp.send("Input.dispatchTouchEvent", { type: "touchStart", touchPoints: [track[0]!] });
    for (const point of track.slice(1)) {
      await cdp.send("Input.dispatchTouchEvent", { type: "touchMove", touchPoints: [point] });
    }
    await cdp.send("Input.dispatchTouchEvent", { type: "touchEnd", touchPoints: [] });
    assert.match((await page.locator("#repaint-status").textContent()) ?? "", /1 brush stroke/);
    const sent = page.waitForRequest((request) => request.url().endsWith("/actions"));
    await page.locator("#repaint-send").click();
    const body = (await sent).postDataJSON() as { mask: string; rects?: unknown; prompt?: string };
    assert.equal(body.rects, undefined, "a stroke needs a mask");
    assert.equal(body.prompt, undefined, "the unchanged prompt is left to the job's own");
    assert.match(body.mask, /^data:image\/png;base64,/);
    const { data: maskPixels, info: maskInfo } = await sharp(Buffer.from(body.mask.split(",")[1]!, "base64"))
      .greyscale()
      .raw()
      .toBuffer({ resolveWithObject: true });
    assert.deepEqual([maskInfo.width, maskInfo.height], [1024, 1024], "the mask has the image's pixel size");
    const at = (x: number, y: number) => maskPixels[y * maskInfo.width + x]!;
    assert.equal(at(500, 760), 255, "white under the stroke");
    assert.equal(at(500, 760 - brush / 2 + 4), 255, "white across the brush's width");
    assert.equal(at(500, 760 - brush / 2 - 8), 0, "black just past its edge");
    assert.equal(at(500, 200), 0, "black elsewhere");
    assert.ok(
      maskPixels.every((value) => value === 0 || value === 255),
      "only black and white",
    );

    const card = await doneCard(page, 4);
    const image = (await jobOf(page, card)).images[0]!;
    const diff = pixelDiff(originalPixels, await raster(await bytesOf(url, image.url)));
    const { inside, outside } = regionChange(diff, 1024, (x, y) => {
      // Distance from the stroke's centre line (y = 760, x from 200 to 820).
      const dx = Math.max(0, 200 - x, x - 820);
      const distance = Math.hypot(dx, y - 760);
      if (distance < brush / 2 - 24) return "inside";
      if (distance > brush / 2 + 40) return "outside";
      return undefined;
    });
    st.diagnostic(
      `mask ${body.mask.length} characters; changed: ${inside.changed}/${inside.count} under the stroke, ${outside.changed}/${outside.count} away from it`,
    );
    assert.equal(outside.changed, 0, `no pixel away from the stroke changed (of ${outside.count})`);
    assert.ok(
      inside.changed / inside.count > 0.9,
      `under the stroke is repainted (${inside.changed}/${inside.count})`,
    );
  });

  // ── Keyboard and Escape ──
  await t.test("the editor works from the keyboard, and Escape cancels without sending", async () => {
    const cards = await page.locator("li.card").count();
    let posted = 0;
    const count = (request: { url(): string }) => {
      if (request.url().endsWith("/actions")) posted += 1;
    };
    page.on("request", count);
    const opener = first.locator('button[data-action="repaint"]');
    await opener.focus();
    await page.keyboard.press("Enter");
    await page.locator("#repaint").waitFor({ state: "visible" });
    assert.equal(await page.evaluate("document.activeElement.id"), "repaint-canvas", "the surface has focus");
    assert.equal(await page.locator("#repaint-send").isDisabled(), true, "nothing marked: nothing to send");
    await page.keyboard.press("Enter");
    assert.match(
      (await page.locator("#repaint-status").textContent()) ?? "",
      /512×512 rectangle at 256, 256/,
    );
    await page.keyboard.press("ArrowRight");
    await page.keyboard.press("Shift+ArrowDown");
    assert.match(
      (await page.locator("#repaint-status").textContent()) ?? "",
      /512×528 rectangle at 272, 256/,
    );
    await page.keyboard.press("Control+z");
    assert.match((await page.locator("#repaint-status").textContent()) ?? "", /Nothing marked/);
    // The same with the buttons: Undo takes the last mark back, Clear all of them.
    await page.keyboard.press("Enter");
    await page.keyboard.press("Enter");
    assert.match((await page.locator("#repaint-status").textContent()) ?? "", /2 rectangles/);
    await page.locator("#repaint-undo").click();
    assert.match((await page.locator("#repaint-status").textContent()) ?? "", /a 512×512 rectangle/);
    await page.locator("#repaint-canvas").focus();
    await page.keyboard.press("Enter");
    await page.locator("#repaint-clear").click();
    assert.match((await page.locator("#repaint-status").textContent()) ?? "", /Nothing marked/);
    assert.equal(await page.locator("#repaint-send").isDisabled(), true);
    await page.locator("#repaint-canvas").focus();
    await page.keyboard.press("Enter");
    await page.keyboard.press("Escape");
    await page.locator("#repaint").waitFor({ state: "hidden" });
    assert.equal(await page.evaluate("document.activeElement.dataset.action"), "repaint", "focus returns");
    page.off("request", count);
    assert.equal(posted, 0, "Escape sends nothing");
    assert.equal(await page.locator("li.card").count(), cards, "no new card");
  });

  // ── A refusal shows in the editor, which stays open; nothing is started ──
  await t.test("a refused repaint says why in the editor and starts nothing", async () => {
    const panned = page.locator("li.card").nth(2);
    await panned.locator('button[data-action="repaint"]').click();
    await page.locator("#repaint").waitFor({ state: "visible" });
    // Meanwhile the result is deleted (as from another tab).
    const id = await panned.getAttribute("data-job-id");
    const deleted = (await page.evaluate(
      `fetch("/api/v1/jobs/${id}/actions", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ action: "delete" }) }).then((r) => r.status)`,
    )) as number;
    assert.equal(deleted, 200);
    const cards = await page.locator("li.card").count();
    await page.locator("#repaint-canvas").focus();
    await page.keyboard.press("Enter");
    await page.locator("#repaint-send").click();
    const error = page.locator("#repaint-error");
    await page.waitForFunction("document.querySelector('#repaint-error').textContent.length > 0");
    assert.match((await error.textContent()) ?? "", /deleted/i);
    assert.equal(await page.locator("#repaint").isVisible(), true, "the editor stays open");
    assert.equal(await page.locator("li.card").count(), cards, "no new card");
    await page.keyboard.press("Escape");
    await page.locator("#repaint").waitFor({ state: "hidden" });
  });

  // ── On a phone: the editor fits the screen and draws with a finger ──
  await t.test("the editor fits a phone's screen", async () => {
    await page.setViewportSize({ width: 390, height: 844 });
    await first.locator('button[data-action="repaint"]').click();
    await page.locator("#repaint").waitFor({ state: "visible" });
    const overflow = (await page.evaluate(
      "(() => { const d = document.querySelector('#repaint'); return [d.scrollWidth - d.clientWidth, d.getBoundingClientRect().right - window.innerWidth]; })()",
    )) as number[];
    assert.ok(
      overflow.every((px) => px <= 0),
      `no sideways overflow: ${overflow}`,
    );
    const surface = await page.locator("#repaint-canvas").boundingBox();
    assert.ok(surface && surface.width > 250, `the image is large enough to draw on (${surface?.width}px)`);
    await page.keyboard.press("Escape");
    await page.setViewportSize({ width: 1000, height: 1000 });
  });

  // ── The README's screenshot: the zoomed-out card (seam, canvas buttons) beside the editor ──
  await t.test("the README's screenshot", async (st) => {
    const zoomed = page.locator("li.card").nth(1);
    // The card at a narrow width, without the sticky header and composer over it.
    await page.setViewportSize({ width: 640, height: 1200 });
    const hide = await page.addStyleTag({ content: ".top, .composer { visibility: hidden; }" });
    await zoomed.scrollIntoViewIfNeeded();
    const card = await zoomed.screenshot();
    await hide.evaluate("(node) => node.remove()");
    await page.setViewportSize({ width: 1000, height: 1000 });
    await zoomed.locator('button[data-action="repaint"]').click();
    const surface = page.locator("#repaint-canvas");
    const drag = async (points: Array<[number, number]>) => {
      const [start, ...rest] = await Promise.all(
        points.map(([x, y]) => screenPoint(surface, original, x, y)),
      );
      await page.mouse.move(start!.x, start!.y);
      await page.mouse.down();
      for (const point of rest) await page.mouse.move(point.x, point.y, { steps: 4 });
      await page.mouse.up();
    };
    // A rectangle over the seam, and a brush stroke in the new border.
    await page.locator('#repaint input[name="tool"][value="rect"]').check();
    await drag([
      [600, 380],
      [840, 640],
    ]);
    await page.locator('#repaint input[name="tool"][value="brush"]').check();
    await drag([
      [120, 860],
      [300, 800],
      [480, 880],
    ]);
    assert.match(
      (await page.locator("#repaint-status").textContent()) ?? "",
      /rectangle .* and 1 brush stroke/,
    );
    await page.locator("#repaint-prompt").fill("a lit window");
    await page.locator("#repaint-prompt").blur();
    const editor = await page.locator("#repaint").screenshot();
    await page.keyboard.press("Escape");

    const shot = await sideBySide([card, editor], 480);
    st.diagnostic(`screenshot ${shot.length} bytes`);
    assert.ok(shot.length < 300_000, `the screenshot is small (${shot.length} bytes)`);
    const update = process.env["EASEL_UPDATE_SCREENSHOTS"] === "1";
    const folder = update
      ? join(process.cwd(), dirname(SCREENSHOT))
      : await mkdtemp(join(tmpdir(), "easel-shot-"));
    if (!update) t.after(() => rm(folder, { recursive: true, force: true }));
    await mkdir(folder, { recursive: true });
    await writeFile(join(folder, basename(SCREENSHOT)), shot);
  });

  assert.deepEqual(pageErrors, []);
});

/** Counts of changed pixels in the regions a classifier names (pixels it leaves out are not counted). */
function regionChange(
  diff: Uint8Array,
  width: number,
  classify: (x: number, y: number) => "inside" | "outside" | undefined,
): Record<"inside" | "outside", { count: number; changed: number }> {
  const result = { inside: { count: 0, changed: 0 }, outside: { count: 0, changed: 0 } };
  for (let p = 0; p < diff.length; p++) {
    const where = classify(p % width, Math.floor(p / width));
    if (!where) continue;
    result[where].count += 1;
    if (diff[p]! > 0) result[where].changed += 1;
  }
  return result;
}

/**
 * Screenshots side by side at one height, on the page's background, as a palette PNG: the demo
 * model's noise does not compress, and the README's picture should stay small.
 */
async function sideBySide(shots: Buffer[], height: number): Promise<Buffer> {
  const gap = 16;
  const scaled = await Promise.all(
    shots.map(async (shot) => {
      const { data, info } = await sharp(shot).resize({ height }).png().toBuffer({ resolveWithObject: true });
      return { data, width: info.width };
    }),
  );
  const width = scaled.reduce((sum, shot) => sum + shot.width, 0) + gap * (scaled.length + 1);
  let left = gap;
  const layers = scaled.map((shot) => {
    const layer = { input: shot.data, left, top: gap };
    left += shot.width + gap;
    return layer;
  });
  return sharp({ create: { width, height: height + 2 * gap, channels: 3, background: "#0e1016" } })
    .composite(layers)
    .png({ palette: true, colours: 64, dither: 0, compressionLevel: 9, effort: 10 })
    .toBuffer();
}
