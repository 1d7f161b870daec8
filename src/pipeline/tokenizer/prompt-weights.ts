/**
 * Prompt emphasis and long prompts, in the syntax of the popular Stable Diffusion web UIs.
 *
 *   (word)          weight x1.1; nesting multiplies: ((word)) is x1.21, (((word))) x1.331
 *   [word]          weight /1.1; [[word]] is /1.21
 *   (word:1.3)      explicit weight 1.3 (any decimal, e.g. 0.5, -1, .8); nested inside other
 *                   brackets it is multiplied by theirs: ((word:1.3)) is 1.43
 *   \( \) \[ \]     a literal bracket; \\ is a literal backslash. Any other backslash is kept as written.
 *
 * Bounds (InvalidInputError past them): every explicit weight, and the weight any text ends up
 * with, lies within -MAX_EMPHASIS_WEIGHT..MAX_EMPHASIS_WEIGHT; pairs nest at most
 * MAX_EMPHASIS_DEPTH deep. Far larger weights overflow the encoders' float32 (and float16) values.
 *
 * Brackets that have no partner are ordinary characters, never an error: a smiley ":)", a typo
 * "(oops", a stray "]". A closing bracket pairs with the nearest unpaired opening bracket of its
 * kind; openings of the other kind left in between stay literal. `[word:0.5]` has no explicit
 * weight (only round brackets take one): it is "word:0.5" at /1.1. Prompt editing (`[a:b:0.5]`),
 * alternation and `BREAK` are not interpreted; they reach the tokenizer as typed.
 *
 * Long prompts: the weighted text is tokenized segment by segment and cut into chunks of 75
 * tokens, each wrapped as start token + tokens + end token + padding to 77, so nothing is lost to
 * CLIP's 77-token window. The text encoder encodes the chunks separately and concatenates them.
 */
import { InvalidInputError } from "../../errors.js";
import { CLIP_CONTEXT_LENGTH, CLIP_PROMPT_TOKENS, type ClipTokenizer } from "./clip-tokenizer.js";

export interface WeightedText {
  text: string;
  weight: number;
}

/** Weight of one pair of round brackets (and the divisor of one pair of square brackets). */
export const EMPHASIS_STEP = 1.1;
/** Largest magnitude of an explicit weight, and of the weight any text ends up with. */
export const MAX_EMPHASIS_WEIGHT = 10;
/** Most bracket pairs open at once. */
export const MAX_EMPHASIS_DEPTH = 20;

const field = "prompt";
const RANGE_TEXT = `between -${MAX_EMPHASIS_WEIGHT} and ${MAX_EMPHASIS_WEIGHT}`;

/** A user's number, short enough for a message. */
function shortNumber(text: string): string {
  return text.length > 12 ? `${text.slice(0, 11)}…` : text;
}

type Unit =
  | { kind: "char"; char: string; escaped: boolean }
  | { kind: "open"; bracket: "(" | "["; partner: number }
  | { kind: "close"; bracket: "(" | "["; partner: number };

const ESCAPABLE = new Set(["(", ")", "[", "]", "\\"]);
const EXPLICIT_WEIGHT = /:\s*([+-]?(?:\d+(?:\.\d*)?|\.\d+))\s*$/;

/** Characters and escapes, then brackets paired; unpaired brackets become plain characters. */
function readUnits(prompt: string): Unit[] {
  const units: Unit[] = [];
  const openers: { index: number; bracket: "(" | "[" }[] = [];
  const asText = (opener: { index: number; bracket: string }) => {
    units[opener.index] = { kind: "char", char: opener.bracket, escaped: false };
  };
  const chars = Array.from(prompt);
  for (let i = 0; i < chars.length; i++) {
    const char = chars[i]!;
    if (char === "\\" && i + 1 < chars.length && ESCAPABLE.has(chars[i + 1]!)) {
      units.push({ kind: "char", char: chars[++i]!, escaped: true });
    } else if (char === "(" || char === "[") {
      openers.push({ index: units.length, bracket: char });
      units.push({ kind: "open", bracket: char, partner: -1 });
    } else if (char === ")" || char === "]") {
      const bracket = char === ")" ? "(" : "[";
      const depth = openers.findLastIndex((opener) => opener.bracket === bracket);
      if (depth < 0) {
        units.push({ kind: "char", char, escaped: false });
        continue;
      }
      const [open, ...between] = openers.splice(depth);
      // Openers of the other kind inside the pair can no longer close: they are text.
      between.forEach(asText);
      units[open!.index] = { kind: "open", bracket, partner: units.length };
      units.push({ kind: "close", bracket, partner: open!.index });
    } else {
      units.push({ kind: "char", char, escaped: false });
    }
  }
  openers.forEach(asText);
  return units;
}

/**
 * The explicit weight of the round pair closing at `close`, when its text ends in `:number`;
 * `start` is the index of the `:`.
 */
function explicitWeight(
  units: readonly Unit[],
  close: number,
): { weight: number; written: string; start: number } | undefined {
  let start = close;
  while (start > 0 && units[start - 1]!.kind === "char") start--;
  const tail = units
    .slice(start, close)
    .map((unit) => (unit as { char: string }).char)
    .join("");
  const match = EXPLICIT_WEIGHT.exec(tail);
  if (!match) return undefined;
  const weight = Number.parseFloat(match[1]!);
  // Each unit holds one code point, so the `:` is as many units in as the tail has code points before it.
  return { weight, written: match[1]!, start: start + Array.from(tail.slice(0, match.index)).length };
}

/**
 * Splits a prompt into text segments with weights. A prompt with no emphasis syntax gives exactly
 * one segment `[{ text: prompt, weight: 1 }]` with the text unchanged; neighbours of equal weight
 * are merged and empty segments dropped. Throws InvalidInputError past the bounds above.
 */
export function parsePromptWeights(prompt: string): WeightedText[] {
  const units = readUnits(prompt);
  if (units.every((unit) => unit.kind === "char" && !unit.escaped)) return [{ text: prompt, weight: 1 }];

  // A `:weight` suffix is syntax: its characters are not text.
  const isSyntax = new Array<boolean>(units.length).fill(false);
  const explicitOf = new Map<number, number>();
  units.forEach((unit, open) => {
    if (unit.kind !== "open" || unit.bracket !== "(") return;
    const given = explicitWeight(units, unit.partner);
    if (!given) return;
    if (!(Math.abs(given.weight) <= MAX_EMPHASIS_WEIGHT)) {
      throw new InvalidInputError(
        `The emphasis weight ${shortNumber(given.written)} is out of range: weights must be ${RANGE_TEXT}. ` +
          "Write \\( and \\) for brackets that are text.",
        field,
      );
    }
    explicitOf.set(open, given.weight);
    isSyntax.fill(true, given.start, unit.partner);
  });

  const segments: WeightedText[] = [];
  // Weight = product of explicit weights x 1.1^steps, where steps counts plain round pairs minus square pairs.
  let steps = 0;
  let explicit = 1;
  const outer: { steps: number; explicit: number }[] = [];
  units.forEach((unit, i) => {
    if (unit.kind === "open") {
      if (outer.length === MAX_EMPHASIS_DEPTH) {
        throw new InvalidInputError(
          `Brackets in the prompt nest too deep: emphasis may nest at most ${MAX_EMPHASIS_DEPTH} deep. ` +
            "Write \\( \\) \\[ \\] for brackets that are text.",
          field,
        );
      }
      outer.push({ steps, explicit });
      const given = explicitOf.get(i);
      if (unit.bracket === "[") steps--;
      else if (given === undefined) steps++;
      else explicit *= given;
    } else if (unit.kind === "close") {
      ({ steps, explicit } = outer.pop()!);
    } else if (!isSyntax[i]) {
      const weight = explicit * EMPHASIS_STEP ** steps;
      if (!(Math.abs(weight) <= MAX_EMPHASIS_WEIGHT)) {
        throw new InvalidInputError(
          `Nested emphasis multiplies to a weight of ${shortNumber(String(Number(weight.toPrecision(4))))}: ` +
            `the weight of any text must be ${RANGE_TEXT}.`,
          field,
        );
      }
      const last = segments.at(-1);
      if (last && last.weight === weight) last.text += unit.char;
      else segments.push({ text: unit.char, weight });
    }
  });
  return segments;
}

export interface TokenChunk {
  /** 77 ids: start token, up to 75 prompt tokens, end token, padding. */
  ids: Int32Array;
  /** 77 weights, 1 at the start, end and pad positions. */
  weights: Float32Array;
}

function chunkOf(tokenizer: ClipTokenizer, ids: readonly number[], weights: readonly number[]): TokenChunk {
  const { ids: packed } = tokenizer.pack(ids);
  const chunkWeights = new Float32Array(CLIP_CONTEXT_LENGTH).fill(1);
  chunkWeights.set(weights, 1);
  return { ids: packed, weights: chunkWeights };
}

/**
 * Tokenizes a prompt with its weights and cuts it into chunks of 75 tokens, each wrapped as start
 * token + tokens + end token + padding to 77. A plain prompt (no emphasis) of up to 75 tokens gives
 * one chunk equal to `tokenizer.pack(tokenizer.encode(prompt))` with all weights 1. `minChunks`
 * pads with empty chunks (start, end, padding), e.g. to give a negative prompt the prompt's count.
 * `weighted` tells whether any token's weight differs from 1.
 */
export function tokenizeWeighted(
  tokenizer: ClipTokenizer,
  prompt: string,
  minChunks = 1,
): { chunks: TokenChunk[]; weighted: boolean } {
  const ids: number[] = [];
  const weights: number[] = [];
  for (const segment of parsePromptWeights(prompt)) {
    for (const id of tokenizer.encode(segment.text)) {
      ids.push(id);
      weights.push(segment.weight);
    }
  }
  const count = Math.max(1, Math.ceil(ids.length / CLIP_PROMPT_TOKENS), minChunks);
  const chunks: TokenChunk[] = [];
  for (let c = 0; c < count; c++) {
    const from = c * CLIP_PROMPT_TOKENS;
    const to = from + CLIP_PROMPT_TOKENS;
    chunks.push(chunkOf(tokenizer, ids.slice(from, to), weights.slice(from, to)));
  }
  return { chunks, weighted: weights.some((weight) => weight !== 1) };
}
