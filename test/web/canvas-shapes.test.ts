/**
 * The page's repaint geometry and mask encoder (plain browser modules, no DOM in them), run in
 * Node: the rectangles the API gets from a drag or the keyboard, the seam outline's box, and the
 * 1-bit mask PNG, decoded back by an independent decoder (sharp/libspng).
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import sharp from "sharp";

interface Rect {
  x: number;
  y: number;
  width: number;
  height: number;
}
type Shape =
  | ({ kind: "rect" } & Rect)
  | { kind: "stroke"; size: number; points: Array<{ x: number; y: number }> };

interface CanvasShapes {
  MIN_RECT_SIDE: number;
  toImagePoint(
    clientX: number,
    clientY: number,
    box: { left: number; top: number; width: number; height: number },
    width: number,
    height: number,
  ): { x: number; y: number };
  rectFromCorners(
    a: { x: number; y: number },
    b: { x: number; y: number },
    width: number,
    height: number,
  ): Rect;
  isRegion(rect: Rect): boolean;
  centredRect(width: number, height: number): Rect;
  nudgeRect(rect: Rect, dx: number, dy: number, resize: boolean, width: number, height: number): Rect;
  rectsOf(shapes: Shape[]): Rect[] | undefined;
  describeShapes(shapes: Shape[]): string;
  seamBox(
    source: Rect | undefined,
    width: number,
    height: number,
  ): { left: string; top: string; width: string; height: string } | undefined;
}
interface MaskPng {
  crc32(...parts: Uint8Array[]): number;
  maskPng(white: Uint8Array, width: number, height: number): Promise<Uint8Array>;
  whiteOf(rgba: Uint8Array | Uint8ClampedArray): Uint8Array;
  pngDataUrl(bytes: Uint8Array): string;
}

// The page's own files, as the browser loads them (they are JavaScript without type declarations).
const moduleAt = (file: string) => new URL(`../../src/bots/web/public/${file}`, import.meta.url).href;
const shapes = (await import(moduleAt("canvas-shapes.js"))) as CanvasShapes;
const masks = (await import(moduleAt("mask-png.js"))) as MaskPng;

test("a drag becomes whole image pixels covering both corners, ordered and inside the image", () => {
  const box = { left: 100, top: 50, width: 512, height: 512 };
  // The 1024×1024 image shown at half size: a screen pixel is two image pixels.
  assert.deepEqual(shapes.toImagePoint(100 + 150, 50 + 170, box, 1024, 1024), { x: 300, y: 340 });
  assert.deepEqual(shapes.toImagePoint(0, 2000, box, 1024, 1024), { x: 0, y: 1024 }, "clamped");
  assert.deepEqual(shapes.rectFromCorners({ x: 700.4, y: 660.2 }, { x: 300.6, y: 339.9 }, 1024, 1024), {
    x: 300,
    y: 339,
    width: 401,
    height: 322,
  });
  assert.deepEqual(shapes.rectFromCorners({ x: -5, y: 10 }, { x: 2000, y: 20 }, 1024, 768), {
    x: 0,
    y: 10,
    width: 1024,
    height: 10,
  });
  assert.equal(shapes.isRegion({ x: 0, y: 0, width: 7, height: 500 }), false, "a slip is not a region");
  assert.equal(shapes.isRegion({ x: 0, y: 0, width: shapes.MIN_RECT_SIDE, height: 8 }), true);
});

test("the keyboard's rectangle starts centred and moves or resizes within the image", () => {
  const start = shapes.centredRect(1344, 768);
  assert.deepEqual(start, { x: 336, y: 192, width: 672, height: 384 });
  assert.deepEqual(shapes.nudgeRect(start, 16, 0, false, 1344, 768), { ...start, x: 352 });
  assert.deepEqual(shapes.nudgeRect(start, 0, 16, true, 1344, 768), { ...start, height: 400 });
  // Pushed past an edge, it stops there; shrunk, it keeps the smallest region.
  assert.deepEqual(shapes.nudgeRect(start, 5000, -5000, false, 1344, 768), { ...start, x: 672, y: 0 });
  assert.deepEqual(shapes.nudgeRect(start, -5000, 5000, true, 1344, 768), {
    ...start,
    width: shapes.MIN_RECT_SIDE,
    height: 768 - 192,
  });
});

test("rectangles alone go as rects; any brush stroke needs the mask", () => {
  const rect: Shape = { kind: "rect", x: 1, y: 2, width: 30, height: 40 };
  const stroke: Shape = { kind: "stroke", size: 64, points: [{ x: 5, y: 5 }] };
  assert.deepEqual(shapes.rectsOf([rect, { ...rect, x: 100 }]), [
    { x: 1, y: 2, width: 30, height: 40 },
    { x: 100, y: 2, width: 30, height: 40 },
  ]);
  assert.equal(shapes.rectsOf([rect, stroke]), undefined);
  assert.equal(shapes.rectsOf([]), undefined);
  assert.equal(shapes.describeShapes([rect]), "Marked: a 30×40 rectangle at 1, 2.");
  assert.equal(shapes.describeShapes([rect, rect, stroke]), "Marked: 2 rectangles and 1 brush stroke.");
});

test("the seam box is where the source sits, in percent; none when it fills the image", () => {
  assert.deepEqual(shapes.seamBox({ x: 256, y: 256, width: 512, height: 512 }, 1024, 1024), {
    left: "25%",
    top: "25%",
    width: "50%",
    height: "50%",
  });
  assert.deepEqual(shapes.seamBox({ x: 0, y: 0, width: 768, height: 768 }, 1536, 768), {
    left: "0%",
    top: "0%",
    width: "50%",
    height: "100%",
  });
  assert.equal(shapes.seamBox({ x: 0, y: 0, width: 1024, height: 1024 }, 1024, 1024), undefined);
  assert.equal(shapes.seamBox(undefined, 1024, 1024), undefined);
});

test("the 1-bit mask PNG decodes to exactly the pixels it was given", async () => {
  // IEND's CRC is in the PNG specification's examples.
  assert.equal(masks.crc32(new TextEncoder().encode("IEND"), new Uint8Array(0)), 0xae426082);
  for (const [width, height] of [
    [13, 5],
    [64, 64],
    [1344, 768],
  ] as const) {
    const white = new Uint8Array(width * height);
    for (let p = 0; p < white.length; p++) {
      const x = p % width;
      const y = Math.floor(p / width);
      white[p] = (x * 7 + y * 3) % 11 < 4 || (x > width / 3 && x < width / 2) ? 1 : 0;
    }
    const png = await masks.maskPng(white, width, height);
    const { data, info } = await sharp(png).greyscale().raw().toBuffer({ resolveWithObject: true });
    assert.deepEqual([info.width, info.height, info.channels], [width, height, 1]);
    assert.deepEqual(
      [...data],
      [...white].map((bit) => bit * 255),
      `${width}x${height}`,
    );
  }
});

test("a canvas's RGBA mask is decided at half grey, and a brush mask stays a few kilobytes", async () => {
  const rgba = new Uint8ClampedArray([
    0, 0, 0, 255, 127, 127, 127, 255, 128, 128, 128, 255, 255, 255, 255, 255,
  ]);
  assert.deepEqual([...masks.whiteOf(rgba)], [0, 0, 1, 1]);
  // A 1024×1024 mask with a thick diagonal band: the size of a real brush stroke.
  const side = 1024;
  const white = new Uint8Array(side * side);
  for (let p = 0; p < white.length; p++) white[p] = Math.abs((p % side) - Math.floor(p / side)) < 48 ? 1 : 0;
  const url = masks.pngDataUrl(await masks.maskPng(white, side, side));
  assert.match(url, /^data:image\/png;base64,/);
  assert.ok(url.length < 16 * 1024, `the data URL is ${url.length} characters`);
  const decoded = await sharp(Buffer.from(url.split(",")[1]!, "base64"))
    .greyscale()
    .raw()
    .toBuffer();
  assert.equal(decoded[500 * side + 500], 255);
  assert.equal(decoded[500 * side + 700], 0);
});
