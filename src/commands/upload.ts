/**
 * A picture uploaded with `/imagine`: checked against the pipeline's source-image limits before
 * anything is stored or queued, kept in the image store, and referenced by the request by id
 * (requests stay JSON-safe).
 */
import sharp, { type Metadata } from "sharp";
import { InvalidInputError } from "../errors.js";
import { MIN_SOURCE_SIDE, sniffImageFormat } from "../pipeline/image/source.js";
import type { EncodedImage } from "../pipeline/types.js";
import { LIMITS } from "../pipeline/validate.js";
import type { ImageStore } from "../requests/jobs.js";
import type { GenerationRequest } from "../requests/request.js";
import { canvasSize, canvasStrength } from "./canvas.js";
import { chatTexts } from "./texts.js";

/** Largest upload accepted, as the pipeline bounds source images. */
export const MAX_UPLOAD_BYTES = 32 * 1024 * 1024;
/**
 * How much of the schedule re-runs over an uploaded picture: enough for the prompt to reshape it,
 * little enough that its composition and colours stay.
 */
export const UPLOAD_STRENGTH = 0.6;

const MIMES = { png: "image/png", jpeg: "image/jpeg", webp: "image/webp" } as const;

const roundDown = (side: number) => side - (side % LIMITS.sideMultiple);

/** Width and height as the picture will be refined: upright (EXIF orientation), multiples of 8. */
async function uploadSize(data: Uint8Array): Promise<{ width: number; height: number }> {
  let metadata: Metadata;
  try {
    metadata = await sharp(data).metadata();
  } catch {
    throw new InvalidInputError(chatTexts.uploadNotAnImage(), "image");
  }
  const { width = 0, height = 0, orientation = 1 } = metadata;
  const turned = orientation >= 5;
  return { width: roundDown(turned ? height : width), height: roundDown(turned ? width : height) };
}

/**
 * The request with the uploaded picture as its source: the picture's own size (the pipeline
 * refines a source at its size), at UPLOAD_STRENGTH; with a canvas action (`--zoom`), the
 * layout's size at the action's strength. Throws InvalidInputError for a file that is
 * too large, not a PNG/JPEG/WebP, or of a size the pipeline would refuse; nothing is stored then.
 */
export async function attachUpload(
  request: GenerationRequest,
  upload: { data: Uint8Array; name?: string },
  images: ImageStore,
): Promise<GenerationRequest> {
  if (upload.data.byteLength > MAX_UPLOAD_BYTES) {
    throw new InvalidInputError(chatTexts.uploadTooLarge(MAX_UPLOAD_BYTES / 1024 / 1024), "image");
  }
  const format = sniffImageFormat(upload.data);
  if (!format) throw new InvalidInputError(chatTexts.uploadNotAnImage(), "image");
  const { width, height } = await uploadSize(upload.data);
  const min = Math.max(LIMITS.minSide, MIN_SOURCE_SIDE);
  if (Math.min(width, height) < min || Math.max(width, height) > LIMITS.maxSide) {
    throw new InvalidInputError(chatTexts.uploadBadSize(width, height, min, LIMITS.maxSide), "image");
  }
  const image: EncodedImage = { mime: MIMES[format], data: upload.data, width, height };
  const uploadId = await images.putUpload(image);
  if (request.canvas) {
    // `--zoom`: the picture on a canvas of the layout's size, the new area painted at the canvas strength.
    const strength = canvasStrength(request.canvas);
    return {
      ...request,
      ...canvasSize(width, height, request.canvas),
      source: { uploadId, strength, upscale: 1 },
    };
  }
  return { ...request, width, height, source: { uploadId, strength: UPLOAD_STRENGTH, upscale: 1 } };
}

/**
 * A result's image as fetched back from where it was posted, checked to be a picture, for the image
 * store (`putUpload`); undefined for bytes that are not a PNG, JPEG or WebP, or too large.
 */
export function postedImage(
  data: Uint8Array,
  image: Pick<EncodedImage, "width" | "height">,
): EncodedImage | undefined {
  if (data.byteLength > MAX_UPLOAD_BYTES) return undefined;
  const format = sniffImageFormat(data);
  return format ? { mime: MIMES[format], data, width: image.width, height: image.height } : undefined;
}
