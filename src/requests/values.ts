/**
 * The one grammar for values a person types, shared by chat (`/imagine` flags and options) and the
 * command line (`easel generate`, `refine`, `noise`): plain ASCII decimal digits only, so `0x10`,
 * `1e2`, `1_000`, `Infinity`, full-width digits and padded forms such as `" 4"` are refused the
 * same way everywhere. Each function answers undefined for anything else; the caller words the
 * error for its audience.
 */
import type { SchedulerName } from "../pipeline/types.js";
import { LIMITS } from "../pipeline/validate.js";

const INTEGER = /^[+-]?\d+$/;
const DECIMAL = /^[+-]?(\d+(\.\d*)?|\.\d+)$/;
/** More digits than any 64-bit seed needs (20), with room for a few leading zeros. */
const SEED = /^\d{1,25}$/;

/** A whole number in decimal (`12`, `-3`, `+4`), within the safe integer range. */
export function integerValue(text: string): number | undefined {
  if (!INTEGER.test(text)) return undefined;
  const value = Number(text);
  return Number.isSafeInteger(value) ? value : undefined;
}

/** A decimal number (`5`, `7.5`, `.3`): no exponent, hex, NaN or Infinity. */
export function decimalValue(text: string): number | undefined {
  if (!DECIMAL.test(text)) return undefined;
  const value = Number(text);
  return Number.isFinite(value) ? value : undefined;
}

/** A 64-bit unsigned seed, 0..2^64-1, in decimal. */
export function seedValue(text: string): bigint | undefined {
  if (!SEED.test(text)) return undefined;
  const seed = BigInt(text);
  return seed <= LIMITS.maxSeed ? seed : undefined;
}

/** A UTF-16 surrogate without its partner: not a character, and not encodable as UTF-8. */
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;

/**
 * `text` with every lone surrogate replaced by U+FFFD. A person cannot type one; it comes from a
 * client that cut a string inside an emoji. Replacing (rather than refusing) keeps such a request
 * working and changes nothing the model sees, since the tokenizer's clean-up makes the same
 * replacement; and every text easel stores, echoes or sends as JSON or UTF-8 is then well-formed.
 */
export function wellFormed(text: string): string {
  return text.replace(LONE_SURROGATE, "\ufffd");
}

/** Scheduler spellings, compared without case, spaces, `-`/`_`, with `++` read as "pp". */
const SCHEDULER_SPELLINGS = new Map<string, SchedulerName>([
  ["euler", "euler"],
  ["eulera", "euler-a"],
  ["eulerancestral", "euler-a"],
  ["dpmpp2mkarras", "dpmpp-2m-karras"],
  ["dpmpp2mk", "dpmpp-2m-karras"],
  ["ddim", "ddim"],
  ["lcm", "lcm"],
]);

/** One of the pipeline's schedulers: `euler-a`, `Euler A`, `DPM++ 2M Karras`, `dpmpp_2m_karras`, … */
export function schedulerValue(text: string): SchedulerName | undefined {
  const key = text
    .toLowerCase()
    .replaceAll("++", "pp")
    .replace(/[\s_-]+/g, "");
  return SCHEDULER_SPELLINGS.get(key);
}
