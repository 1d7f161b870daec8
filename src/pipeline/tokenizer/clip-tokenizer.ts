/**
 * The CLIP tokenizer of both SDXL text encoders, as OpenAI's CLIP and open_clip (which the SDXL
 * authors used) define it: clean the text (clean-text.ts), split it into pre-tokens, BPE each one.
 * The two SDXL folders differ only in the pad token: `tokenizer/` pads with <|endoftext|> (49407),
 * `tokenizer_2/` with "!" (0).
 */
import { BytePairEncoder } from "./byte-level-bpe.js";
import { cleanPromptText, WHITESPACE_CLASS } from "./clean-text.js";
import { type ClipVocabulary, END_OF_TEXT, readTokenizerFolder, START_OF_TEXT } from "./tokenizer-folder.js";

/** Positions the CLIP text encoders take. */
export const CLIP_CONTEXT_LENGTH = 77;
/** Prompt tokens that fit between the start and end tokens. */
export const CLIP_PROMPT_TOKENS = CLIP_CONTEXT_LENGTH - 2;

export interface ClipTokenizerOptions {
  /**
   * Reproduce transformers' `tokenizer_2` quirk, where "!" is a registered special token: every
   * typed "!" becomes id 0 on its own ("!!!" gives [0, 0, 0] instead of [995]). Off by default:
   * OpenAI CLIP / open_clip, and so SDXL's training, read "!" as an ordinary character. Turn it on
   * for bit-parity with diffusers. It applies only to a tokenizer whose pad token is "!" (SDXL's
   * tokenizer_2): transformers registers "!" as a special token there and nowhere else.
   */
  exclamationAsPad?: boolean;
}

/**
 * OpenAI's pre-token pattern: the special tokens, the contractions, a run of letters, ONE number
 * character, or a run of other non-space characters. Python compiles it case-insensitively, hence `i`.
 */
function preTokenPattern(exclamationAsPad: boolean): RegExp {
  const others = exclamationAsPad
    ? `!|[^${WHITESPACE_CLASS}\\p{L}\\p{N}!]+`
    : `[^${WHITESPACE_CLASS}\\p{L}\\p{N}]+`;
  return new RegExp(
    `<\\|startoftext\\|>|<\\|endoftext\\|>|'s|'t|'re|'ve|'m|'ll|'d|\\p{L}+|\\p{N}|${others}`,
    "giu",
  );
}

/**
 * U+0345 (combining ypogegrammeni) case-folds to a letter, so Python's case-insensitive pattern
 * matches it with no alternative and skips it, ending the pre-token around it; a space does the same here.
 */
const SKIPPED_BY_PATTERN = /\u0345/g;

export class ClipTokenizer {
  readonly bosTokenId: number;
  readonly eosTokenId: number;
  /** 49407 (<|endoftext|>) for SDXL's tokenizer/, 0 ("!") for tokenizer_2/. */
  readonly padTokenId: number;
  private readonly exclamationId: number | undefined;
  private readonly bpe: BytePairEncoder;
  private readonly preTokens: RegExp;

  constructor(vocabulary: ClipVocabulary, options: ClipTokenizerOptions = {}) {
    const { vocab, merges, padToken } = vocabulary;
    this.bosTokenId = vocab.get(START_OF_TEXT)!;
    this.eosTokenId = vocab.get(END_OF_TEXT)!;
    this.padTokenId = vocab.get(padToken)!;
    const exclamationAsPad = options.exclamationAsPad === true && padToken === "!";
    this.exclamationId = exclamationAsPad ? vocab.get("!") : undefined;
    this.bpe = new BytePairEncoder(vocab, new Map(merges.map((merge, rank) => [merge, rank])));
    this.preTokens = preTokenPattern(exclamationAsPad);
  }

  /**
   * Loads vocab.json and merges.txt (and the pad token from special_tokens_map.json or
   * tokenizer_config.json) from a diffusers tokenizer folder. Throws ModelFolderError naming the file.
   */
  static async fromFolder(dir: string, options?: ClipTokenizerOptions): Promise<ClipTokenizer> {
    return new ClipTokenizer(await readTokenizerFolder(dir), options);
  }

  /** The prompt's token ids: no start/end tokens, no truncation. */
  encode(text: string): number[] {
    const cleaned = cleanPromptText(text).replace(SKIPPED_BY_PATTERN, " ");
    const ids: number[] = [];
    for (const match of cleaned.matchAll(this.preTokens)) {
      const piece = match[0];
      if (piece === START_OF_TEXT) ids.push(this.bosTokenId);
      else if (piece === END_OF_TEXT) ids.push(this.eosTokenId);
      else if (piece === "!" && this.exclamationId !== undefined) ids.push(this.exclamationId);
      else for (const id of this.bpe.encodeWord(piece)) ids.push(id);
    }
    return ids;
  }

  /**
   * The 77 ids an encoder takes: start token, the first 75 ids, end token, then pad tokens.
   * `truncated` counts the ids that did not fit.
   */
  pack(rawIds: readonly number[]): { ids: Int32Array; truncated: number } {
    const ids = new Int32Array(CLIP_CONTEXT_LENGTH).fill(this.padTokenId);
    const kept = Math.min(rawIds.length, CLIP_PROMPT_TOKENS);
    ids[0] = this.bosTokenId;
    for (let i = 0; i < kept; i++) ids[i + 1] = rawIds[i]!;
    ids[kept + 1] = this.eosTokenId;
    return { ids, truncated: rawIds.length - kept };
  }
}
