/**
 * The text repairs of ftfy's `fix_text` (default settings, version 6.3) that OpenAI's CLIP
 * tokenizer runs before anything else, minus mojibake repair. Implemented: HTML entities ending in
 * `;` (only in lines without `<`, as ftfy's "auto" mode), C1 controls read as Windows-1252, Latin
 * ligatures, fullwidth/halfwidth forms, curly quotes, line breaks, lone surrogates, terminal escapes,
 * control characters and NFC, repeated until the text stops changing, line by line like ftfy.
 *
 * Not implemented: ftfy's detection and repair of mojibake (text that was UTF-8 decoded as
 * Latin-1/Windows-1252, e.g. "cafÃ©"). It rests on a large statistical heuristic; prompts typed in
 * a chat rarely contain it. Such text is tokenized as written.
 */
import { namedReference, unescapeHtml, WINDOWS_1252_C1 } from "./html-unescape.js";

const FTFY_ENTITY = /&#?[0-9A-Za-z]{1,24};/g;

/**
 * ftfy's entity fix: a complete `&name;` from the HTML5 list, its all-caps spelling for names that
 * are lower case (`&EACUTE;` gives "É"), or a numeric reference whose `;` is consumed.
 */
function fixEntity(entity: string): string {
  const name = entity.slice(1);
  if (name.startsWith("#")) {
    const decoded = unescapeHtml(entity);
    return decoded.includes(";") ? entity : decoded;
  }
  const value = namedReference(name);
  if (value !== undefined) return value;
  const lower = name.toLowerCase();
  if (lower !== name && lower.toUpperCase() === name && unescapeHtml(entity) === entity) {
    const lowerValue = namedReference(lower);
    if (lowerValue !== undefined) return lowerValue.toUpperCase();
  }
  return entity;
}

const C1_CONTROL = /[\x80-\x9f]/g;

const LIGATURES: Readonly<Record<string, string>> = {
  "\u0132": "IJ",
  "\u0133": "ij",
  "\u0149": "\u02bcn",
  "\u01f1": "DZ",
  "\u01f2": "Dz",
  "\u01f3": "dz",
  "\u01c4": "D\u017d",
  "\u01c5": "D\u017e",
  "\u01c6": "d\u017e",
  "\u01c7": "LJ",
  "\u01c8": "Lj",
  "\u01c9": "lj",
  "\u01ca": "NJ",
  "\u01cb": "Nj",
  "\u01cc": "nj",
  "\ufb00": "ff",
  "\ufb01": "fi",
  "\ufb02": "fl",
  "\ufb03": "ffi",
  "\ufb04": "ffl",
  "\ufb05": "\u017ft",
  "\ufb06": "st",
};
const LIGATURE = new RegExp(`[${Object.keys(LIGATURES).join("")}]`, "g");

/** The ideographic space and the Halfwidth and Fullwidth Forms block, narrowed by NFKC one by one. */
const WIDE_OR_NARROW = /[\u3000\uff01-\uffef]/g;
function normalWidth(char: string): string {
  return char === "\u3000" ? " " : char.normalize("NFKC");
}

const DOUBLE_CURLY_QUOTE = /[\u201c-\u201f]/g;
const SINGLE_CURLY_QUOTE = /[\u02bc\u2018-\u201b]/g;
const LINE_BREAK = /\r\n|[\r\u2028\u2029\x85]/g;
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;
// biome-ignore lint/suspicious/noControlCharactersInRegex: ANSI escapes start with ESC
const TERMINAL_ESCAPE = /\x1b\[[\p{Nd};]*[a-zA-Z]/gu;
// Control characters nobody means to type; tab, line breaks, joiners and bidi marks stay.
// biome-ignore lint/suspicious/noControlCharactersInRegex: these are the characters being removed
const UNWANTED_CONTROL = /[\x00-\x08\x0b\x0e-\x1f\x7f\u206a-\u206f\ufeff\ufff9-\ufffc]/g;

function fixSegment(text: string, unescapeEntities: boolean): string {
  for (;;) {
    const before = text;
    if (unescapeEntities) text = text.replace(FTFY_ENTITY, fixEntity);
    text = text
      .replace(C1_CONTROL, (c) => WINDOWS_1252_C1[c.charCodeAt(0) - 0x80]!)
      .replace(LIGATURE, (c) => LIGATURES[c]!)
      .replace(WIDE_OR_NARROW, normalWidth)
      .replace(DOUBLE_CURLY_QUOTE, '"')
      .replace(SINGLE_CURLY_QUOTE, "'")
      .replace(LINE_BREAK, "\n")
      .replace(LONE_SURROGATE, "\ufffd")
      .replace(TERMINAL_ESCAPE, "")
      .replace(UNWANTED_CONTROL, "")
      .normalize("NFC");
    if (text === before) return text;
  }
}

/** ftfy's `fix_text` with its default settings, except mojibake repair (see the top of this file). */
export function fixText(text: string): string {
  let unescapeEntities = true;
  let fixed = "";
  let start = 0;
  while (start < text.length) {
    const newline = text.indexOf("\n", start);
    const end = newline === -1 ? text.length : newline + 1;
    const line = text.slice(start, end);
    // ftfy stops decoding entities from the first line that looks like HTML onwards.
    if (unescapeEntities && line.includes("<")) unescapeEntities = false;
    fixed += fixSegment(line, unescapeEntities);
    start = end;
  }
  return fixed;
}
