/**
 * Turns one raw option value (a flag's text, or a structured option's string/number/boolean)
 * into its typed value, or throws InvalidInputError naming the option and what was wrong.
 */
import { InvalidInputError } from "../errors.js";
import { SCHEDULER_NAMES, type SchedulerName } from "../pipeline/types.js";
import { LIMITS } from "../pipeline/validate.js";
import { type AspectBucket, bucketForAspect, type ImageSize, parseImageSize } from "./aspect.js";
import type { ImagineOption } from "./options.js";
import { inputErrors } from "./texts.js";

export type RawValue = string | number | boolean;

function fail(option: ImagineOption, message: string): never {
  throw new InvalidInputError(message, option.name);
}

function checkRange(option: ImagineOption, value: number, raw: RawValue): number {
  const min = option.min ?? Number.NEGATIVE_INFINITY;
  const max = option.max ?? Number.POSITIVE_INFINITY;
  if (value < min || value > max) fail(option, inputErrors.outOfRange(option.label, min, max, raw));
  return value;
}

/** Control characters become spaces, runs of white space one space; Unicode in NFC. */
export function cleanText(text: string): string {
  return text
    .normalize("NFC")
    .replace(/\p{Cc}/gu, " ")
    .replace(/\s+/gu, " ")
    .trim();
}

/** Free text (prompt, negative prompt), cleaned and within the option's length. */
export function readText(option: ImagineOption, raw: RawValue): string {
  const text = cleanText(String(raw));
  const length = Array.from(text).length;
  if (option.maxLength !== undefined && length > option.maxLength) {
    fail(option, inputErrors.tooLong(option.label, length, option.maxLength));
  }
  return text;
}

export function readInteger(option: ImagineOption, raw: RawValue): number {
  let value: number;
  if (typeof raw === "number") value = raw;
  else if (typeof raw === "string" && /^[+-]?\d+$/.test(raw.trim())) value = Number(raw.trim());
  else return fail(option, inputErrors.notWholeNumber(option.label, raw));
  if (!Number.isInteger(value)) fail(option, inputErrors.notWholeNumber(option.label, raw));
  return checkRange(option, value, raw);
}

/** Decimal numbers only: no exponents, hex, NaN or Infinity. */
export function readNumber(option: ImagineOption, raw: RawValue): number {
  let value: number;
  if (typeof raw === "number") value = raw;
  else if (typeof raw === "string" && /^[+-]?(\d+(\.\d*)?|\.\d+)$/.test(raw.trim()))
    value = Number(raw.trim());
  else return fail(option, inputErrors.notNumber(option.label, raw));
  if (!Number.isFinite(value)) fail(option, inputErrors.notNumber(option.label, raw));
  return checkRange(option, value, raw);
}

const BOOLEAN_WORDS = new Map<string, boolean>([
  ["on", true],
  ["true", true],
  ["yes", true],
  ["1", true],
  ["off", false],
  ["false", false],
  ["no", false],
  ["0", false],
]);

export function readBoolean(option: ImagineOption, raw: RawValue): boolean {
  if (typeof raw === "boolean") return raw;
  const value = BOOLEAN_WORDS.get(String(raw).trim().toLowerCase());
  return value ?? fail(option, inputErrors.badBoolean(option.label, raw));
}

/** A 64-bit unsigned seed as a canonical decimal string (no sign, no leading zeros). */
export function readSeed(option: ImagineOption, raw: RawValue): string {
  let seed: bigint | undefined;
  if (typeof raw === "number" && Number.isSafeInteger(raw) && raw >= 0) seed = BigInt(raw);
  if (typeof raw === "string" && /^\d{1,25}$/.test(raw.trim())) seed = BigInt(raw.trim());
  if (seed === undefined || seed > LIMITS.maxSeed) return fail(option, inputErrors.badSeed(raw));
  return seed.toString();
}

export function readAspect(option: ImagineOption, raw: RawValue): AspectBucket {
  return bucketForAspect(String(raw)) ?? fail(option, inputErrors.badAspect(raw));
}

export function readSize(option: ImagineOption, raw: RawValue): ImageSize {
  return (
    parseImageSize(String(raw)) ??
    fail(option, inputErrors.badSize(raw, LIMITS.minSide, LIMITS.maxSide, LIMITS.sideMultiple))
  );
}

/** Scheduler names compared without case, spaces, `-`/`_`, with `++` read as "pp". */
const SCHEDULER_SPELLINGS = new Map<string, SchedulerName>([
  ["euler", "euler"],
  ["eulera", "euler-a"],
  ["eulerancestral", "euler-a"],
  ["dpmpp2mkarras", "dpmpp-2m-karras"],
  ["dpmpp2mk", "dpmpp-2m-karras"],
  ["ddim", "ddim"],
]);

export function readScheduler(option: ImagineOption, raw: RawValue): SchedulerName {
  const key = String(raw)
    .toLowerCase()
    .replaceAll("++", "pp")
    .replace(/[\s_-]+/g, "");
  return (
    SCHEDULER_SPELLINGS.get(key) ?? fail(option, inputErrors.badChoice(option.label, SCHEDULER_NAMES, raw))
  );
}
