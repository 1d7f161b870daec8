/**
 * The blurred copy of a moderated image: what everyone but its requester sees on Slack and the
 * web (and on Discord in blur mode). The picture is first shrunk to a few dozen pixels, so no
 * detail survives that a sharpening filter could bring back, then enlarged to the original size
 * and smoothed so it reads as a soft blur rather than blocks. A JPEG: small, and it carries none
 * of the PNG's text chunks.
 */
import sharp from "sharp";
import type { EncodedImage } from "../pipeline/types.js";

/** The longest side of the shrunken picture: what is left of the image's detail. */
export const BLUR_DETAIL_PIXELS = 24;
const SMOOTHING_SIGMA = 12;
const JPEG_QUALITY = 70;

/** The blurred copy of `image`, as a JPEG of the same width and height. */
export async function blurredCopy(image: EncodedImage): Promise<EncodedImage> {
  const { width, height } = image;
  const scale = BLUR_DETAIL_PIXELS / Math.max(width, height);
  const small = await sharp(image.data)
    .removeAlpha()
    .resize(Math.max(1, Math.round(width * scale)), Math.max(1, Math.round(height * scale)), {
      fit: "fill",
      kernel: "lanczos3",
    })
    .raw()
    .toBuffer({ resolveWithObject: true });
  const data = await sharp(small.data, {
    raw: { width: small.info.width, height: small.info.height, channels: small.info.channels },
  })
    .resize(width, height, { fit: "fill", kernel: "cubic" })
    .blur(SMOOTHING_SIGMA)
    .jpeg({ quality: JPEG_QUALITY })
    .toBuffer();
  return { mime: "image/jpeg", data: new Uint8Array(data), width, height };
}
