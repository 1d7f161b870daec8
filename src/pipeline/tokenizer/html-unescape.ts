/**
 * HTML character references decoded the way Python's `html.unescape` decodes them, which is what
 * OpenAI's CLIP tokenizer applies (twice) to every prompt. It follows the HTML5 rules, including
 * the legacy names that also work without a `;` (`&amp` in `&ampersand` gives `&ersand`, `&copy2024`
 * gives `©2024`), and drops the numeric references HTML5 calls invalid. The named table itself
 * comes from the `entities` package (the same HTML5 list Python ships).
 */
import { decodeHTMLStrict } from "entities";

/** Bytes 0x80..0x9F read as Windows-1252, as browsers do; undefined bytes stay C1 controls. */
// biome-ignore format: one row per eight bytes reads as a table
export const WINDOWS_1252_C1: readonly string[] = [
  "\u20ac", "\x81", "\u201a", "\u0192", "\u201e", "\u2026", "\u2020", "\u2021",
  "\u02c6", "\u2030", "\u0160", "\u2039", "\u0152", "\x8d", "\u017d", "\x8f",
  "\x90", "\u2018", "\u2019", "\u201c", "\u201d", "\u2022", "\u2013", "\u2014",
  "\u02dc", "\u2122", "\u0161", "\u203a", "\u0153", "\x9d", "\u017e", "\u0178",
];

/** The HTML5 named references that are also recognised without a trailing `;`. */
const LEGACY_NAMES = new Set(
  (
    "AElig AMP Aacute Acirc Agrave Aring Atilde Auml COPY Ccedil ETH Eacute Ecirc Egrave Euml GT Iacute " +
    "Icirc Igrave Iuml LT Ntilde Oacute Ocirc Ograve Oslash Otilde Ouml QUOT REG THORN Uacute Ucirc " +
    "Ugrave Uuml Yacute aacute acirc acute aelig agrave amp aring atilde auml brvbar ccedil cedil cent " +
    "copy curren deg divide eacute ecirc egrave eth euml frac12 frac14 frac34 gt iacute icirc iexcl " +
    "igrave iquest iuml laquo lt macr micro middot nbsp not ntilde oacute ocirc ograve ordf ordm oslash " +
    "otilde ouml para plusmn pound quot raquo reg sect shy sup1 sup2 sup3 szlig thorn times uacute ucirc " +
    "ugrave uml uuml yacute yen yuml"
  ).split(" "),
);
const LONGEST_LEGACY_NAME = 6;

/** Code points that HTML5 forbids in numeric references; Python drops them. */
function isDroppedCodePoint(code: number): boolean {
  return (
    (code >= 0x1 && code <= 0x8) ||
    code === 0xb ||
    (code >= 0xe && code <= 0x1f) ||
    (code >= 0x7f && code <= 0x9f) ||
    (code >= 0xfdd0 && code <= 0xfdef) ||
    (code & 0xfffe) === 0xfffe // U+FFFE, U+FFFF, U+1FFFE ... U+10FFFF
  );
}

/** The value of a named reference written with its `;` (e.g. "amp;"), or undefined. */
export function namedReference(nameWithSemicolon: string): string | undefined {
  const written = `&${nameWithSemicolon}`;
  const decoded = decodeHTMLStrict(written);
  return decoded === written ? undefined : decoded;
}

function decodeNumeric(reference: string): string {
  const hex = reference[1] === "x" || reference[1] === "X";
  const digits = reference.slice(hex ? 2 : 1).replace(";", "");
  // Long digit strings overflow to a huge number or Infinity, which falls into the > U+10FFFF branch.
  const code = hex ? Number.parseInt(digits, 16) : Number.parseInt(digits, 10);
  if (code === 0) return "\ufffd";
  if (code === 0x0d) return "\r";
  if (code >= 0x80 && code <= 0x9f) return WINDOWS_1252_C1[code - 0x80]!;
  if ((code >= 0xd800 && code <= 0xdfff) || code > 0x10ffff) return "\ufffd";
  if (isDroppedCodePoint(code)) return "";
  return String.fromCodePoint(code);
}

function decodeNamed(name: string): string {
  if (name.endsWith(";")) {
    const value = namedReference(name);
    if (value !== undefined) return value;
  } else if (LEGACY_NAMES.has(name)) {
    return namedReference(`${name};`)!;
  }
  // The longest legacy name the text starts with; the rest of the text stays as written.
  for (let length = Math.min(name.length - 1, LONGEST_LEGACY_NAME); length >= 2; length--) {
    const prefix = name.slice(0, length);
    if (LEGACY_NAMES.has(prefix)) return namedReference(`${prefix};`)! + name.slice(length);
  }
  return `&${name}`;
}

// Python's pattern; the `u` flag makes {1,32} count code points as Python does.
const CHARACTER_REFERENCE = /&(#[0-9]+;?|#[xX][0-9a-fA-F]+;?|[^\t\n\f <&#;]{1,32};?)/gu;

/** Python's `html.unescape`. */
export function unescapeHtml(text: string): string {
  if (!text.includes("&")) return text;
  return text.replace(CHARACTER_REFERENCE, (_match, reference: string) =>
    reference.startsWith("#") ? decodeNumeric(reference) : decodeNamed(reference),
  );
}
