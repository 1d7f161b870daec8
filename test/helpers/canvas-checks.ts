/**
 * What "a zoom-out / pan result keeps the original" means in the platform tests: the region where
 * the result placed the original, compared with a plain resize of the original (sharp), in PSNR;
 * and how different the painted border is from what a plain resize would have put there.
 */
import sharp from "sharp";
import type { Rect } from "../../src/pipeline/types.js";

/** How far in from the placement's edge the comparison starts: past the feathered seam (pipeline/canvas/mask.ts). */
export const SEAM_MARGIN = 32;

async function rgb(
  image: Uint8Array | Buffer,
  region?: Rect,
): Promise<{ data: Buffer; width: number; height: number }> {
  let pipeline = sharp(image).removeAlpha();
  if (region)
    pipeline = pipeline.extract({
      left: region.x,
      top: region.y,
      width: region.width,
      height: region.height,
    });
  const { data, info } = await pipeline.raw().toBuffer({ resolveWithObject: true });
  return { data, width: info.width, height: info.height };
}

/** PSNR in dB of two equally long 8-bit buffers (Infinity when identical). */
export function psnr(a: Uint8Array, b: Uint8Array): number {
  if (a.length !== b.length) throw new Error(`sizes differ: ${a.length} vs ${b.length}`);
  let sum = 0;
  for (let i = 0; i < a.length; i++) sum += (a[i]! - b[i]!) ** 2;
  const mse = sum / a.length;
  return mse === 0 ? Number.POSITIVE_INFINITY : 10 * Math.log10((255 * 255) / mse);
}

/** `rect` shrunk by `margin` on the sides that border painted area within `bounds`. */
function inset(rect: Rect, margin: number, bounds: { width: number; height: number }): Rect {
  const left = rect.x > 0 ? margin : 0;
  const top = rect.y > 0 ? margin : 0;
  const right = rect.x + rect.width < bounds.width ? margin : 0;
  const bottom = rect.y + rect.height < bounds.height ? margin : 0;
  return {
    x: rect.x + left,
    y: rect.y + top,
    width: rect.width - left - right,
    height: rect.height - top - bottom,
  };
}

/**
 * PSNR of the result's placed region (past the seam) against the original resized to the
 * placement with sharp's default resize: the original's pixels, scaled, kept where they were put.
 */
export async function keptPsnr(
  original: Uint8Array | Buffer,
  result: Uint8Array | Buffer,
  placement: Rect,
  margin = SEAM_MARGIN,
): Promise<number> {
  const { width, height } = await sharp(result).metadata();
  const inner = inset(placement, margin, { width: width!, height: height! });
  const got = await rgb(result, inner);
  const scaled = await sharp(original)
    .removeAlpha()
    .resize(placement.width, placement.height, { fit: "fill" })
    .png()
    .toBuffer();
  const want = await rgb(scaled, { ...inner, x: inner.x - placement.x, y: inner.y - placement.y });
  return psnr(got.data, want.data);
}

/**
 * Mean absolute difference (0-255) between the result outside the placement and the original
 * stretched over the whole result: a border that merely repeats or stretches the original is near 0.
 */
export async function borderDifference(
  original: Uint8Array | Buffer,
  result: Uint8Array | Buffer,
  placement: Rect,
): Promise<number> {
  const got = await rgb(result);
  const stretched = await rgb(
    await sharp(original).removeAlpha().resize(got.width, got.height, { fit: "fill" }).png().toBuffer(),
  );
  let sum = 0;
  let count = 0;
  for (let y = 0; y < got.height; y++) {
    for (let x = 0; x < got.width; x++) {
      const inside =
        x >= placement.x &&
        x < placement.x + placement.width &&
        y >= placement.y &&
        y < placement.y + placement.height;
      if (inside) continue;
      for (let c = 0; c < 3; c++) {
        const i = (y * got.width + x) * 3 + c;
        sum += Math.abs(got.data[i]! - stretched.data[i]!);
        count++;
      }
    }
  }
  return count === 0 ? 0 : sum / count;
}
