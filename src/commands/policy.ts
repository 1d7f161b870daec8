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
 * Characters a reader does not see: format characters (zero-width space and joiners, bidi marks,
 * the soft hyphen, the word joiner, tag characters), the other default-ignorable code points
 * (variation selectors, Hangul fillers) and combining marks left over once the text is composed.
 */
const INVISIBLE = /[\p{Cf}\p{Default_Ignorable_Code_Point}\p{Mn}\p{Me}]/gu;
/**
 * Stands for a run of invisible characters (and for the edge between two emphasis segments). The
 * tokenizer's clean-up removes C0 controls from the text, so a cleaned text never holds one.
 */
const SOFT = "\u0001";
const WORD = /\p{L}+|\p{N}+/gu;

/** A word as the text encoder reads it, and what separates it from the next word. */
interface Piece {
  word: string;
  /** `soft`: only invisible characters (or an emphasis edge); `hard`: anything a reader sees. */
  before: "soft" | "hard";
}

/** Compatibility forms folded (mathematical letters, superscripts, ligatures), then case. */
function fold(cleaned: string): string {
  return cleaned.normalize("NFKC").toLowerCase();
}

/** A letter the clean-up leaves as it is and that composes with no mark (CJK U+3400). */
const GUARD = "\u3400";

/**
 * A segment as the tokenizer cleans it, but with a space kept at either edge where the segment
 * has white space there (the clean-up strips the edges): the two guards keep the edges inside.
 */
function cleanKeepingEdges(segment: string): string {
  return cleanPromptText(GUARD + segment + GUARD).slice(1, -1);
}

/**
 * The words of a text's emphasis segments as the tokenizer cleans them, with their separators. A
 * word is a run of letters or of digits, as the tokenizer splits them; `_`, digits and
 * punctuation end a word. Two segments meet at a soft separator unless white space lies between.
 */
function piecesOf(segments: readonly string[]): Piece[] {
  const text = segments
    .map((segment) => fold(cleanKeepingEdges(segment)).replace(INVISIBLE, SOFT))
    .join(SOFT);
  const pieces: Piece[] = [];
  let end = 0;
  for (const match of text.matchAll(WORD)) {
    const gap = text.slice(end, match.index);
    pieces.push({ word: match[0], before: gap !== "" && gap.replaceAll(SOFT, "") === "" ? "soft" : "hard" });
    end = match.index + match[0].length;
  }
  return pieces;
}

/**
 * Whether `needle` starts at `pieces[start]`. An invisible character is read both ways at once:
 * the text encoder reads it as a token of its own, so "red" + U+200B + "panda" holds the words
 * "red panda"; a reader (and the model, from the pieces) sees nothing, so "pan" + U+00AD + "da"
 * holds "panda". Each needle word is therefore the concatenation of pieces joined only by soft
 * separators; which soft separators join and which split is forced by the needle, so no search.
 */
function matchesAt(pieces: readonly Piece[], start: number, needle: readonly string[]): boolean {
  let at = start;
  for (const word of needle) {
    let read = "";
    for (;;) {
      const piece = pieces[at];
      if (piece === undefined || (read !== "" && piece.before !== "soft")) return false;
      read += piece.word;
      at++;
      if (read === word) break;
      if (!word.startsWith(read)) return false;
    }
  }
  return true;
}

function contains(pieces: readonly Piece[], needle: readonly string[]): boolean {
  for (let start = 0; start < pieces.length; start++) if (matchesAt(pieces, start, needle)) return true;
  return false;
}

/**
 * The prompt's readings, each normalised once and in the order the text encoder reads the text:
 * the emphasis syntax comes off first (the encoder tokenizes each weighted segment on its own, so
 * a segment edge is a soft separator), then each segment gets the CLIP tokenizer's clean-up (ftfy
 * repairs, HTML entities decoded twice, whitespace, lower case), and only then are invisible
 * characters read, so that `&shy;` or `&#8203;` counts as the invisible character the clean-up
 * decodes it to. The text as written is read as well: its emphasis may be out of range (refused
 * elsewhere), and its brackets are what a reader sees.
 */
function readingsOf(text: string): Piece[][] {
  const readings = [piecesOf([text])];
  try {
    readings.push(piecesOf(parsePromptWeights(text).map((segment) => segment.text)));
  } catch {
    // Out-of-range emphasis: the request is refused for that elsewhere; the text as written is still searched.
  }
  return readings;
}

/** A blocked term's words, invisible characters removed. */
function wordsOfTerm(term: string): string[] {
  return fold(cleanPromptText(term)).replace(INVISIBLE, "").match(WORD) ?? [];
}

/**
 * The first blocked term that appears in `text` as a whole word (or whole phrase of consecutive
 * words) the way the text encoder reads it, or the way a reader sees it, if any. The whole text is
 * searched, however long.
 */
export function findBlockedTerm(text: string, blockedTerms: readonly string[]): string | undefined {
  const readings = readingsOf(text);
  for (const term of blockedTerms) {
    const needle = wordsOfTerm(term);
    if (needle.length === 0) continue;
    if (readings.some((pieces) => contains(pieces, needle))) return term;
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
