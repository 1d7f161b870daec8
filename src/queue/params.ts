/** A stored GenerationRequest (JSON-safe) as the pipeline's GenerateParams (bigint seeds, image bytes). */
import type { GenerationRequest } from "../commands/request.js";
import type { GenerateParams } from "../pipeline/types.js";

/** `sourceImage` holds the bytes of the image `request.source` points at, when it is set. */
export function generateParamsOf(request: GenerationRequest, sourceImage?: Uint8Array): GenerateParams {
  if (request.source && !sourceImage) {
    throw new TypeError(
      `the request refines image ${request.source.imageIndex} of job ${request.source.jobId}, but no image bytes were given`,
    );
  }
  return {
    prompt: request.prompt,
    ...(request.negativePrompt !== undefined ? { negativePrompt: request.negativePrompt } : {}),
    width: request.width,
    height: request.height,
    seed: BigInt(request.seed),
    steps: request.steps,
    guidance: request.guidance,
    scheduler: request.scheduler,
    count: request.count,
    ...(request.refiner.enabled ? { refiner: { switchAt: request.refiner.switchAt } } : {}),
    ...(request.variation
      ? { variation: { subseed: BigInt(request.variation.subseed), strength: request.variation.strength } }
      : {}),
    ...(request.source && sourceImage
      ? { source: { image: sourceImage, strength: request.source.strength, upscale: request.source.upscale } }
      : {}),
  };
}
