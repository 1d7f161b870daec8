/** Strict parsing of CLI option values: "12abc" is an error, not 12. */
import { InvalidInputError } from "../errors.js";

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
      `${label} must be a whole number from 0 to 18446744073709551615; got "${value}".`,
      label,
    );
  }
  const seed = BigInt(value.trim());
  if (seed >= 1n << 64n) throw new InvalidInputError(`${label} must be at most 18446744073709551615.`, label);
  return seed;
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

export function randomSeed(): bigint {
  const words = new BigUint64Array(1);
  crypto.getRandomValues(words);
  return words[0]!;
}
