/**
 * Zoom out, pan and repaint through SdxlPipeline.generate on the generated fixture models: sizes,
 * where the source lands, that what is kept is exactly the source, that the rest is new, the
 * 9-channel inpainting UNet, batches and the PNG metadata.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import sharp from "sharp";
import { InvalidInputError, ModelFolderError } from "../../src/errors.js";
import { CANVAS_STRENGTH, canvasLayout } from "../../src/pipeline/canvas/index.js";
import { FEATHER_PX, keptRect } from "../../src/pipeline/canvas/mask.js";
import { readPngTextChunks } from "../../src/pipeline/image/png.js";
import { loadPipeline, type SdxlPipeline } from "../../src/pipeline/index.js";
import {
  type CanvasAction,
  type GenerateParams,
  type Progress,
  type Rect,
  SCHEDULER_NAMES,
} from "../../src/pipeline/types.js";
import { fixtureModels } from "../helpers/fixtures.js";

const base: GenerateParams = {
  prompt: "a lighthouse at dusk",
  width: 512,
  height: 512,
  seed: 7n,
  steps: 4,
  guidance: 5,
  scheduler: "euler",
  count: 1,
};

interface Rgb {
  data: Uint8Array;
  width: number;
  height: number;
}

async function decode(png: Uint8Array, resize?: { width: number; height: number }): Promise<Rgb> {
  let image = sharp(png).removeAlpha();
  if (resize) image = image.resize({ ...resize, fit: "fill" });
  const { data, info } = await image.raw().toBuffer({ resolveWithObject: true });
  return { data: new Uint8Array(data), width: info.width, height: info.height };
}

/** PSNR in dB between region `a` of image `x` and region `b` (same size) of image `y`; Infinity when equal. */
function psnr(x: Rgb, a: Rect, y: Rgb, b: Rect): number {
  let sum = 0;
  let n = 0;
  for (let j = 0; j < a.height; j++) {
    for (let i = 0; i < a.width; i++) {
      for (let c = 0; c < 3; c++) {
        const d =
          x.data[((a.y + j) * x.width + a.x + i) * 3 + c]! - y.data[((b.y + j) * y.width + b.x + i) * 3 + c]!;
        sum += d * d;
        n++;
      }
    }
  }
  return sum === 0 ? Number.POSITIVE_INFINITY : 10 * Math.log10((255 * 255) / (sum / n));
}

/** Share of the pixels inside `region` of `x` and `y` (same size) that differ. */
function differingShare(x: Rgb, y: Rgb, region: Rect): number {
  let differing = 0;
  for (let j = region.y; j < region.y + region.height; j++) {
    for (let i = region.x; i < region.x + region.width; i++) {
      const p = (j * x.width + i) * 3;
      if (x.data[p] !== y.data[p] || x.data[p + 1] !== y.data[p + 1] || x.data[p + 2] !== y.data[p + 2])
        differing++;
    }
  }
  return differing / (region.width * region.height);
}

function canvasParams(image: Uint8Array, canvas: CanvasAction, strength: number): GenerateParams {
  return { ...base, source: { image, strength, upscale: 1 }, canvas };
}

describe("canvas actions on the fixture models", () => {
  let models: Awaited<ReturnType<typeof fixtureModels>>;
  let pipeline: SdxlPipeline;
  let source: Uint8Array;
  let sourceRgb: Rgb;

  before(async () => {
    models = await fixtureModels();
    pipeline = await loadPipeline({ modelDir: models.base, refinerDir: models.refiner, device: "cpu" });
    source = (await pipeline.generate(base)).images[0]!.data;
    sourceRgb = await decode(source);
  });
  after(async () => {
    await pipeline?.dispose();
  });

  it("zoom out 2x keeps the size, puts the source scaled by 1/2 in the centre and paints a new border", async () => {
    const params = canvasParams(source, { kind: "zoom_out", factor: 2 }, CANVAS_STRENGTH.zoom_out);
    const result = await pipeline.generate(params);
    const image = result.images[0]!;
    assert.equal(image.width, 512);
    assert.equal(image.height, 512);
    const placement = { x: 128, y: 128, width: 256, height: 256 };
    assert.deepEqual(image.source, placement);
    assert.equal(result.latents.length, 4 * 64 * 64);

    const out = await decode(image.data);
    const resized = await decode(source, { width: 256, height: 256 });
    const whole = { x: 0, y: 0, width: 256, height: 256 };
    const kept = keptRect(512, 512, placement);
    const inner = { x: kept.x - 128, y: kept.y - 128, width: kept.width, height: kept.height };
    // The centre (the placement less the feathered band) is the plain resize, exactly.
    assert.equal(psnr(out, kept, resized, inner), Number.POSITIVE_INFINITY);
    const withBand = psnr(out, placement, resized, whole);
    console.log(`zoom out 2x: PSNR over the whole placement (band included) ${withBand.toFixed(1)} dB`);
    // The border is painted: it is not the source's edge pixels, and another seed paints it otherwise.
    const other = await decode((await pipeline.generate({ ...params, seed: 8n })).images[0]!.data);
    const border = { x: 0, y: 0, width: 512, height: 96 };
    assert.ok(differingShare(out, other, border) > 0.5);
    assert.equal(psnr(out, kept, other, kept), Number.POSITIVE_INFINITY);
    // Deterministic.
    const again = await pipeline.generate(params);
    assert.ok(Buffer.from(again.images[0]!.data).equals(Buffer.from(image.data)));
  });

  it("pan right gives a wider bucket whose left part is the source, scaled to the bucket's height", async () => {
    const result = await pipeline.generate(
      canvasParams(source, { kind: "pan", direction: "right" }, CANVAS_STRENGTH.pan),
    );
    const image = result.images[0]!;
    const layout = canvasLayout(512, 512, { kind: "pan", direction: "right" });
    assert.equal(image.width, 1216);
    assert.equal(image.height, 832);
    assert.deepEqual(image.source, { x: 0, y: 0, width: 832, height: 832 });
    assert.deepEqual(image.source, layout.placement);
    const out = await decode(image.data);
    const resized = await decode(source, { width: 832, height: 832 });
    const kept = keptRect(1216, 832, layout.placement);
    assert.deepEqual(kept, { x: 0, y: 0, width: 832 - FEATHER_PX, height: 832 });
    assert.equal(psnr(out, kept, resized, kept), Number.POSITIVE_INFINITY);
    const strip = { x: 832, y: 0, width: 384, height: 832 };
    const edge = { x: 832 - 384, y: 0, width: 384, height: 832 };
    assert.ok(psnr(out, strip, resized, edge) < 30, "the strip is new, not a copy of the source");
  });

  it("pan up keeps the source at the bottom of a portrait bucket", async () => {
    const image = (await pipeline.generate(canvasParams(source, { kind: "pan", direction: "up" }, 0.9)))
      .images[0]!;
    assert.equal(image.width, 832);
    assert.equal(image.height, 1216);
    assert.deepEqual(image.source, { x: 0, y: 384, width: 832, height: 832 });
  });

  it("repaint with rectangles changes only the rectangles and their feathered edge", async () => {
    const rects = [
      { x: 64, y: 64, width: 128, height: 96 },
      { x: 400, y: 300, width: 200, height: 300 },
    ];
    const result = await pipeline.generate(canvasParams(source, { kind: "repaint", rects }, 0.8));
    const image = result.images[0]!;
    assert.equal(image.width, 512);
    assert.deepEqual(image.source, { x: 0, y: 0, width: 512, height: 512 });
    const out = await decode(image.data);
    let changedOutside = 0;
    let changedInside = 0;
    let inside = 0;
    for (let y = 0; y < 512; y++) {
      for (let x = 0; x < 512; x++) {
        const p = (y * 512 + x) * 3;
        const changed = [0, 1, 2].some((c) => out.data[p + c] !== sourceRgb.data[p + c]);
        const near = rects.some(
          (r) =>
            x >= r.x - FEATHER_PX &&
            x < r.x + r.width + FEATHER_PX &&
            y >= r.y - FEATHER_PX &&
            y < r.y + r.height + FEATHER_PX,
        );
        const within = rects.some((r) => x >= r.x && x < r.x + r.width && y >= r.y && y < r.y + r.height);
        if (!near && changed) changedOutside++;
        if (within) {
          inside++;
          if (changed) changedInside++;
        }
      }
    }
    assert.equal(changedOutside, 0, "pixels farther than the band from the rectangles are the source's");
    assert.ok(changedInside / inside > 0.5, `only ${changedInside} of ${inside} pixels inside changed`);
  });

  it("repaint with a mask image (white = repaint, any size) changes only the white part", async () => {
    // A 128x128 mask: white in its right half -> the right half of the 512x512 image.
    const maskRgb = new Uint8Array(128 * 128);
    for (let y = 0; y < 128; y++) maskRgb.fill(255, y * 128 + 64, y * 128 + 128);
    const mask = new Uint8Array(
      await sharp(maskRgb, { raw: { width: 128, height: 128, channels: 1 } })
        .png()
        .toBuffer(),
    );
    const out = await decode(
      (await pipeline.generate(canvasParams(source, { kind: "repaint", mask }, 0.8))).images[0]!.data,
    );
    const left = { x: 0, y: 0, width: 256 - FEATHER_PX - 2, height: 512 };
    assert.equal(psnr(out, left, sourceRgb, left), Number.POSITIVE_INFINITY);
    assert.ok(differingShare(out, sourceRgb, { x: 300, y: 0, width: 212, height: 512 }) > 0.5);
  });

  it("gives each image of a batch its own seed and border, the same as running that seed alone", async () => {
    const params = { ...canvasParams(source, { kind: "zoom_out", factor: 1.5 }, 1), count: 2 };
    const batch = await pipeline.generate(params);
    assert.equal(batch.images.length, 2);
    assert.deepEqual(
      batch.images.map((image) => image.seed),
      [7n, 8n],
    );
    const alone = await pipeline.generate({ ...params, count: 1, seed: 8n });
    assert.ok(Buffer.from(batch.images[1]!.data).equals(Buffer.from(alone.images[0]!.data)));
    assert.ok(!Buffer.from(batch.images[0]!.data).equals(Buffer.from(batch.images[1]!.data)));
    assert.deepEqual(
      batch.images[0]!.source,
      canvasLayout(512, 512, { kind: "zoom_out", factor: 1.5 }).placement,
    );
  });

  it("runs with every scheduler, reporting progress and previews as any job", async () => {
    for (const scheduler of SCHEDULER_NAMES) {
      const progress: Progress[] = [];
      const params = { ...canvasParams(source, { kind: "zoom_out", factor: 2 }, 0.75), scheduler, steps: 4 };
      const result = await pipeline.generate(params, {
        previewEvery: 1,
        onProgress: (p) => progress.push(p),
      });
      assert.ok(result.latents.every(Number.isFinite), scheduler);
      assert.deepEqual(
        progress.map((p) => p.step),
        [1, 2, 3],
        `${scheduler}: strength 0.75 of 4 steps runs the last 3`,
      );
      assert.ok(progress.every((p) => p.preview?.mime === "image/jpeg"));
      const out = await decode(result.images[0]!.data);
      const resized = await decode(source, { width: 256, height: 256 });
      const kept = keptRect(512, 512, result.images[0]!.source!);
      const inner = { x: kept.x - 128, y: kept.y - 128, width: kept.width, height: kept.height };
      assert.equal(psnr(out, kept, resized, inner), Number.POSITIVE_INFINITY, scheduler);
    }
  });

  it("runs the base model alone: a refiner in the request changes nothing", async () => {
    const params = canvasParams(source, { kind: "pan", direction: "down" }, 0.5);
    const plain = await pipeline.generate(params);
    const refined = await pipeline.generate({ ...params, refiner: { switchAt: 0.8 } });
    assert.ok(Buffer.from(refined.images[0]!.data).equals(Buffer.from(plain.images[0]!.data)));
  });

  it("writes the canvas action into the PNG metadata", async () => {
    const image = (await pipeline.generate(canvasParams(source, { kind: "zoom_out", factor: 2 }, 0.9)))
      .images[0]!;
    const text = readPngTextChunks(image.data);
    assert.match(text.parameters ?? "", /Denoising strength: 0\.9, Canvas: zoom out x2/);
    const json = JSON.parse(text.easel ?? "{}") as { canvas?: unknown; width?: number };
    assert.deepEqual(json.canvas, {
      action: "zoom_out",
      factor: 2,
      source: { x: 128, y: 128, width: 256, height: 256 },
    });
    assert.equal(json.width, 512);
  });

  it("refuses a repaint whose rectangles miss the image, before any denoising", async () => {
    const steps: number[] = [];
    await assert.rejects(
      pipeline.generate(
        canvasParams(source, { kind: "repaint", rects: [{ x: 600, y: 0, width: 10, height: 10 }] }, 0.8),
        { onProgress: (p) => steps.push(p.step) },
      ),
      (error: unknown) =>
        error instanceof InvalidInputError && error.field === "mask" && /covers none/.test(error.userMessage),
    );
    assert.deepEqual(steps, []);
    await assert.rejects(
      pipeline.generate(
        canvasParams(
          source,
          { kind: "repaint", mask: new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 1]) },
          0.8,
        ),
      ),
      (error: unknown) => error instanceof InvalidInputError && error.field === "mask",
    );
  });
});

describe("canvas actions with a 9-channel inpainting UNet", () => {
  let pipeline: SdxlPipeline;
  let source: Uint8Array;

  before(async () => {
    const models = await fixtureModels();
    const plain = await loadPipeline({ modelDir: models.base, device: "cpu" });
    try {
      source = (await plain.generate(base)).images[0]!.data;
    } finally {
      await plain.dispose();
    }
    pipeline = await loadPipeline({ modelDir: models["base-inpainting"], device: "cpu" });
  });
  after(async () => {
    await pipeline?.dispose();
  });

  it("feeds [latents, mask, masked image latents] and keeps the source exactly", async () => {
    for (const strength of [1, 0.6]) {
      const result = await pipeline.generate(canvasParams(source, { kind: "zoom_out", factor: 2 }, strength));
      const image = result.images[0]!;
      assert.equal(image.width, 512);
      assert.ok(result.latents.every(Number.isFinite));
      const out = await decode(image.data);
      const resized = await decode(source, { width: 256, height: 256 });
      const kept = keptRect(512, 512, image.source!);
      const inner = { x: kept.x - 128, y: kept.y - 128, width: kept.width, height: kept.height };
      assert.equal(psnr(out, kept, resized, inner), Number.POSITIVE_INFINITY);
    }
  });

  it("serves only canvas actions: text-to-image names the model's problem", async () => {
    await assert.rejects(pipeline.generate(base), (error: unknown) => {
      assert.ok(error instanceof ModelFolderError);
      assert.match(error.message, /9 input channels/);
      return true;
    });
  });
});
