/**
 * Source images for img2img / refine: decode what a user uploaded, check it against the caller's
 * limits, and bring it to a size the VAE accepts.
 *
 * - Formats: PNG, JPEG and WebP only, recognised by their signature bytes and then by the decoder;
 *   anything else, or a file the decoder rejects (corrupt, truncated), is an InvalidInputError.
 * - EXIF orientation is applied, so phone photos come out upright.
 * - Transparency is flattened onto white: transparent PNGs (logos, stickers, cut-outs) are drawn
 *   on white almost everywhere they are shown, and black would turn their background into a dark
 *   blob the model then keeps. The colour space becomes sRGB, 8 bits, 3 channels.
 * - Size: the image is scaled by `upscale` (sharp's lanczos3), then, like diffusers'
 *   VaeImageProcessor.preprocess, resized to width - width % 8 by height - height % 8, in one
 *   resize. An image that already has that size is passed through untouched.
 * - Limits: `maxBytes` bounds the upload, `maxPixels` the image handed to the pipeline (after
 *   upscaling), MIN_SOURCE_SIDE each side of it. Dimensions are read from the header before any
 *   pixel is decoded, so a header that declares a huge image is "too large", not "not an image",
 *   and a tiny one is told the smallest size accepted.
 */

import sharp, { type Metadata, type OutputInfo } from "sharp";
import { InvalidInputError } from "../../errors.js";
import { sniffImageFormat } from "./format.js";

export { sniffImageFormat } from "./format.js";

export interface SourceImageOptions {
  upscale: 1 | 1.5 | 2;
  /** Largest width * height of the resulting image. */
  maxPixels: number;
  /** Largest accepted file, in bytes. */
  maxBytes: number;
}

export interface SourceImage {
  /** Interleaved RGB, height * width * 3 bytes. */
  rgb: Uint8Array;
  width: number;
  height: number;
}

/** Largest source image file the pipeline reads, in bytes. */
export const MAX_SOURCE_BYTES = 32 * 1024 * 1024;

/** Smallest side accepted after resizing: 64 px is an 8x8 latent, the least the UNet can work on. */
export const MIN_SOURCE_SIDE = 64;

const FIELD = "image";
const NOT_AN_IMAGE = "The file is not a PNG, JPEG or WebP image.";

/** Width or height after scaling by `upscale` and rounding down to a multiple of 8. */
export function sourceTargetSide(side: number, upscale: number): number {
  const scaled = Math.round(side * upscale);
  return scaled - (scaled % 8);
}

/** The smallest side a source may have so that, scaled by `upscale`, it still gives MIN_SOURCE_SIDE. */
export function smallestSourceSide(upscale: number): number {
  let side = Math.floor(MIN_SOURCE_SIDE / upscale);
  while (sourceTargetSide(side, upscale) < MIN_SOURCE_SIDE) side++;
  return side;
}

export async function loadSourceImage(data: Uint8Array, options: SourceImageOptions): Promise<SourceImage> {
  const { upscale, maxPixels, maxBytes } = options;
  if (data.length > maxBytes) {
    throw new InvalidInputError(
      `The image file is ${formatMegabytes(data.length)}; the limit is ${formatMegabytes(maxBytes)}.`,
      FIELD,
    );
  }
  const format = sniffImageFormat(data);
  if (!format) throw new InvalidInputError(NOT_AN_IMAGE, FIELD);

  let header: Metadata;
  try {
    // Only the header is read here; the size limits below decide, not sharp's default pixel limit
    // (which would make a huge image look like a broken one).
    header = await sharp(data, { limitInputPixels: false }).metadata();
  } catch {
    throw new InvalidInputError(NOT_AN_IMAGE, FIELD);
  }
  if (header.format !== format) throw new InvalidInputError(NOT_AN_IMAGE, FIELD);

  const { width: sourceWidth, height: sourceHeight } = header.autoOrient;
  const width = sourceTargetSide(sourceWidth, upscale);
  const height = sourceTargetSide(sourceHeight, upscale);
  const scaledText = upscale === 1 ? "" : ` after upscaling x${upscale}`;
  if (width * height > maxPixels) {
    throw new InvalidInputError(
      `The image is too large: ${width}x${height} pixels${scaledText}; the limit is ` +
        `${maxPixels.toLocaleString("en-US")} pixels in all.`,
      FIELD,
    );
  }
  if (width < MIN_SOURCE_SIDE || height < MIN_SOURCE_SIDE) {
    const least = smallestSourceSide(upscale);
    const before = upscale === 1 ? "" : ` (${least}x${least} before upscaling x${upscale})`;
    throw new InvalidInputError(
      `The image is too small: ${sourceWidth}x${sourceHeight} pixels; it must be at least ` +
        `${MIN_SOURCE_SIDE}x${MIN_SOURCE_SIDE} pixels${before}.`,
      FIELD,
    );
  }

  let pipeline = sharp(data, { limitInputPixels: Math.max(sourceWidth * sourceHeight, 1) })
    .autoOrient()
    .flatten({ background: { r: 255, g: 255, b: 255 } });
  if (width !== sourceWidth || height !== sourceHeight) {
    pipeline = pipeline.resize({ width, height, fit: "fill", kernel: "lanczos3" });
  }
  let decoded: { data: Buffer; info: OutputInfo };
  try {
    decoded = await pipeline
      .toColourspace("srgb")
      .raw({ depth: "uchar" })
      .toBuffer({ resolveWithObject: true });
  } catch {
    throw new InvalidInputError(NOT_AN_IMAGE, FIELD);
  }
  const { info } = decoded;
  if (info.width !== width || info.height !== height || info.channels !== 3) {
    throw new Error(
      `decoded source is ${info.width}x${info.height}x${info.channels}; expected ${width}x${height}x3`,
    );
  }
  return {
    rgb: new Uint8Array(decoded.data.buffer, decoded.data.byteOffset, decoded.data.byteLength),
    width,
    height,
  };
}

function formatMegabytes(bytes: number): string {
  const megabytes = bytes / (1024 * 1024);
  return `${megabytes >= 10 ? Math.round(megabytes) : megabytes.toFixed(1)} MB`;
}
