/** The canvas's pure pixel functions: masks, feathering, the border fill and the compositing. */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import sharp from "sharp";
import { InvalidInputError } from "../../src/errors.js";
import { decodeMaskImage } from "../../src/pipeline/canvas/canvas-image.js";
import { compositeKept } from "../../src/pipeline/canvas/composite.js";
import { boxBlur, extendEdges, fillBorder, fillNoise } from "../../src/pipeline/canvas/fill.js";
import {
  binarizeGrey,
  FEATHER_PX,
  featherMask,
  keptRect,
  latentMask,
  outsideMask,
  rectsMask,
  repaintsAnything,
} from "../../src/pipeline/canvas/mask.js";
import { TorchGenerator } from "../../src/pipeline/noise/index.js";

/** Brute force: the distance from each pixel to the nearest masked pixel. */
function bruteDistance(hard: Float32Array, width: number): Float64Array {
  const points: [number, number][] = [];
  for (let i = 0; i < hard.length; i++) if (hard[i]! >= 0.5) points.push([i % width, Math.floor(i / width)]);
  const out = new Float64Array(hard.length);
  for (let i = 0; i < hard.length; i++) {
    const x = i % width;
    const y = Math.floor(i / width);
    let best = Number.POSITIVE_INFINITY;
    for (const [px, py] of points) best = Math.min(best, (x - px) ** 2 + (y - py) ** 2);
    out[i] = Math.sqrt(best);
  }
  return out;
}

describe("canvas masks", () => {
  it("rectangles are clipped to the image; outside masks invert the placement", () => {
    const mask = rectsMask(4, 3, [
      { x: 3, y: 2, width: 10, height: 10 },
      { x: 0, y: 0, width: 1, height: 1 },
    ]);
    assert.deepEqual([...mask], [1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
    assert.equal(repaintsAnything(rectsMask(4, 3, [{ x: 9, y: 0, width: 5, height: 5 }])), false);
    assert.deepEqual(
      [...outsideMask(3, 3, { x: 1, y: 1, width: 1, height: 1 })],
      [1, 1, 1, 1, 0, 1, 1, 1, 1],
    );
    assert.deepEqual([...binarizeGrey(Uint8Array.of(0, 127, 128, 255))], [0, 0, 1, 1]);
  });

  it("feathers by the exact Euclidean distance (checked by brute force on scattered shapes)", () => {
    const width = 57;
    const height = 41;
    const generator = new TorchGenerator(5n);
    const draw = generator.randn([width * height]);
    const hard = rectsMask(width, height, [
      { x: 3, y: 4, width: 7, height: 2 },
      { x: 40, y: 30, width: 30, height: 30 },
    ]);
    for (let i = 0; i < hard.length; i++) if (draw[i]! > 2.6) hard[i] = 1; // scattered single pixels
    for (const feather of [1, 6, FEATHER_PX]) {
      const soft = featherMask(hard, width, height, feather);
      const distance = bruteDistance(hard, width);
      for (let i = 0; i < soft.length; i++) {
        const expected = distance[i] === 0 ? 1 : Math.max(0, 1 - distance[i]! / feather);
        assert.ok(
          Math.abs(soft[i]! - expected) < 1e-6,
          `feather ${feather} pixel ${i}: ${soft[i]} vs ${expected}`,
        );
      }
    }
  });

  it("a zoom-out mask reaches two latent pixels into the placement at latent resolution", () => {
    const width = 256;
    const height = 256;
    const placement = { x: 64, y: 64, width: 128, height: 128 };
    const soft = featherMask(outsideMask(width, height, placement), width, height);
    const latent = latentMask(soft, width, height);
    const row = 16; // through the middle
    const cells = [...latent.subarray(row * 32, row * 32 + 32)];
    // Latent x 8..23 is the placement; 8 and 9 (pixels 64 and 72, at distance 1 and 9) are repainted.
    assert.deepEqual(cells.slice(6, 12), [1, 1, 1, 1, 0, 0]);
    assert.deepEqual(cells.slice(20, 26), [0, 0, 1, 1, 1, 1]);
    // Pixels farther than the band keep exactly; the band falls from 1 to 0.
    const at = (x: number, y: number) => soft[y * width + x]!;
    assert.equal(at(64 + FEATHER_PX, 128), 0);
    assert.equal(at(63, 128), 1);
    assert.ok(at(64 + FEATHER_PX / 2, 128) > 0.45 && at(64 + FEATHER_PX / 2, 128) < 0.55);
    assert.deepEqual(keptRect(width, height, placement), { x: 96, y: 96, width: 64, height: 64 });
    for (let y = 96; y < 160; y++) for (let x = 96; x < 160; x++) assert.equal(at(x, y), 0);
  });

  it("the kept region has no band on sides at the image's edge", () => {
    assert.deepEqual(keptRect(1216, 832, { x: 0, y: 0, width: 832, height: 832 }), {
      x: 0,
      y: 0,
      width: 800,
      height: 832,
    });
  });
});

describe("border fill", () => {
  const width = 40;
  const height = 24;
  const placement = { x: 10, y: 8, width: 20, height: 8 };
  const canvas = new Uint8Array(width * height * 3);
  for (let y = placement.y; y < placement.y + placement.height; y++) {
    for (let x = placement.x; x < placement.x + placement.width; x++) {
      const i = (y * width + x) * 3;
      canvas.set([x * 10, y * 20, 200], i);
    }
  }

  it("extends the nearest placed pixel outwards", () => {
    const out = extendEdges(canvas, width, height, placement);
    const pixel = (image: Uint8Array, x: number, y: number) => [
      ...image.subarray((y * width + x) * 3, (y * width + x) * 3 + 3),
    ];
    assert.deepEqual(pixel(out, 0, 0), [100, 160, 200]); // the placement's top-left pixel (10, 8)
    assert.deepEqual(pixel(out, 39, 12), pixel(canvas, 29, 12)); // right of the placement: its right edge
    assert.deepEqual(pixel(out, 15, 23), pixel(canvas, 15, 15)); // below: its bottom row
    assert.deepEqual(pixel(out, 20, 10), pixel(canvas, 20, 10)); // inside: unchanged
  });

  it("box blur keeps a flat image flat and smooths a step", () => {
    const flat = new Float32Array(12 * 9 * 3).fill(77);
    assert.ok(boxBlur(flat, 12, 9, 4).every((v) => Math.abs(v - 77) < 1e-3));
    const step = new Float32Array(30 * 1 * 3);
    for (let x = 15; x < 30; x++) step.fill(255, x * 3, x * 3 + 3);
    const blurred = boxBlur(step, 30, 1, 2);
    assert.ok(blurred[14 * 3]! > 40 && blurred[14 * 3]! < 215);
    assert.ok(blurred[0]! < 1 && blurred[29 * 3]! > 254);
  });

  it("changes only the border, with the image's own noise", () => {
    const noiseA = new TorchGenerator(1n).randn([canvas.length]);
    const noiseB = new TorchGenerator(2n).randn([canvas.length]);
    const a = fillBorder(canvas, width, height, placement, noiseA);
    const b = fillBorder(canvas, width, height, placement, noiseB);
    let insideDiffers = 0;
    let borderDiffers = 0;
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < width; x++) {
        const inside =
          x >= placement.x &&
          x < placement.x + placement.width &&
          y >= placement.y &&
          y < placement.y + placement.height;
        for (let c = 0; c < 3; c++) {
          const i = (y * width + x) * 3 + c;
          if (inside && (a[i] !== canvas[i] || b[i] !== canvas[i])) insideDiffers++;
          if (!inside && a[i] !== b[i]) borderDiffers++;
        }
      }
    }
    assert.equal(insideDiffers, 0);
    assert.ok(borderDiffers > 1000, `${borderDiffers} border values differ between two noises`);
    assert.deepEqual(fillBorder(canvas, width, height, placement, noiseA), a);
    assert.throws(() => fillBorder(canvas, width, height, placement, new Float32Array(3)), RangeError);
  });
});

describe("fillNoise", () => {
  it("is a pure function of the seed with mean 0 and variance 1", () => {
    const a = fillNoise(7n, 100_000);
    assert.deepEqual(fillNoise(7n, 100_000), a);
    const b = fillNoise(8n, 100_000);
    assert.ok(a.some((v, i) => v !== b[i]));
    assert.notDeepEqual(fillNoise((1n << 64n) - 1n, 10), fillNoise(0n, 10));
    const mean = a.reduce((sum, v) => sum + v, 0) / a.length;
    const variance = a.reduce((sum, v) => sum + (v - mean) ** 2, 0) / a.length;
    assert.ok(Math.abs(mean) < 0.02, `mean ${mean}`);
    assert.ok(Math.abs(variance - 1) < 0.02, `variance ${variance}`);
  });
});

describe("compositeKept", () => {
  it("keeps the original where the mask is 0, the new pixels where it is 1, and mixes the band", () => {
    const generated = Uint8Array.of(200, 200, 200, 100, 100, 100, 0, 50, 255);
    const original = Uint8Array.of(0, 10, 20, 0, 0, 0, 255, 255, 255);
    const out = compositeKept(generated, original, Float32Array.of(0, 1, 0.25));
    assert.deepEqual([...out], [0, 10, 20, 100, 100, 100, 191, 204, 255]);
    assert.throws(() => compositeKept(generated, original, Float32Array.of(0, 1)), RangeError);
  });
});

describe("decodeMaskImage", () => {
  it("reads white as repaint, transparency as keep, at the image's size", async () => {
    // 64x64 RGBA: transparent white everywhere (a drawing tool's untouched canvas), an opaque white square.
    const rgba = new Uint8Array(64 * 64 * 4);
    for (let i = 0; i < 64 * 64; i++) rgba.set([255, 255, 255, 0], i * 4);
    for (let y = 16; y < 32; y++) for (let x = 32; x < 48; x++) rgba[(y * 64 + x) * 4 + 3] = 255;
    const png = new Uint8Array(
      await sharp(rgba, { raw: { width: 64, height: 64, channels: 4 } })
        .png()
        .toBuffer(),
    );
    const mask = await decodeMaskImage(png, 128, 96);
    assert.equal(mask.length, 128 * 96);
    const at = (x: number, y: number) => mask[y * 128 + x];
    assert.equal(at(80, 36), 1); // inside the square, scaled x2 across and x1.5 down
    assert.equal(at(10, 10), 0);
    assert.equal(at(120, 90), 0);
    let repainted = 0;
    for (const value of mask) repainted += value;
    assert.ok(Math.abs(repainted - 32 * 24) <= 2 * (32 + 24), `${repainted} pixels repainted`);
  });

  it("refuses bytes that do not decode", async () => {
    await assert.rejects(
      decodeMaskImage(Uint8Array.of(0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 1, 2), 64, 64),
      (error: unknown) => error instanceof InvalidInputError && error.field === "mask",
    );
  });
});
