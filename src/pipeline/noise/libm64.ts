/**
 * Correctly rounded double log, sin and cos for torch's double Box-Muller (float64 randn and the
 * serial path's cached sample). glibc's versions, which the x86-64 Linux wheels call, almost always
 * round correctly (every float64 value of the reference data agrees with correct rounding), while
 * V8's Math.log/sin/cos are one ulp off for a few percent of inputs. Evaluating in double-double
 * (about 106 bits) and rounding once closes that gap. glibc's log1p does misround now and then; the
 * serial path's cached double can then differ by one ulp, which never changes a float32 result.
 *
 * Slower than Math.* (a few hundred flops per call); float32 noise does not use them.
 */

// Double-double values are [hi, lo] pairs carried in locals; results land in these scratch slots.
let outHi = 0;
let outLo = 0;

const SPLITTER = 134217729; // 2^27 + 1

/** hi + lo = a * b exactly (Dekker). */
function twoProd(a: number, b: number): void {
  const p = a * b;
  let t = SPLITTER * a;
  const ah = t - (t - a);
  const al = a - ah;
  t = SPLITTER * b;
  const bh = t - (t - b);
  const bl = b - bh;
  outHi = p;
  outLo = ah * bh - p + ah * bl + al * bh + al * bl;
}

/** hi + lo = a + b exactly (Knuth). */
function twoSum(a: number, b: number): void {
  const s = a + b;
  const bb = s - a;
  outHi = s;
  outLo = a - (s - bb) + (b - bb);
}

function ddMul(ah: number, al: number, bh: number, bl: number): void {
  twoProd(ah, bh);
  const p = outHi;
  const e = outLo + (ah * bl + al * bh);
  const s = p + e;
  outLo = e - (s - p);
  outHi = s;
}

function ddAdd(ah: number, al: number, bh: number, bl: number): void {
  twoSum(ah, bh);
  const s = outHi;
  const e = outLo + al + bl;
  const h = s + e;
  outLo = e - (h - s);
  outHi = h;
}

/** (a / b) to about 104 bits: a quotient, then one correction from the exact residual. */
function ddDiv(ah: number, al: number, bh: number, bl: number): void {
  const q1 = ah / bh;
  ddMul(q1, 0, bh, bl);
  const productLo = outLo;
  twoSum(ah, -outHi);
  const q2 = (outHi + (outLo - productLo + al)) / bh;
  const s = q1 + q2;
  outLo = q2 - (s - q1);
  outHi = s;
}

/** 1/n as double-double. */
function reciprocal(n: number): [number, number] {
  ddDiv(1, 0, n, 0);
  return [outHi, outLo];
}

// atanh series coefficients 1/(2k+1), and 1/n! for the sine and cosine series.
const ATANH_TERMS = 24;
const ATANH_COEF = Array.from({ length: ATANH_TERMS }, (_, k) => reciprocal(2 * k + 1));
const FACTORIAL_TERMS = 30;
const INVERSE_FACTORIAL: [number, number][] = [[1, 0]];
for (let n = 1; n <= FACTORIAL_TERMS; n++) {
  const [h, l] = INVERSE_FACTORIAL[n - 1]!;
  ddDiv(h, l, n, 0);
  INVERSE_FACTORIAL.push([outHi, outLo]);
}

const LN2_HI = Math.LN2; // the double nearest ln 2
const LN2_LO = 2.3190468138462996e-17;
const PIO2_1 = Math.PI / 2; // the double nearest pi/2 (exact halving)
const PIO2_2 = 6.123233995736766e-17;
const PIO2_3 = -1.4973849048591698e-33;

const bits = new Float64Array(1);
const words = new Uint32Array(bits.buffer);

/** Correctly rounded natural log of a positive normal double. */
export function logCorrect(x: number): number {
  if (x === 1) return 0;
  if (!(x >= 2.2250738585072014e-308) || !Number.isFinite(x)) return Math.log(x); // only positive normals here
  // x = m * 2^e with m in [sqrt(1/2), sqrt(2)).
  bits[0] = x;
  let e = ((words[1]! >>> 20) & 0x7ff) - 1023;
  words[1] = (words[1]! & 0x800fffff) | 0x3ff00000;
  let m = bits[0]!;
  if (m > Math.SQRT2) {
    m /= 2;
    e += 1;
  }
  // log(m) = 2 atanh(f), f = (m - 1)/(m + 1); m - 1 is exact.
  twoSum(m, 1);
  ddDiv(m - 1, 0, outHi, outLo);
  const fh = outHi;
  const fl = outLo;
  ddMul(fh, fl, fh, fl);
  const f2h = outHi;
  const f2l = outLo;
  let sh = ATANH_COEF[ATANH_TERMS - 1]![0];
  let sl = ATANH_COEF[ATANH_TERMS - 1]![1];
  for (let k = ATANH_TERMS - 2; k >= 0; k--) {
    ddMul(sh, sl, f2h, f2l);
    ddAdd(outHi, outLo, ATANH_COEF[k]![0], ATANH_COEF[k]![1]);
    sh = outHi;
    sl = outLo;
  }
  ddMul(sh, sl, fh, fl);
  const lh = 2 * outHi;
  const ll = 2 * outLo;
  twoProd(e, LN2_HI);
  const eh = outHi;
  const el = outLo + e * LN2_LO;
  ddAdd(eh, el, lh, ll);
  return outHi + outLo;
}

/** sin and cos of r (double-double, |r| <= pi/4), rounded to double. */
let sinR = 0;
let cosR = 0;
function sinCosReduced(rh: number, rl: number): void {
  ddMul(rh, rl, rh, rl);
  const r2h = outHi;
  const r2l = outLo;
  // sin r = r * sum (-1)^k r^2k / (2k+1)!, cos r = sum (-1)^k r^2k / (2k)!
  const terms = 14;
  let sh = INVERSE_FACTORIAL[2 * terms + 1]![0] * (terms % 2 ? -1 : 1);
  let sl = INVERSE_FACTORIAL[2 * terms + 1]![1] * (terms % 2 ? -1 : 1);
  let ch = INVERSE_FACTORIAL[2 * terms]![0] * (terms % 2 ? -1 : 1);
  let cl = INVERSE_FACTORIAL[2 * terms]![1] * (terms % 2 ? -1 : 1);
  for (let k = terms - 1; k >= 0; k--) {
    const sign = k % 2 ? -1 : 1;
    ddMul(sh, sl, r2h, r2l);
    ddAdd(outHi, outLo, sign * INVERSE_FACTORIAL[2 * k + 1]![0], sign * INVERSE_FACTORIAL[2 * k + 1]![1]);
    sh = outHi;
    sl = outLo;
    ddMul(ch, cl, r2h, r2l);
    ddAdd(outHi, outLo, sign * INVERSE_FACTORIAL[2 * k]![0], sign * INVERSE_FACTORIAL[2 * k]![1]);
    ch = outHi;
    cl = outLo;
  }
  ddMul(sh, sl, rh, rl);
  sinR = outHi + outLo;
  cosR = ch + cl;
}

/** Reduces x by the nearest multiple k of pi/2 (three-part constant); returns k, r in outHi/outLo. */
function reduce(x: number): number {
  const k = Math.round(x / PIO2_1);
  twoProd(k, PIO2_1);
  const ph = outHi;
  const pl = outLo;
  twoSum(x, -ph);
  let rh = outHi;
  let rl = outLo - pl;
  twoProd(k, PIO2_2);
  ddAdd(rh, rl, -outHi, -outLo);
  rh = outHi;
  rl = outLo - k * PIO2_3;
  const s = rh + rl;
  outLo = rl - (s - rh);
  outHi = s;
  return k;
}

/** Correctly rounded sin and cos of x (|x| up to about 2^20). Returns a shared object: read it at once. */
const sinCosResult = { sin: 0, cos: 0 };
export function sinCosCorrect(x: number): typeof sinCosResult {
  const k = reduce(x);
  sinCosReduced(outHi, outLo);
  switch (((k % 4) + 4) % 4) {
    case 0:
      sinCosResult.sin = sinR;
      sinCosResult.cos = cosR;
      break;
    case 1:
      sinCosResult.sin = cosR;
      sinCosResult.cos = -sinR;
      break;
    case 2:
      sinCosResult.sin = -sinR;
      sinCosResult.cos = -cosR;
      break;
    default:
      sinCosResult.sin = -cosR;
      sinCosResult.cos = sinR;
  }
  return sinCosResult;
}
