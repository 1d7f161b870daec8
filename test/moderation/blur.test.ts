import assert from "node:assert/strict";
import { test } from "node:test";
import sharp from "sharp";
import { blurredCopy } from "../../src/moderation/blur.js";
import type { EncodedImage } from "../../src/pipeline/types.js";

/** An RGB picture from a function of (x, y) → grey level, as a PNG. */
async function picture(width: number, height: number, grey: (x: number, y: number) => number) {
  const pixels = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) pixels.fill(grey(x, y), (y * width + x) * 3, (y * width + x) * 3 + 3);
  }
  const data = await sharp(pixels, { raw: { width, height, channels: 3 } })
    .png()
    .toBuffer();
  return { mime: "image/png", data: new Uint8Array(data), width, height } satisfies EncodedImage;
}

async function greys(image: EncodedImage): Promise<{ values: Uint8Array; width: number; height: number }> {
  const { data, info } = await sharp(image.data).greyscale().raw().toBuffer({ resolveWithObject: true });
  return { values: new Uint8Array(data), width: info.width, height: info.height };
}

function std(values: Uint8Array): number {
  const mean = values.reduce((sum, v) => sum + v, 0) / values.length;
  return Math.sqrt(values.reduce((sum, v) => sum + (v - mean) ** 2, 0) / values.length);
}

test("a blurred copy keeps the size, is a JPEG, and leaves no fine detail (a checkerboard turns grey)", async () => {
  const board = await picture(1024, 768, (x, y) => (((x >> 3) + (y >> 3)) % 2 === 0 ? 0 : 255));
  const blurred = await blurredCopy(board);
  assert.equal(blurred.mime, "image/jpeg");
  assert.deepEqual([blurred.width, blurred.height], [1024, 768]);
  const decoded = await greys(blurred);
  assert.deepEqual([decoded.width, decoded.height], [1024, 768]);
  assert.ok(std((await greys(board)).values) > 120, "the original is a sharp pattern");
  assert.ok(
    std(decoded.values) < 6,
    `the blurred copy is nearly flat (std ${std(decoded.values).toFixed(2)})`,
  );
});

test("a blurred copy keeps the broad layout but no hard edge", async () => {
  const halves = await picture(512, 512, (x) => (x < 256 ? 0 : 255));
  const { values, width } = await greys(await blurredCopy(halves));
  const row = values.subarray(256 * width, 257 * width);
  assert.ok(
    row[16]! < 40 && row[width - 16]! > 215,
    `dark left, bright right (${row[16]}, ${row[width - 16]})`,
  );
  let steepest = 0;
  for (let x = 1; x < width; x++) steepest = Math.max(steepest, Math.abs(row[x]! - row[x - 1]!));
  assert.ok(
    steepest <= 12,
    `no pixel-to-pixel jump above 12 grey levels (was ${steepest}; the original's is 255)`,
  );
});

test("two different pictures give different blurred copies, and a small or odd-sized one works", async () => {
  const dark = await blurredCopy(await picture(64, 40, (x) => x));
  const light = await blurredCopy(await picture(64, 40, (x) => 255 - x));
  assert.deepEqual([dark.width, dark.height], [64, 40]);
  assert.notDeepEqual(dark.data, light.data);
});
