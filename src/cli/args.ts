/** Strict parsing of CLI option values: "12abc" is an error, not 12. Limits are the pipeline's. */
import { InvalidInputError } from "../errors.js";
import { SCHEDULER_NAMES, type SchedulerName } from "../pipeline/types.js";
import { LIMITS } from "../pipeline/validate.js";

export function parseNumber(value: string, label: string): number {
  const number = value.trim() === "" ? Number.NaN : Number(value);
  if (!Number.isFinite(number))
    throw new InvalidInputError(`${label} must be a number; got "${value}".`, label);
  return number;
}

export function parseInteger(value: string, label: string): number {
  const number = parseNumber(value, label);
  if (!Number.isInteger(number))
    throw new InvalidInputError(`${label} must be a whole number; got "${value}".`, label);
  return number;
}

export function parseSeed(value: string, label = "--seed"): bigint {
  if (!/^\d+$/.test(value.trim())) {
    throw new InvalidInputError(
      `${label} must be a whole number from 0 to ${LIMITS.maxSeed}; got "${value}".`,
      label,
    );
  }
  const seed = BigInt(value.trim());
  if (seed > LIMITS.maxSeed)
    throw new InvalidInputError(`${label} must be at most ${LIMITS.maxSeed}.`, label);
  return seed;
}

/** One of the pipeline's scheduler names, spelled exactly. */
export function parseSchedulerName(value: string): SchedulerName {
  const known = SCHEDULER_NAMES.find((name) => name === value);
  if (known === undefined) {
    throw new InvalidInputError(
      `Unknown scheduler "${value}"; choose one of ${SCHEDULER_NAMES.join(", ")}.`,
      "scheduler",
    );
  }
  return known;
}

export function parseShape(value: string): number[] {
  const dims = value.split(",").map((d) => parseInteger(d, "--shape"));
  if (dims.length === 0 || dims.some((d) => d < 1)) {
    throw new InvalidInputError(
      `--shape must be positive whole numbers separated by commas; got "${value}".`,
      "--shape",
    );
  }
  return dims;
}

/** "1, 1.5 or 2": a short list of values for help texts and messages. */
export function orList(values: readonly (string | number)[]): string {
  const words = values.map(String);
  return words.length <= 1 ? words.join("") : `${words.slice(0, -1).join(", ")} or ${words.at(-1)}`;
}

export function randomSeed(): bigint {
  const words = new BigUint64Array(1);
  crypto.getRandomValues(words);
  return words[0]!;
}
