import assert from "node:assert/strict";
import { describe, it } from "node:test";
import sharp from "sharp";
import {
  DEFAULT_PREVIEW_SIZE,
  encodePreview,
  latentToPreviewRgb,
  previewSize,
} from "../../src/pipeline/image/preview.js";

/** A [batch, 4, h, w] latent where every pixel of image `index` holds `channels`. */
function uniformLatent(batch: number, h: number, w: number, index: number, channels: number[]): Float32Array {
  const latents = new Float32Array(batch * 4 * h * w);
  const plane = h * w;
  for (const [c, value] of channels.entries()) {
    latents.fill(value, (index * 4 + c) * plane, (index * 4 + c + 1) * plane);
  }
  return latents;
}

function pixelAt(rgb: Uint8Array, w: number, y: number, x: number): number[] {
  const i = (y * w + x) * 3;
  return [rgb[i], rgb[i + 1], rgb[i + 2]];
}

describe("latent to preview RGB", () => {
  it("maps known latents to the expected colours", () => {
    // Zero latent -> the bias: (0.1084, -0.0175, -0.0011) * 127.5 + 127.5 = 141.32, 125.27, 127.36.
    const zero = latentToPreviewRgb(new Float32Array(4 * 2 * 2), 0, 2, 2);
    assert.deepEqual(pixelAt(zero, 2, 1, 1), [141, 125, 127]);
    // Channel 0 = 1 -> row 0 + bias: (0.4735, 0.4057, 0.4330) * 127.5 + 127.5 = 187.87, 179.23, 182.71.
    assert.deepEqual(
      pixelAt(latentToPreviewRgb(uniformLatent(1, 2, 2, 0, [1, 0, 0, 0]), 0, 2, 2), 2, 0, 0),
      [188, 179, 183],
    );
    // Channel 3 = -2 -> bias - 2 * row 3: (0.7414, 0.4809, 0.4365) * 127.5 + 127.5 = 222.03, 188.81, 183.15.
    assert.deepEqual(
      pixelAt(latentToPreviewRgb(uniformLatent(1, 2, 2, 0, [0, 0, 0, -2]), 0, 2, 2), 2, 1, 0),
      [222, 189, 183],
    );
    // Mixed: (0.5, -1, 2, 0.25): R = 0.1084 + 0.18255 + 0.2533 + 0.2152 - 0.079125 = 0.680425 -> 214.25;
    // G = -0.0175 + 0.2116 + 0.0042 + 0.2222 - 0.0623 = 0.3582 -> 173.17;
    // B = -0.0011 + 0.21705 - 0.1068 - 0.0724 - 0.0547 = -0.01795 -> 125.21.
    assert.deepEqual(
      pixelAt(latentToPreviewRgb(uniformLatent(1, 1, 1, 0, [0.5, -1, 2, 0.25]), 0, 1, 1), 1, 0, 0),
      [214, 173, 125],
    );
  });

  it("clamps to the byte range", () => {
    assert.deepEqual(
      [...latentToPreviewRgb(uniformLatent(1, 1, 1, 0, [10, 0, 0, 0]), 0, 1, 1)],
      [255, 255, 255],
    );
    assert.deepEqual([...latentToPreviewRgb(uniformLatent(1, 1, 1, 0, [-10, 0, 0, 0]), 0, 1, 1)], [0, 0, 0]);
  });

  it("reads the requested image of a batch and keeps pixel positions", () => {
    const h = 2;
    const w = 3;
    const latents = uniformLatent(3, h, w, 1, [0, 0, 0, 0]);
    // Image 1: channel 0 rises along x, channel 1 falls along y; images 0 and 2 are bright.
    latents.fill(8, 0, 4 * h * w);
    latents.fill(8, 2 * 4 * h * w);
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        latents[(4 + 0) * h * w + y * w + x] = x;
        latents[(4 + 1) * h * w + y * w + x] = -y;
      }
    }
    const rgb = latentToPreviewRgb(latents, 1, h, w);
    const byte = (v: number) => Math.round(Math.min(255, Math.max(0, v * 127.5 + 127.5)));
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        const expected = [
          byte(0.1084 + 0.3651 * x + 0.2533 * y),
          byte(-0.0175 + 0.4232 * x + 0.0042 * y),
          byte(-0.0011 + 0.4341 * x - 0.1068 * y),
        ];
        assert.deepEqual(pixelAt(rgb, w, y, x), expected, `pixel ${x},${y}`);
      }
    }
    assert.throws(() => latentToPreviewRgb(latents, 3, h, w), RangeError);
  });

  it("writes into a given buffer", () => {
    const out = new Uint8Array(4 * 4 * 3);
    assert.equal(latentToPreviewRgb(new Float32Array(2 * 4 * 16), 1, 4, 4, out), out);
    assert.throws(() => latentToPreviewRgb(new Float32Array(4 * 16), 0, 4, 4, new Uint8Array(5)), RangeError);
  });
});

describe("preview encoding", () => {
  it("sizes the longer side and keeps the aspect ratio", () => {
    assert.deepEqual(previewSize(128, 128, 256), { width: 256, height: 256 });
    assert.deepEqual(previewSize(96, 168, 256), { width: 256, height: 146 }); // 1344x768
    assert.deepEqual(previewSize(168, 96, 256), { width: 146, height: 256 });
    assert.deepEqual(previewSize(80, 192, 512), { width: 512, height: 213 }); // 1536x640
  });

  it("encodes a JPEG of the requested size that decodes to the preview's colours", async (t) => {
    const h = 96;
    const w = 168;
    const rgb = latentToPreviewRgb(uniformLatent(1, h, w, 0, [1, 0, 0, 0]), 0, h, w);
    await encodePreview(rgb, h, w); // warm-up
    const start = performance.now();
    const preview = await encodePreview(rgb, h, w);
    t.diagnostic(
      `preview JPEG encode ${w}x${h} -> ${DEFAULT_PREVIEW_SIZE} px: ${(performance.now() - start).toFixed(1)} ms`,
    );
    assert.equal(preview.mime, "image/jpeg");
    assert.deepEqual([preview.width, preview.height], [DEFAULT_PREVIEW_SIZE, 73]);
    const { data, info } = await sharp(preview.data).raw().toBuffer({ resolveWithObject: true });
    assert.equal((await sharp(preview.data).metadata()).format, "jpeg");
    assert.deepEqual([info.width, info.height], [DEFAULT_PREVIEW_SIZE, 73]);
    // Lossy, but a flat colour stays close to (188, 179, 183).
    const centre = ((36 * info.width + 64) * info.channels) as number;
    assert.ok(
      Math.abs(data[centre] - 188) <= 6 && Math.abs(data[centre + 1] - 179) <= 6,
      `${[...data.subarray(centre, centre + 3)]}`,
    );

    const square = await encodePreview(new Uint8Array(128 * 128 * 3), 128, 128, 384);
    assert.deepEqual([square.width, square.height], [384, 384]);
  });
});
