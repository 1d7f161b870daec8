/**
 * Seeds of a request. Image i of a batch uses seed + i, and the pipeline refuses a batch whose
 * last seed would pass 2^64 - 1, so the first seed of a batch of `count` has a lower ceiling.
 */
import { LIMITS } from "../pipeline/validate.js";

/** The largest first seed a request for `count` images may use. */
export function maxSeedFor(count: number): bigint {
  return LIMITS.maxSeed - BigInt(Math.max(1, count) - 1);
}

/**
 * A random draw as the first seed for `count` images (decimal string): wrapped into 64 bits,
 * then lowered to the ceiling when it is above it (at most 3 of 2^64 draws are).
 */
export function randomSeedFor(draw: bigint, count: number): string {
  const seed = BigInt.asUintN(64, draw);
  const max = maxSeedFor(count);
  return (seed > max ? max : seed).toString();
}
