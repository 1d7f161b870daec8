export {
  CLIP_CONTEXT_LENGTH,
  CLIP_PROMPT_TOKENS,
  ClipTokenizer,
  type ClipTokenizerOptions,
} from "./clip-tokenizer.js";
export {
  EMPHASIS_STEP,
  parsePromptWeights,
  type TokenChunk,
  tokenizeWeighted,
  type WeightedText,
} from "./prompt-weights.js";
export type { ClipVocabulary } from "./tokenizer-folder.js";
