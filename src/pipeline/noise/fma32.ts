/**
 * Float32 fused multiply-add in JavaScript. a*b of float32 operands is exact in double, so
 * Math.fround(a*b + c) is already the single-rounding result unless the double sum sits exactly on
 * a float32 midpoint after discarding a nonzero remainder; the remainder's sign (TwoSum) then picks
 * the side. Also correct for any a*b that is exact in double (e.g. a float32 times a small integer).
 */
const fl = Math.fround;

export function fma32(a: number, b: number, c: number): number {
  const s = a * b + c;
  const r = fl(s);
  const d = s - r;
  // Only a double sum exactly halfway between two floats (r and s + d) can have been rounded wrongly.
  if (d === 0 || fl(s + d) !== s + d) return r;
  return resolveMidpoint(a * b, c, s, r, d);
}

/** s = p + c (rounded) lies on a float32 midpoint: the sign of the discarded remainder picks the side. */
function resolveMidpoint(p: number, c: number, s: number, r: number, d: number): number {
  const other = s + d;
  if (other - s !== d) return r; // s + d was itself rounded, so s was not a midpoint after all
  const bv = s - p;
  const remainder = p - (s - bv) + (c - bv);
  if (remainder === 0) return r;
  return remainder > 0 === d > 0 ? other : r;
}
