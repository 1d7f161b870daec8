export { maxAbsDifference, psnr8, relativeL2 } from "./accuracy.js";
export {
  FLOAT16_MAX_BITS,
  float32BitsToFloat16WeightBits,
  float32ToFloat16Weights,
} from "./float16-weights.js";
export {
  CONVERSION_RECORD,
  type ComponentConversion,
  type ConversionRecord,
  type ConvertFolderOptions,
  convertModelFolder,
} from "./folder.js";
export { convertGraphToFloat16, FLOAT32_OPERATORS, type IoType } from "./graph.js";
export { convertModelFile, EXTERNAL_DATA_FILE } from "./model-file.js";
