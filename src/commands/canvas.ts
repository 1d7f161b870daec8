/**
 * Zoom out, pan and repaint as chat follow-ups: the request each one makes from an earlier job's
 * image (its seed, prompt, model and LoRAs; the pipeline's canvas layout gives the new size), and
 * the checks on a repaint's region that need the image's size or the mask's bytes, made before
 * anything is stored or queued.
 */
import sharp from "sharp";
import type { Config } from "../config.js";
import { InvalidInputError } from "../errors.js";
import { CANVAS_STRENGTH, canvasLayout, MAX_REPAINT_RECTS, ZOOM_FACTORS } from "../pipeline/canvas/index.js";
import { sniffImageFormat } from "../pipeline/image/format.js";
import type { CanvasAction, EncodedImage, Rect } from "../pipeline/types.js";
import { promptWithTriggers } from "../requests/loras.js";
import type { GenerationRequest, RequestCanvas, Requester } from "../requests/request.js";
import { imagineOptions, MAX_PROMPT_LENGTH } from "./options.js";
import { assertPromptAllowed } from "./policy.js";
import { canvasErrors, inputErrors } from "./texts.js";
import { readText } from "./validate.js";

/** Largest mask file a repaint accepts: a white-on-black PNG of any SDXL size is far smaller. */
export const MAX_MASK_UPLOAD_BYTES = 4 * 1024 * 1024;

const MASK_MIMES = { png: "image/png", jpeg: "image/jpeg", webp: "image/webp" } as const;

/** Whether `factor` is a zoom-out factor the pipeline takes (1 to 2). */
export function isZoomFactor(factor: number): boolean {
  return Number.isFinite(factor) && factor >= ZOOM_FACTORS.min && factor <= ZOOM_FACTORS.max;
}

/** The pipeline's canvas action for a request's, for geometry only (a mask's bytes are not needed). */
function layoutAction(canvas: RequestCanvas): CanvasAction {
  if (canvas.kind === "repaint") return { kind: "repaint", rects: [] };
  return canvas;
}

/** The size of a canvas job's result for a source image of `width` x `height`. */
export function canvasSize(
  width: number,
  height: number,
  canvas: RequestCanvas,
): { width: number; height: number } {
  const { width: w, height: h } = canvasLayout(width, height, layoutAction(canvas));
  return { width: w, height: h };
}

/** The strength a canvas action runs at unless the user chose one. */
export function canvasStrength(canvas: RequestCanvas): number {
  return CANVAS_STRENGTH[canvas.kind];
}

/**
 * The request that zooms out, pans or repaints image `imageIndex` of `original`: one image with
 * that image's seed, the original's prompt (a repaint may give its own), negative prompt, model,
 * LoRAs, steps, guidance and scheduler; the size the canvas layout gives; no variation; the refiner
 * off, since the pipeline runs canvas actions on the base model alone (so the caption says so).
 * Throws InvalidInputError when the image does not exist.
 */
export function canvasRequest(
  original: GenerationRequest,
  target: { jobId: string; imageIndex: number },
  canvas: RequestCanvas,
  presser: Requester,
  choices: { prompt?: string; strength?: number } = {},
): GenerationRequest {
  if (target.imageIndex >= original.count) {
    throw new InvalidInputError(canvasErrors.noSuchImage(target.imageIndex + 1, original.count), "index");
  }
  const { variation: _variation, source: _source, canvas: _canvas, ...settings } = original;
  const seed = BigInt.asUintN(64, BigInt(original.seed) + BigInt(target.imageIndex)).toString();
  return {
    ...settings,
    ...(choices.prompt !== undefined ? { prompt: choices.prompt } : {}),
    ...canvasSize(original.width, original.height, canvas),
    seed,
    count: 1,
    refiner: { enabled: false },
    source: {
      jobId: target.jobId,
      imageIndex: target.imageIndex,
      strength: choices.strength ?? canvasStrength(canvas),
      upscale: 1,
    },
    canvas,
    requester: presser,
  };
}

/**
 * Refuses repaint rectangles that are not whole pixels inside the image (`width` x `height`), or
 * too many of them; returns them as plain rectangles.
 */
export function checkRepaintRects(rects: readonly Rect[], width: number, height: number): Rect[] {
  if (rects.length === 0) throw new InvalidInputError(canvasErrors.noRects(), "rects");
  if (rects.length > MAX_REPAINT_RECTS) {
    throw new InvalidInputError(canvasErrors.tooManyRects(rects.length, MAX_REPAINT_RECTS), "rects");
  }
  return rects.map((rect, i) => {
    const { x, y, width: w, height: h } = rect;
    const whole = [x, y, w, h].every((value) => Number.isInteger(value));
    if (!whole || x < 0 || y < 0 || w < 1 || h < 1 || x + w > width || y + h > height) {
      throw new InvalidInputError(canvasErrors.rectOutside(i + 1, width, height), "rects");
    }
    return { x, y, width: w, height: h };
  });
}

/**
 * A repaint mask as the image store keeps it: refused unless it is a PNG, JPEG or WebP that
 * decodes, within MAX_MASK_UPLOAD_BYTES. Any size: the pipeline resizes it to the image's.
 */
export async function maskUpload(data: Uint8Array): Promise<EncodedImage> {
  if (data.byteLength > MAX_MASK_UPLOAD_BYTES) {
    throw new InvalidInputError(canvasErrors.maskTooLarge(MAX_MASK_UPLOAD_BYTES / 1024 / 1024), "mask");
  }
  const format = sniffImageFormat(data);
  if (!format) throw new InvalidInputError(canvasErrors.maskNotAnImage(), "mask");
  let grey: { data: Buffer; info: { width: number; height: number } };
  try {
    // Decoded whole (metadata alone reads only the header), as the pipeline reads it: transparent
    // pixels on black, grey.
    grey = await sharp(data)
      .flatten({ background: "#000" })
      .greyscale()
      .raw()
      .toBuffer({ resolveWithObject: true });
  } catch {
    throw new InvalidInputError(canvasErrors.maskNotAnImage(), "mask");
  }
  // The pipeline repaints where the mask is at least half white: a mask with no such pixel would fail there.
  if (!grey.data.some((value) => value >= 128)) throw new InvalidInputError(canvasErrors.maskEmpty(), "mask");
  return { mime: MASK_MIMES[format], data, width: grey.info.width, height: grey.info.height };
}

/**
 * A repaint's own prompt, read as /imagine reads one (cleaned, within the length with the job's
 * LoRA trigger words, and past the blocked terms); refused with InvalidInputError otherwise.
 */
export function repaintPrompt(
  text: string,
  original: Pick<GenerationRequest, "loras">,
  config: Config,
): string {
  const promptOption = imagineOptions(config).find((option) => option.name === "prompt")!;
  const prompt = readText(promptOption, text);
  if (prompt.length === 0) throw new InvalidInputError(inputErrors.emptyPrompt(false), "prompt");
  const encoded = Array.from(promptWithTriggers(prompt, original.loras)).length;
  if (encoded > MAX_PROMPT_LENGTH) {
    throw new InvalidInputError(inputErrors.triggersTooLong(encoded, MAX_PROMPT_LENGTH), "prompt");
  }
  assertPromptAllowed(prompt, config.policy);
  return prompt;
}
