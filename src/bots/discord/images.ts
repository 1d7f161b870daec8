/**
 * Finished images as Discord attachments: the stored PNG (with its parameters) when it fits the
 * upload limit, otherwise re-encoded as WebP, then JPEG, at falling quality until it fits.
 */
import sharp from "sharp";
import type { EncodedImage } from "../../pipeline/types.js";
import { IMAGE_EXTENSIONS } from "../../requests/jobs.js";

export interface AttachmentFile {
  name: string;
  data: Uint8Array;
  contentType: string;
}

/** Attempts, in order, when a PNG is over the limit. */
const SMALLER_ENCODINGS: ReadonlyArray<{ format: "webp" | "jpeg"; quality: number }> = [
  { format: "webp", quality: 92 },
  { format: "webp", quality: 80 },
  { format: "jpeg", quality: 85 },
  { format: "jpeg", quality: 70 },
  { format: "jpeg", quality: 50 },
];

/** `easel-<jobId>-<n>`: a result image's attachment name without its extension (n counts from 1). */
export function attachmentBaseName(image: { jobId: string; index: number }): string {
  return `easel-${image.jobId}-${image.index + 1}`;
}

/** A blurred copy's attachment name (no extension): never taken for the image itself when fetched back. */
export function blurredAttachmentName(image: { jobId: string; index: number }): string {
  return `${attachmentBaseName(image)}-blurred`;
}

/** Discord shows an attachment as a spoiler (hidden until clicked) when its name starts with `SPOILER_`. */
export const SPOILER_PREFIX = "SPOILER_";

export function spoilerName(fileName: string): string {
  return `${SPOILER_PREFIX}${fileName}`;
}

export interface FittedImage {
  file: AttachmentFile;
  /** The image was re-encoded to fit (it no longer carries the PNG's parameters). */
  reencoded: boolean;
}

/** The image as an attachment no larger than `limit` bytes (best effort: the smallest try otherwise). */
export async function fitImage(image: EncodedImage, baseName: string, limit: number): Promise<FittedImage> {
  if (image.data.length <= limit) {
    return {
      file: {
        name: `${baseName}.${IMAGE_EXTENSIONS[image.mime]}`,
        data: image.data,
        contentType: image.mime,
      },
      reencoded: false,
    };
  }
  let smallest: AttachmentFile | undefined;
  for (const { format, quality } of SMALLER_ENCODINGS) {
    const data = await sharp(image.data)[format]({ quality }).toBuffer();
    const mime = format === "webp" ? "image/webp" : "image/jpeg";
    const file = {
      name: `${baseName}.${IMAGE_EXTENSIONS[mime]}`,
      data: new Uint8Array(data),
      contentType: mime,
    };
    if (data.length <= limit) return { file, reencoded: true };
    if (!smallest || data.length < smallest.data.length) smallest = file;
  }
  return { file: smallest!, reencoded: true };
}
