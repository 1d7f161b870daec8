/**
 * The text clean-up of OpenAI's CLIP tokenizer, in its order: ftfy's repairs, HTML unescaping
 * twice, whitespace runs collapsed to one space, Unicode lower-casing. Both of SDXL's encoders
 * were trained on text cleaned this way.
 */
import { unescapeHtml } from "./html-unescape.js";
import { fixText } from "./text-fixes.js";

/** Python's `\s` in the `regex` module: the Unicode White_Space characters (JS `\s` differs). */
export const WHITESPACE_CLASS = "\\t-\\r \\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000";

const WHITESPACE_RUN = new RegExp(`[${WHITESPACE_CLASS}]+`, "g");
// Python's str.strip() also strips the information separators U+001C..U+001F.
const EDGE_WHITESPACE = new RegExp(
  `^[${WHITESPACE_CLASS}\\x1c-\\x1f]+|[${WHITESPACE_CLASS}\\x1c-\\x1f]+$`,
  "g",
);

function strip(text: string): string {
  return text.replace(EDGE_WHITESPACE, "");
}

/** The text the pre-tokenizer sees (the `cleaned_text` of the reference cases). */
export function cleanPromptText(text: string): string {
  const unescaped = strip(unescapeHtml(unescapeHtml(fixText(text))));
  // JS toLowerCase and Python's str.lower() both apply Unicode's full lower-casing (final sigma included).
  return strip(unescaped.replace(WHITESPACE_RUN, " ")).toLowerCase();
}
