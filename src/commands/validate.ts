/**
 * Turns one raw option value (a flag's text, or a structured option's string/number/boolean)
 * into its typed value, or throws InvalidInputError naming the option and what was wrong.
 */
import { InvalidInputError } from "../errors.js";
import { SCHEDULER_NAMES, type SchedulerName } from "../pipeline/types.js";
import { LIMITS } from "../pipeline/validate.js";
import { type CatalogueLora, LORA_SCALE_RANGE, loraNamed, type RequestLora } from "../requests/loras.js";
import { decimalValue, integerValue, schedulerValue, seedValue, wellFormed } from "../requests/values.js";
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

/**
 * Control characters become spaces, runs of white space one space; Unicode in NFC; a lone
 * surrogate becomes U+FFFD (values.ts `wellFormed`).
 */
export function cleanText(text: string): string {
  return wellFormed(text)
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
  const value = typeof raw === "number" ? raw : typeof raw === "string" ? integerValue(raw) : undefined;
  if (value === undefined || !Number.isSafeInteger(value))
    return fail(option, inputErrors.notWholeNumber(option.label, raw));
  return checkRange(option, value, raw);
}

/** Decimal numbers only (src/requests/values.ts): no exponents, hex, NaN or Infinity. */
export function readNumber(option: ImagineOption, raw: RawValue): number {
  const value = typeof raw === "number" ? raw : typeof raw === "string" ? decimalValue(raw) : undefined;
  if (value === undefined || !Number.isFinite(value))
    return fail(option, inputErrors.notNumber(option.label, raw));
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
  const seed =
    typeof raw === "number"
      ? Number.isSafeInteger(raw) && raw >= 0
        ? BigInt(raw)
        : undefined
      : typeof raw === "string"
        ? seedValue(raw)
        : undefined;
  if (seed === undefined) return fail(option, inputErrors.badSeed(raw));
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

/** Scheduler names as values.ts reads them (case, spaces, `-`/`_` and `++` spellings). */
export function readScheduler(option: ImagineOption, raw: RawValue): SchedulerName {
  return (
    schedulerValue(String(raw)) ?? fail(option, inputErrors.badChoice(option.label, SCHEDULER_NAMES, raw))
  );
}

/** A model's catalogue name, in any case, from the option's choices. */
export function readModel(option: ImagineOption, raw: RawValue): string {
  const names = (option.choices ?? []).map((choice) => choice.value);
  const wanted = String(raw).trim().toLowerCase();
  return (
    names.find((name) => name.toLowerCase() === wanted) ??
    fail(option, inputErrors.badChoice(option.label, names, raw))
  );
}

/** `NAME` or `NAME:SCALE`, several separated by commas or spaces (`ink:0.8, clay`). */
function loraParts(raw: RawValue): string[] {
  return cleanText(String(raw))
    .split(/[,\s]+/u)
    .filter((part) => part.length > 0);
}

function readLora(option: ImagineOption, part: string, loras: readonly CatalogueLora[]): RequestLora {
  const colon = part.lastIndexOf(":");
  const name = colon < 0 ? part : part.slice(0, colon);
  const lora = loraNamed(loras, name);
  if (!lora) {
    return fail(
      option,
      inputErrors.unknownLora(
        name,
        loras.map((entry) => entry.name),
      ),
    );
  }
  let scale = lora.scale;
  if (colon >= 0) {
    const text = part.slice(colon + 1);
    const value = decimalValue(text);
    if (value === undefined || value < LORA_SCALE_RANGE.min || value > LORA_SCALE_RANGE.max) {
      return fail(
        option,
        inputErrors.badLoraScale(lora.name, text, LORA_SCALE_RANGE.min, LORA_SCALE_RANGE.max),
      );
    }
    scale = value;
  }
  return { name: lora.name, scale, ...(lora.trigger ? { trigger: lora.trigger } : {}) };
}

/**
 * The LoRAs a request asked for (each raw value holds one or more `NAME[:SCALE]`): known names,
 * scales within range, each once, at most EASEL_MAX_LORAS, and each suiting `model`.
 */
export function readLoras(
  option: ImagineOption,
  raws: readonly RawValue[],
  config: { loras: readonly CatalogueLora[]; maxLoras: number },
  model: string,
): RequestLora[] {
  const parts = raws.flatMap(loraParts);
  if (raws.length > 0 && parts.length === 0) fail(option, inputErrors.missingValue("--lora", option.example));
  if (parts.length > config.maxLoras) fail(option, inputErrors.tooManyLoras(parts.length, config.maxLoras));
  const chosen: RequestLora[] = [];
  for (const part of parts) {
    const lora = readLora(option, part, config.loras);
    if (chosen.some((entry) => entry.name === lora.name)) fail(option, inputErrors.loraTwice(lora.name));
    const suits = loraNamed(config.loras, lora.name)?.models;
    if (suits && !suits.some((name) => name.toLowerCase() === model.toLowerCase())) {
      fail(option, inputErrors.loraNotForModel(lora.name, model, suits));
    }
    chosen.push(lora);
  }
  return chosen;
}
