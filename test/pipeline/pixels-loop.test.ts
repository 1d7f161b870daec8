import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { decodedValueToByte, vaeOutputToRgb } from "../../src/pipeline/image/pixels.js";

/** Float32 bit patterns: a stride through all 2^32, every subnormal edge, and each byte's boundary. */
function samples(): Float32Array {
  const bits: number[] = [];
  for (let b = 0; b < 2 ** 32; b += 65521) bits.push(b);
  for (const b of [
    0, 1, 2, 0x007fffff, 0x00800000, 0x80000001, 0x807fffff, 0x7f7fffff, 0x7f800000, 0xff800000,
  ])
    bits.push(b);
  const values = new Float32Array(new Uint32Array(bits).buffer);
  const extra: number[] = [];
  for (let k = 0; k <= 255; k++) {
    // Around the value whose x·0.5 + 0.5 scaled by 255 lands on k − 0.5, k and k + 0.5.
    for (const offset of [-0.5, 0, 0.5]) {
      const centre = Math.fround(((k + offset) / 255 - 0.5) * 2);
      const around = new Float32Array([centre]);
      const view = new Uint32Array(around.buffer);
      for (let d = -3; d <= 3; d++) {
        view[0] = (new Uint32Array(new Float32Array([centre]).buffer)[0]! + d) >>> 0;
        extra.push(around[0]!);
      }
    }
  }
  return Float32Array.from([...values, ...extra]);
}

describe("the fused pixel loop", () => {
  it("gives decodedValueToByte's byte for every sampled float32 value, NaN and ±Infinity included", () => {
    const all = samples();
    const plane = Math.floor(all.length / 3);
    const planes = all.subarray(0, 3 * plane);
    const [rgb] = vaeOutputToRgb(planes, 1, 1, plane);
    let differing = 0;
    for (let c = 0; c < 3; c++) {
      for (let i = 0; i < plane; i++) {
        if (rgb![3 * i + c] !== decodedValueToByte(planes[c * plane + i]!)) differing++;
      }
    }
    assert.equal(differing, 0);
  });
});
