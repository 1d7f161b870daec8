/**
 * CLI option values, read with the grammar chat uses (src/requests/values.ts): "12abc", "0x10",
 * "1e2" and " 4" are errors, not numbers. Limits are the pipeline's.
 */

import { InvalidInputError } from "../errors.js";
import { SCHEDULER_NAMES, type SchedulerName } from "../pipeline/types.js";
import { LIMITS } from "../pipeline/validate.js";
import { decimalValue, integerValue, schedulerValue, seedValue } from "../requests/values.js";

export function parseNumber(value: string, label: string): number {
  const number = decimalValue(value);
  if (number === undefined) throw new InvalidInputError(`${label} must be a number; got "${value}".`, label);
  return number;
}

export function parseInteger(value: string, label: string): number {
  const number = integerValue(value);
  if (number === undefined)
    throw new InvalidInputError(`${label} must be a whole number; got "${value}".`, label);
  return number;
}

export function parseSeed(value: string, label = "--seed"): bigint {
  const seed = seedValue(value);
  if (seed === undefined) {
    throw new InvalidInputError(
      `${label} must be a whole number from 0 to ${LIMITS.maxSeed}; got "${value}".`,
      label,
    );
  }
  return seed;
}

/** One of the pipeline's schedulers, spelled as chat accepts it (`euler-a`, `Euler A`, …). */
export function parseSchedulerName(value: string): SchedulerName {
  const known = schedulerValue(value);
  if (known === undefined) {
    throw new InvalidInputError(
      `Unknown scheduler "${value}"; choose one of ${SCHEDULER_NAMES.join(", ")}.`,
      "scheduler",
    );
  }
  return known;
}

/** One of a fixed list of words, as a flag takes it (`--spacing trailing`). */
export function parseChoice<T extends string>(value: string, choices: readonly T[], label: string): T {
  const found = choices.find((choice) => choice === value);
  if (found === undefined) {
    throw new InvalidInputError(`${label} must be ${orList(choices)}; got "${value}".`, label);
  }
  return found;
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
