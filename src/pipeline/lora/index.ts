/** LoRA files merged into an SDXL model's ONNX weights before its sessions are created. */
export { LoraFileError, LoraMismatchError } from "./errors.js";
export { LoraProductKernel, type LoraTerm } from "./kernel.js";
export type { KeyStyle, LoraComponent, LoraModule, NormalisedLora } from "./keys.js";
export { normaliseLora, sgmToDiffusers } from "./keys.js";
export { addLoraProduct, loraFactor } from "./math.js";
export {
  describeReport,
  type LoraReport,
  type LoraSelection,
  loadLora,
  type MergeResult,
  type ModelComponent,
  mergeLoras,
} from "./merge.js";
export { INLINE_LIMIT_BYTES, type InMemoryModel } from "./rewrite.js";
export { parseSafetensors, readSafetensors, tensorValues } from "./safetensors.js";
export { indexWeightTargets, type ModelTargets, type WeightTarget } from "./targets.js";
