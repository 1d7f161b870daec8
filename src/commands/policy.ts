/**
 * The content policy from config: prompts with a blocked term are refused everywhere, and a safety
 * negative prompt is added outside channels marked NSFW.
 */
import type { Config } from "../config.js";
import { InvalidInputError } from "../errors.js";
import { cleanPromptText } from "../pipeline/tokenizer/clean-text.js";
import { parsePromptWeights } from "../pipeline/tokenizer/prompt-weights.js";
import { inputErrors } from "./texts.js";

export type ContentPolicy = Config["policy"];

/**
 * The words the text encoder reads in `text`, once as written and once as the emphasis syntax
 * leaves it: the CLIP tokenizer's clean-up (ftfy repairs, HTML entities, lower case), then letter
 * runs and digit runs. Like the tokenizer, a word ends at `_`, a digit or punctuation, so
 * `nude_woman` and `nude1` hold the word `nude`. Compatibility forms are folded (full-width
 * letters, superscripts); invisible characters and combining marks that did not compose are
 * dropped: they split a word for the tokenizer, but not for a reader, nor for the model.
 */
function readingsOf(text: string): string[][] {
  const visible = text.normalize("NFKC").replace(/[\p{Default_Ignorable_Code_Point}\p{Mn}\p{Me}]/gu, "");
  const texts = [visible];
  try {
    texts.push(
      parsePromptWeights(visible)
        .map((segment) => segment.text)
        .join(""),
    );
  } catch {
    // Out-of-range emphasis: the request is refused for that elsewhere; the raw text is still searched.
  }
  return texts.map((each) => cleanPromptText(each).match(WORD) ?? []);
}

const WORD = /\p{L}+|\p{N}+/gu;

/** Whether `words` holds `needle` as consecutive words. */
function containsRun(words: readonly string[], needle: readonly string[]): boolean {
  outer: for (let i = 0; i + needle.length <= words.length; i++) {
    for (let j = 0; j < needle.length; j++) if (words[i + j] !== needle[j]) continue outer;
    return true;
  }
  return false;
}

/**
 * The first blocked term that appears in `text` as a whole word (or whole phrase of consecutive
 * words) the way the text encoder reads it, if any. The whole text is searched, however long.
 */
export function findBlockedTerm(text: string, blockedTerms: readonly string[]): string | undefined {
  const readings = readingsOf(text);
  for (const term of blockedTerms) {
    const needle = cleanPromptText(term.normalize("NFKC")).match(WORD) ?? [];
    if (needle.length === 0) continue;
    if (readings.some((words) => containsRun(words, needle))) return term;
  }
  return undefined;
}

/** Throws when the prompt contains a blocked term; the message never names the term or the list. */
export function assertPromptAllowed(prompt: string, policy: ContentPolicy): void {
  if (findBlockedTerm(prompt, policy.blockedTerms) !== undefined) {
    throw new InvalidInputError(inputErrors.blockedPrompt(), "prompt");
  }
}

/**
 * The negative prompt to run: the user's, plus the configured safety negative unless the channel is
 * marked NSFW. Undefined when both are empty (the pipeline then uses no negative prompt at all).
 */
export function negativeWithSafety(
  userNegative: string | undefined,
  policy: ContentPolicy,
  nsfwChannel: boolean | undefined,
): string | undefined {
  const parts = [userNegative?.trim() ?? ""];
  if (!nsfwChannel) parts.push(policy.safetyNegative.trim());
  const joined = parts.filter((part) => part.length > 0).join(", ");
  return joined.length > 0 ? joined : undefined;
}
