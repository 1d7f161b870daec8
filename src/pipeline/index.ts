/** The SDXL pipeline's public surface: load once per device, then generate. */
import { type PipelineOptions, SdxlPipeline } from "./sdxl-pipeline.js";

export { type PipelineOptions, SdxlPipeline } from "./sdxl-pipeline.js";
export * from "./types.js";
export { LIMITS, validateGenerateParams } from "./validate.js";

export function loadPipeline(options: PipelineOptions): Promise<SdxlPipeline> {
  return SdxlPipeline.load(options);
}
