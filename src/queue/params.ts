/** A stored GenerationRequest (JSON-safe) as the pipeline's GenerateParams (bigint seeds, image bytes). */

import { InvalidInputError } from "../errors.js";
import type { CanvasAction, GenerateParams } from "../pipeline/types.js";
import { LIMITS, validateGenerateParams } from "../pipeline/validate.js";
import { promptWithTriggers } from "../requests/loras.js";
import { type GenerationRequest, isUploadSource, type RequestCanvas } from "../requests/request.js";
import { seedValue } from "../requests/values.js";

/** A seed's decimal string as a bigint, read as chat and the CLI read it; BigInt alone would take "0x1f". */
function seedOf(text: string, field: string): bigint {
  const seed = seedValue(text);
  if (seed === undefined) {
    throw new InvalidInputError(`Seeds are whole numbers from 0 to ${LIMITS.maxSeed}.`, field);
  }
  return seed;
}

/** The pipeline's canvas action for a request's; a repaint mask's bytes are given by the caller. */
function canvasOf(canvas: RequestCanvas, maskImage: Uint8Array | undefined): CanvasAction {
  if (canvas.kind !== "repaint" || !("maskUploadId" in canvas)) return canvas;
  if (!maskImage) {
    throw new TypeError(
      `the request repaints with mask ${canvas.maskUploadId}, but no mask bytes were given`,
    );
  }
  return { kind: "repaint", mask: maskImage };
}

/**
 * `sourceImage` holds the bytes of the image `request.source` points at, when it is set;
 * `maskImage` those of a repaint's mask upload (`canvas.maskUploadId`), loaded the same way.
 */
export function generateParamsOf(
  request: GenerationRequest,
  sourceImage?: Uint8Array,
  maskImage?: Uint8Array,
): GenerateParams {
  if (request.source && !sourceImage) {
    throw new TypeError(
      `the request refines ${isUploadSource(request.source) ? `upload ${request.source.uploadId}` : `image ${request.source.imageIndex} of job ${request.source.jobId}`}, but no image bytes were given`,
    );
  }
  return {
    prompt: promptWithTriggers(request.prompt, request.loras),
    ...(request.negativePrompt !== undefined ? { negativePrompt: request.negativePrompt } : {}),
    width: request.width,
    height: request.height,
    seed: seedOf(request.seed, "seed"),
    steps: request.steps,
    guidance: request.guidance,
    scheduler: request.scheduler,
    ...(request.spacing ? { spacing: request.spacing } : {}),
    ...(request.prediction ? { prediction: request.prediction } : {}),
    count: request.count,
    ...(request.refiner.enabled ? { refiner: { switchAt: request.refiner.switchAt } } : {}),
    ...(request.variation
      ? {
          variation: {
            subseed: seedOf(request.variation.subseed, "subseed"),
            strength: request.variation.strength,
          },
        }
      : {}),
    ...(request.source && sourceImage
      ? { source: { image: sourceImage, strength: request.source.strength, upscale: request.source.upscale } }
      : {}),
    ...(request.canvas ? { canvas: canvasOf(request.canvas, maskImage) } : {}),
  };
}

/** The 8 bytes that start every PNG: what stands for a stored mask when only the request is checked. */
const PNG_SIGNATURE = new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

/**
 * Throws the InvalidInputError the pipeline would throw for this request, so that a request the
 * device is bound to refuse is never queued. A source image's bytes are checked on the device; a
 * repaint mask's were checked when it was kept (commands/canvas.ts), so a PNG signature stands in.
 */
export function validateRequest(request: GenerationRequest): void {
  const placeholder = request.source ? new Uint8Array(0) : undefined;
  validateGenerateParams(generateParamsOf(request, placeholder, PNG_SIGNATURE));
}
