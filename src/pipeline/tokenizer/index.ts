export {
  CLIP_CONTEXT_LENGTH,
  CLIP_PROMPT_TOKENS,
  ClipTokenizer,
  type ClipTokenizerOptions,
} from "./clip-tokenizer.js";
export {
  EMPHASIS_STEP,
  MAX_EMPHASIS_DEPTH,
  MAX_EMPHASIS_WEIGHT,
  parsePromptWeights,
  type TokenChunk,
  tokenizeWeighted,
  type WeightedText,
} from "./prompt-weights.js";
export type { ClipVocabulary } from "./tokenizer-folder.js";
