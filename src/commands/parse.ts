/**
 * Splits `/imagine` text into the prompt and its flags, Midjourney-style:
 * `a lighthouse at dusk --ar 16:9 --seed 7 --no fog --refiner`.
 *
 * Rules:
 * - A flag is a word that starts with `--` (or the `—`/`–` that phones and macOS autocorrect
 *   `--` into) followed by a letter; flag names are case-insensitive. Flags may appear anywhere.
 * - A value follows the flag after a space or `=`. A value may be quoted with "…", '…', “…” or
 *   ‘…’; quotes matter only in values: the prompt keeps them as typed.
 * - An unquoted value is one word, except for free-text flags (`--no`), whose value runs to the
 *   next flag or the end, so `--no fog, rain` means "fog, rain".
 * - Switches (`--refiner`, `--no-refiner`) take no value, but a following on/off/true/false/yes/no
 *   (or `=off`) is read as theirs.
 * Everything that is not a flag or a value is the prompt. Values are not validated here.
 */
import { InvalidInputError } from "../errors.js";
import { wellFormed } from "../requests/values.js";
import type { FlagMeaning } from "./options.js";
import { inputErrors } from "./texts.js";

export interface FlagUse {
  /** The flag as written for messages: `--` plus the lower-cased name. */
  flag: string;
  meaning: FlagMeaning;
  /** Raw value; undefined for a switch written without one. */
  value?: string;
  /** Whether the value was quoted. */
  quoted: boolean;
}

export interface FlagText {
  /** The text outside flags, pieces joined by single spaces. */
  prompt: string;
  flags: FlagUse[];
}

const FLAG_START = /(?:--|[—–])(?=\p{L})/uy;
const SWITCH_WORDS = new Set(["on", "off", "true", "false", "yes", "no"]);
const QUOTE_CLOSERS = new Map<string, readonly string[]>([
  ['"', ['"', "”"]],
  ["“", ["”", '"', "“"]],
  ["'", ["'", "’"]],
  ["‘", ["’", "'"]],
]);

const isSpace = (char: string | undefined): boolean => char !== undefined && /\s/u.test(char);

/** Length of the flag marker (`--`, `—`, `–`) starting a word at `pos`, or 0 if none does. */
function flagMarkerAt(text: string, pos: number): number {
  if (pos > 0 && !isSpace(text[pos - 1])) return 0;
  FLAG_START.lastIndex = pos;
  return FLAG_START.test(text) ? FLAG_START.lastIndex - pos : 0;
}

function skipSpaces(text: string, pos: number): number {
  while (pos < text.length && isSpace(text[pos])) pos++;
  return pos;
}

function wordEnd(text: string, pos: number): number {
  while (pos < text.length && !isSpace(text[pos])) pos++;
  return pos;
}

/** Where the next flag word starts at or after `pos`, or the text's end. */
function nextFlagStart(text: string, pos: number): number {
  for (let i = pos; i < text.length; i++) if (flagMarkerAt(text, i) > 0) return i;
  return text.length;
}

/** Optimal-string-alignment distance: edits, counting a swap of neighbours as one. */
export function editDistance(a: string, b: string): number {
  const rows = Array.from({ length: a.length + 1 }, (_, i) => [i, ...new Array<number>(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) rows[0]![j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let best = Math.min(rows[i - 1]![j]! + 1, rows[i]![j - 1]! + 1, rows[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) {
        best = Math.min(best, rows[i - 2]![j - 2]! + 1);
      }
      rows[i]![j] = best;
    }
  }
  return rows[a.length]![b.length]!;
}

/** A likely meant flag for an unknown name: `--ar16:9` → `--ar 16:9`, `--stpes` → `--steps`. */
export function suggestFlag(name: string, flags: ReadonlyMap<string, FlagMeaning>): string | undefined {
  let glued: string | undefined;
  for (const [known, meaning] of flags) {
    const rest = name.slice(known.length);
    if (meaning.sets === undefined && name.startsWith(known) && /^[-\d]/.test(rest)) {
      if (!glued || known.length > glued.length) glued = known;
    }
  }
  if (glued) return `--${glued} ${name.slice(glued.length).replace(/^-/, "")}`;
  let best: string | undefined;
  let bestDistance = Number.POSITIVE_INFINITY;
  for (const known of flags.keys()) {
    const distance = editDistance(name, known);
    if (distance < bestDistance) {
      best = known;
      bestDistance = distance;
    }
  }
  return best !== undefined && bestDistance <= 2 && bestDistance * 2 <= name.length ? `--${best}` : undefined;
}

interface ValueRead {
  value: string;
  quoted: boolean;
  end: number;
}

/** Reads a quoted value whose opening quote is at `pos`, if one is. */
function readQuoted(text: string, pos: number, flag: string): ValueRead | undefined {
  const closers = QUOTE_CLOSERS.get(text[pos]!);
  if (!closers) return undefined;
  for (let i = pos + 1; i < text.length; i++) {
    if (closers.includes(text[i]!)) return { value: text.slice(pos + 1, i), quoted: true, end: i + 1 };
  }
  throw new InvalidInputError(inputErrors.unclosedQuote(flag), flag);
}

function readUnquoted(text: string, start: number, freeText: boolean): ValueRead {
  const end = freeText ? nextFlagStart(text, start) : wordEnd(text, start);
  return { value: text.slice(start, end).trim(), quoted: false, end };
}

/**
 * Splits `given` into prompt and flags; throws InvalidInputError for unknown flags and missing
 * values. Lone surrogates become U+FFFD first, so no part of the text (a flag name in an error
 * included) carries one on.
 */
export function parseFlagText(given: string, flags: ReadonlyMap<string, FlagMeaning>): FlagText {
  const text = wellFormed(given);
  const promptParts: string[] = [];
  const uses: FlagUse[] = [];
  let pos = skipSpaces(text, 0);
  while (pos < text.length) {
    const marker = flagMarkerAt(text, pos);
    if (marker === 0) {
      const end = wordEnd(text, pos);
      promptParts.push(text.slice(pos, end));
      pos = skipSpaces(text, end);
      continue;
    }
    const wordStop = wordEnd(text, pos);
    const equals = text.indexOf("=", pos);
    const nameEnd = equals >= 0 && equals < wordStop ? equals : wordStop;
    const name = text.slice(pos + marker, nameEnd).toLowerCase();
    const flag = `--${name}`;
    const meaning = flags.get(name);
    if (!meaning) throw new InvalidInputError(inputErrors.unknownFlag(flag, suggestFlag(name, flags)), flag);
    const inline = nameEnd === equals;
    pos = inline ? nameEnd + 1 : nameEnd;

    if (meaning.sets !== undefined) {
      if (inline) {
        const end = wordEnd(text, pos);
        uses.push({ flag, meaning, value: text.slice(pos, end), quoted: false });
        pos = skipSpaces(text, end);
        continue;
      }
      const next = skipSpaces(text, pos);
      const nextEnd = wordEnd(text, next);
      const word = text.slice(next, nextEnd);
      if (SWITCH_WORDS.has(word.toLowerCase())) {
        uses.push({ flag, meaning, value: word, quoted: false });
        pos = skipSpaces(text, nextEnd);
      } else {
        uses.push({ flag, meaning, quoted: false });
        pos = next;
      }
      continue;
    }

    const start = inline ? pos : skipSpaces(text, pos);
    if (start >= text.length || isSpace(text[start]) || flagMarkerAt(text, start) > 0) {
      throw new InvalidInputError(inputErrors.missingValue(flag, meaning.option.example), flag);
    }
    const read = readQuoted(text, start, flag) ?? readUnquoted(text, start, meaning.option.freeText === true);
    uses.push({ flag, meaning, value: read.value, quoted: read.quoted });
    pos = skipSpaces(text, read.end);
  }
  return { prompt: promptParts.join(" "), flags: uses };
}
