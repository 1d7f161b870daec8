/**
 * The 16-value Box-Muller blocks of torch's CPU normal_fill.
 *
 * float32 follows normal_fill_16_AVX2 as the x86-64 Linux wheels run it: the Cephes-style float32
 * log and sincos polynomials of aten's avx_mathfun.h, with the multiply-adds GCC fuses into FMAs
 * evaluated with a single rounding. Every other operation is one float32 rounding (Math.fround);
 * float32 +, -, *, sqrt done in double and rounded once are exact, since double carries more than
 * twice float32's precision.
 *
 * float64 is the portable normal_fill_16 with glibc's double log/cos/sin, which round correctly
 * (see libm64.ts).
 */

const bits = new Uint32Array(1);
const bitsAsFloat = new Float32Array(bits.buffer);

function floatFromBits(pattern: number): number {
  bits[0] = pattern;
  return bitsAsFloat[0]!;
}

import { fma32 } from "./fma32.js";
import { logCorrect, sinCosCorrect } from "./libm64.js";

const fl = Math.fround;

const TWO_PI = floatFromBits(0x40c90fdb);
const SQRTHF = floatFromBits(0x3f3504f3);
const LOG_P0 = floatFromBits(0x3d9021bb);
const LOG_P1 = floatFromBits(0xbdebd1b8);
const LOG_P2 = floatFromBits(0x3def251a);
const LOG_P3 = floatFromBits(0xbdfe5d4f);
const LOG_P4 = floatFromBits(0x3e11e9bf);
const LOG_P5 = floatFromBits(0xbe2aae50);
const LOG_P6 = floatFromBits(0x3e4cceac);
const LOG_P7 = floatFromBits(0xbe7ffffc);
const LOG_P8 = floatFromBits(0x3eaaaaaa);
const LOG_Q1 = floatFromBits(0xb95e8083);
const LOG_Q2 = floatFromBits(0x3f318000);
const FOPI = floatFromBits(0x3fa2f983);
const DP1 = floatFromBits(0xbf490000);
const DP2 = floatFromBits(0xb97da000);
const DP3 = floatFromBits(0xb3222169);
const COS_C0 = floatFromBits(0x37ccf5ce);
const COS_C1 = floatFromBits(0xbab6061a);
const COS_C2 = floatFromBits(0x3d2aaaa5);
const SIN_S0 = floatFromBits(0xb94ca1f9);
const SIN_S1 = floatFromBits(0x3c08839e);
const SIN_S2 = floatFromBits(0xbe2aaaa3);

/** avx_mathfun's log256_ps for one positive normal float32 lane, with GCC's FMA contractions. */
export function logAvx2(x: number): number {
  bitsAsFloat[0] = x;
  const pattern = bits[0]!;
  let e = (pattern >>> 23) - 127 + 1;
  const m = floatFromBits(((pattern & 0x807fffff) | 0x3f000000) >>> 0);
  let t: number;
  if (m < SQRTHF) {
    e -= 1;
    t = fl(fl(m - 1) + m);
  } else {
    t = fl(m - 1);
  }
  const z = fl(t * t);
  let y = LOG_P0;
  y = fma32(y, t, LOG_P1);
  y = fma32(y, t, LOG_P2);
  y = fma32(y, t, LOG_P3);
  y = fma32(y, t, LOG_P4);
  y = fma32(y, t, LOG_P5);
  y = fma32(y, t, LOG_P6);
  y = fma32(y, t, LOG_P7);
  y = fma32(y, t, LOG_P8);
  y = fl(y * t);
  y = fma32(y, z, fl(e * LOG_Q1));
  y = fl(y - fl(z * 0.5));
  const r = fl(t + y);
  return fl(r + e * LOG_Q2);
}

/**
 * Transforms data[k..k+15] (float32 uniforms) into normals in place, as normal_fill_16_AVX2:
 * element j (radius from 1 - u) pairs with j + 8 (angle); cosines land in the first half.
 */
export function boxMullerBlockAvx2(data: Float32Array, k: number): void {
  for (let j = k; j < k + 8; j++) {
    const u1 = fl(1 - data[j]!);
    const u2 = data[j + 8]!;
    const radius = fl(Math.sqrt(fl(-2 * logAvx2(u1))));
    let x = fl(TWO_PI * u2);

    // sincos256_ps, x in [0, 2*pi)
    let q = Math.trunc(fl(x * FOPI));
    q = (q + 1) & ~1;
    const qf = q;
    const swapSin = (q & 4) !== 0;
    const polySelect = (q & 2) === 0;
    const negateCos = (~(q - 2) & 4) !== 0;
    x = fma32(qf, DP1, x);
    x = fma32(qf, DP2, x);
    x = fma32(qf, DP3, x);
    const z = fl(x * x);
    let c = fma32(COS_C0, z, COS_C1);
    c = fma32(c, z, COS_C2);
    c = fl(c * z);
    c = fma32(c, z, -fl(z * 0.5));
    c = fl(c + 1);
    let s = fma32(SIN_S0, z, SIN_S1);
    s = fma32(s, z, SIN_S2);
    s = fl(s * z);
    s = fma32(s, x, x);
    let sin = polySelect ? s : c;
    let cos = polySelect ? c : s;
    if (swapSin) sin = -sin;
    if (negateCos) cos = -cos;

    data[j] = radius * cos;
    data[j + 8] = radius * sin;
  }
}

/** normal_fill_16 for float64: double log/cos/sin, theta = 2*pi*u2 in double. */
export function boxMullerBlockFloat64(data: Float64Array, k: number): void {
  for (let j = k; j < k + 8; j++) {
    const u1 = 1 - data[j]!;
    const u2 = data[j + 8]!;
    const radius = Math.sqrt(-2 * logCorrect(u1));
    const { sin, cos } = sinCosCorrect(2 * Math.PI * u2);
    data[j] = radius * cos;
    data[j + 8] = radius * sin;
  }
}
