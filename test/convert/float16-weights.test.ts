/**
 * float32 -> float16 weight rounding against known bit patterns and against an independent
 * reference (exact rounding in double arithmetic, no bit manipulation).
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { float32BitsToFloat16WeightBits } from "../../src/pipeline/convert/index.js";
import { float16BitsToFloat32Bits } from "../../src/pipeline/onnx/float16.js";

const bitsOf = (value: number) => new Uint32Array(Float32Array.of(value).buffer)[0]!;
const half = (value: number) => float32BitsToFloat16WeightBits(bitsOf(value));

/** The float16 value nearest `x` (ties to even), clamped to ±65504, computed with doubles. */
function referenceHalfValue(x: number): number {
  if (Number.isNaN(x) || !Number.isFinite(x)) return x;
  const magnitude = Math.abs(x);
  if (magnitude === 0) return x;
  // The spacing of halves around |x|: 2^(e−10) for |x| in [2^e, 2^(e+1)), 2^-24 below 2^-14.
  let e = -14;
  while (e < 15 && magnitude >= 2 ** (e + 1)) e++;
  const spacing = 2 ** (e - 10);
  const q = magnitude / spacing; // exact: a float32 over a power of two
  const floor = Math.floor(q);
  const rounded = q - floor > 0.5 || (q - floor === 0.5 && floor % 2 === 1) ? floor + 1 : floor;
  const value = Math.min(rounded * spacing, 65504);
  return x < 0 ? -value : value;
}

const halfValue = (bits: number) =>
  new Float32Array(new Uint32Array([float16BitsToFloat32Bits(bits)]).buffer)[0]!;

describe("float16 weights", () => {
  it("gives the known bit patterns", () => {
    const cases: [number, number][] = [
      [1, 0x3c00],
      [-2, 0xc000],
      [0.1, 0x2e66],
      [1 / 3, 0x3555],
      [65504, 0x7bff],
      [2 ** -14, 0x0400], // smallest normal
      [2 ** -24, 0x0001], // smallest subnormal
      [3 * 2 ** -26, 0x0001], // 0.75 of the smallest subnormal rounds up
      [2 ** -25, 0x0000], // a tie between 0 and 2^-24 goes to the even one, 0
      [-(2 ** -26), 0x8000], // the sign of a zero is kept
      [1 + 2 ** -11, 0x3c00], // tie between 1 and 1+2^-10: to the even mantissa (down)
      [1 + 3 * 2 ** -11, 0x3c02], // tie between 1+2^-10 and 1+2^-9: up to the even one
      [65519, 0x7bff], // below the rounding boundary 65520: the largest half
    ];
    for (const [value, bits] of cases) {
      assert.equal(
        half(value),
        bits,
        `${value} -> 0x${half(value).toString(16)}, expected 0x${bits.toString(16)}`,
      );
    }
  });

  it("clamps finite values past 65504 to ±65504 (a hardware cast gives ±Infinity)", () => {
    assert.equal(half(65520), 0x7bff);
    assert.equal(half(1e6), 0x7bff);
    assert.equal(half(-3.4028234663852886e38), 0xfbff); // CLIP's mask fill, float32's lowest
  });

  it("keeps infinities infinite and NaN a NaN", () => {
    assert.equal(half(Number.POSITIVE_INFINITY), 0x7c00);
    assert.equal(half(Number.NEGATIVE_INFINITY), 0xfc00);
    const nan = half(Number.NaN);
    assert.equal(nan & 0x7c00, 0x7c00);
    assert.notEqual(nan & 0x3ff, 0);
  });

  it("matches exact double-precision rounding on 300,000 float32 patterns and every half midpoint", () => {
    // Random bit patterns over the whole float32 range (a fixed-seed xorshift)…
    let state = 0x9e3779b9;
    const next = () => {
      state ^= state << 13;
      state ^= state >>> 17;
      state ^= state << 5;
      return state >>> 0;
    };
    const patterns: number[] = [];
    for (let i = 0; i < 300_000; i++) patterns.push(next());
    // …and every midpoint between neighbouring halves, with its float32 neighbours.
    for (let h = 0; h < 0x7bff; h++) {
      const mid = (halfValue(h) + halfValue(h + 1)) / 2;
      const bits = bitsOf(mid);
      patterns.push(bits - 1, bits, bits + 1, (bits | 0x80000000) >>> 0);
    }
    for (const bits of patterns) {
      const x = new Float32Array(new Uint32Array([bits]).buffer)[0]!;
      if (Number.isNaN(x)) continue;
      const got = halfValue(float32BitsToFloat16WeightBits(bits));
      const want = referenceHalfValue(x);
      if (!Object.is(got, want)) assert.fail(`0x${bits.toString(16)} (${x}): got ${got}, expected ${want}`);
    }
  });
});
