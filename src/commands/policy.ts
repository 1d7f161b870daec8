/**
 * The content policy from config: prompts with a blocked term are refused everywhere, and a safety
 * negative prompt is added outside channels marked NSFW.
 */
import type { Config } from "../config.js";
import { InvalidInputError } from "../errors.js";
import { inputErrors } from "./texts.js";

export type ContentPolicy = Config["policy"];

/** Lower case, compatibility forms folded (full-width letters), invisible format characters dropped. */
function foldForMatching(text: string): string {
  return text
    .normalize("NFKC")
    .toLowerCase()
    .replace(/\p{Cf}/gu, "")
    .replace(/\s+/gu, " ")
    .trim();
}

const escapeRegExp = (text: string): string => text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

/** The first blocked term that appears in `text` as a whole word (or whole phrase), if any. */
export function findBlockedTerm(text: string, blockedTerms: readonly string[]): string | undefined {
  const folded = foldForMatching(text);
  for (const term of blockedTerms) {
    const needle = foldForMatching(term);
    if (needle.length === 0) continue;
    const pattern = new RegExp(`(?<![\\p{L}\\p{N}_])${escapeRegExp(needle)}(?![\\p{L}\\p{N}_])`, "u");
    if (pattern.test(folded)) return term;
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
