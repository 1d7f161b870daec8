import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { describe, it } from "node:test";
import { InvalidInputError } from "../../src/errors.js";
import { fma32, Mt19937, slerpNoise, TorchGenerator } from "../../src/pipeline/noise/index.js";
import { logCorrect, sinCosCorrect } from "../../src/pipeline/noise/libm64.js";

interface RandnCall {
  op: "randn" | "rand";
  shape: number[];
  dtype: "float32" | "float64";
  numel: number;
  path: "normal_fill" | "serial" | "uniform";
  words_before: number;
  words_after: number;
  cache_after: number | null;
  head: number[];
  tail: number[];
  sum: number;
  sumsq: number;
  sha256: string;
  values?: number[];
  data_b64?: string;
}
interface RandnCase {
  id: string;
  seed: string;
  seed_low32: number;
  calls: RandnCall[];
}
interface EngineRow {
  seed: string;
  first_words_u32: number[];
  first_float_uniforms: number[];
  first_double_uniforms: number[];
}

const reference = JSON.parse(
  readFileSync(new URL("../fixtures/reference/randn.json", import.meta.url), "utf8"),
) as {
  cases: RandnCase[];
  engine: EngineRow[];
};

const sha256 = (values: Float32Array | Float64Array) =>
  createHash("sha256")
    .update(new Uint8Array(values.buffer, values.byteOffset, values.byteLength))
    .digest("hex");

function draw(generator: TorchGenerator, call: RandnCall): Float32Array | Float64Array {
  if (call.op === "randn")
    return call.dtype === "float32" ? generator.randn(call.shape) : generator.randnFloat64(call.shape);
  return call.dtype === "float32" ? generator.rand(call.shape) : generator.randFloat64(call.shape);
}

/** Distance in units of the float64 spacing near `expected` (0 = identical). */
function ulps64(actual: number, expected: number): number {
  if (actual === expected) return 0;
  return Math.abs(actual - expected) / (Math.abs(expected) * Number.EPSILON);
}

describe("TorchGenerator against PyTorch's CPU generator (randn.json)", () => {
  for (const testCase of reference.cases) {
    it(`${testCase.id}: ${testCase.calls.map((c) => `${c.op}${JSON.stringify(c.shape)} ${c.dtype}`).join(", ")}`, () => {
      const generator = new TorchGenerator(BigInt(testCase.seed));
      for (const [index, call] of testCase.calls.entries()) {
        const where = `${testCase.id} call ${index}`;
        assert.equal(generator.wordsConsumed, call.words_before, `${where}: words before`);
        const values = draw(generator, call);
        assert.equal(values.length, call.numel, `${where}: numel`);
        assert.equal(generator.wordsConsumed, call.words_after, `${where}: words after`);

        // The cached sample is a double. glibc's log1p misrounds a few inputs by one ulp where we
        // round correctly; that never reaches a float32 value, so the cache alone gets one ulp.
        const cache = generator.cachedNormalSample;
        if (call.cache_after === null) assert.equal(cache, null, `${where}: cache`);
        else
          assert.ok(
            cache !== null && ulps64(cache, call.cache_after) <= 1,
            `${where}: cache ${cache} vs ${call.cache_after}`,
          );

        assert.equal(sha256(values), call.sha256, `${where}: sha256`);
        if (call.values) assert.deepEqual(Array.from(values), call.values, `${where}: values`);
        if (call.data_b64)
          assert.equal(Buffer.from(values.buffer).toString("base64"), call.data_b64, `${where}: data`);
        const n = values.length;
        assert.deepEqual(Array.from(values.subarray(0, call.head.length)), call.head, `${where}: head`);
        assert.deepEqual(Array.from(values.subarray(n - call.tail.length)), call.tail, `${where}: tail`);
        let sum = 0;
        let sumsq = 0;
        for (const v of values) {
          sum += v;
          sumsq += v * v;
        }
        assert.ok(Math.abs(sum - call.sum) <= 1e-8, `${where}: sum ${sum} vs ${call.sum}`);
        assert.ok(Math.abs(sumsq - call.sumsq) <= 1e-8, `${where}: sumsq ${sumsq} vs ${call.sumsq}`);
      }
    });
  }
});

describe("mt19937 engine", () => {
  for (const row of reference.engine) {
    it(`seed ${row.seed}: first words and uniforms`, () => {
      const engine = new Mt19937(Number(BigInt.asUintN(32, BigInt(row.seed))));
      assert.deepEqual(
        Array.from({ length: row.first_words_u32.length }, () => engine.nextU32()),
        row.first_words_u32,
      );
      const generator = new TorchGenerator(BigInt(row.seed));
      assert.deepEqual(
        Array.from(generator.rand([row.first_float_uniforms.length])),
        row.first_float_uniforms,
      );
      const doubles = new TorchGenerator(BigInt(row.seed)).randFloat64([row.first_double_uniforms.length]);
      assert.deepEqual(Array.from(doubles), row.first_double_uniforms);
    });
  }
});

describe("stream continuation", () => {
  it("two [1,4,64,64] draws equal one [2,4,64,64] draw (multiples of 16 continue seamlessly)", () => {
    const batch = new TorchGenerator(0n).randn([2, 4, 64, 64]);
    const generator = new TorchGenerator(0n);
    const first = generator.randn([1, 4, 64, 64]);
    const second = generator.randn([1, 4, 64, 64]);
    assert.deepEqual(first, batch.subarray(0, 16384));
    assert.deepEqual(second, batch.subarray(16384));
  });

  it("a serial draw leaves a cached sample that normal_fill ignores and the next serial draw returns", () => {
    const generator = new TorchGenerator(1234n);
    generator.randn([5]);
    const cached = generator.cachedNormalSample;
    assert.notEqual(cached, null);
    const words = generator.wordsConsumed;
    generator.randn([16]);
    assert.equal(generator.cachedNormalSample, cached);
    assert.equal(generator.wordsConsumed, words + 16);
    const [value] = generator.randn([1]);
    assert.equal(value, Math.fround(cached!));
    assert.equal(generator.cachedNormalSample, null);
    assert.equal(generator.wordsConsumed, words + 16);
  });

  it("numel 17 shares only element 0 with numel 16 (the tail is redrawn and recomputed)", () => {
    const sixteen = new TorchGenerator(42n).randn([16]);
    const generator = new TorchGenerator(42n);
    const seventeen = generator.randn([17]);
    assert.equal(seventeen[0], sixteen[0]);
    assert.equal(generator.wordsConsumed, 33);
    for (let i = 1; i < 16; i++) assert.notEqual(seventeen[i], sixteen[i]);
  });

  it("writes into a caller's buffer (a subarray of a batch) without allocating a result", () => {
    const batch = new Float32Array(2 * 256);
    const generator = new TorchGenerator(7n);
    const view = batch.subarray(256);
    const returned = generator.randn([1, 4, 8, 8], view);
    assert.equal(returned, view);
    assert.deepEqual(view, new TorchGenerator(7n).randn([1, 4, 8, 8]));
    assert.ok(batch.subarray(0, 256).every((v) => v === 0));
    assert.throws(() => generator.randn([1, 4, 8, 8], new Float32Array(10)), InvalidInputError);
  });
});

describe("seeds", () => {
  it("only the low 32 bits reach mt19937: 4294967295, 2^63-1, 2^64-1 and -1 alias", () => {
    const reference = new TorchGenerator(4294967295n).randn([1, 4, 8, 8]);
    for (const seed of [(1n << 63n) - 1n, (1n << 64n) - 1n, -1n]) {
      assert.deepEqual(new TorchGenerator(seed).randn([1, 4, 8, 8]), reference, `seed ${seed}`);
    }
    assert.deepEqual(new TorchGenerator(4294967303n).randn([20]), new TorchGenerator(7n).randn([20]));
    assert.notDeepEqual(new TorchGenerator(8n).randn([20]), new TorchGenerator(7n).randn([20]));
  });

  it("reports the seed as torch's initial_seed (uint64 bit pattern)", () => {
    assert.equal(new TorchGenerator(-1n).initialSeed, (1n << 64n) - 1n);
    assert.equal(new TorchGenerator(-2n).initialSeed, (1n << 64n) - 2n);
    assert.equal(new TorchGenerator(42n).initialSeed, 42n);
  });

  it("rejects seeds outside [-2^63, 2^64-1] and malformed shapes", () => {
    assert.throws(() => new TorchGenerator(1n << 64n), InvalidInputError);
    assert.throws(() => new TorchGenerator(-(1n << 63n) - 1n), InvalidInputError);
    assert.doesNotThrow(() => new TorchGenerator(-(1n << 63n)));
    assert.throws(() => new TorchGenerator(0n).randn([2, -1]), InvalidInputError);
    assert.throws(() => new TorchGenerator(0n).randn([1.5]), InvalidInputError);
  });
});

describe("correctly rounded double log, sin, cos (float64 Box-Muller)", () => {
  // Inputs where V8's Math.log/sin/cos are one ulp off; expected values from 200-bit arithmetic.
  const logs: [number, number][] = [
    [0.8043888511229519, -0.21767248104673034],
    [0.40491662254693805, -0.9040741033242615],
    [0.68627666740424, -0.3764744273079617],
    [0.20315807003197406, -1.5937709328383873],
  ];
  const sines: [number, number][] = [
    [5.448788688340969, -0.7408914008409478],
    [1.1741790327489774, 0.9223730095287251],
    [2.0830734587826667, 0.8716306018486789],
    [2.6655245203299964, 0.4582880692413219],
  ];
  const cosines: [number, number][] = [
    [2.5373197622531904, -0.8229154320059227],
    [5.176417311858041, 0.44755409161168497],
    [5.575095945471267, 0.7596059095812305],
    [2.29121439662566, -0.6596989216318546],
  ];
  it("log", () => {
    for (const [x, expected] of logs) assert.equal(logCorrect(x), expected, `log(${x})`);
    assert.equal(logCorrect(1), 0);
    assert.equal(logCorrect(0.5), -Math.LN2);
    assert.equal(logCorrect(2 ** -53), -53 * Math.LN2);
  });
  it("sin and cos, including every quadrant", () => {
    for (const [x, expected] of sines) assert.equal(sinCosCorrect(x).sin, expected, `sin(${x})`);
    for (const [x, expected] of cosines) assert.equal(sinCosCorrect(x).cos, expected, `cos(${x})`);
    for (let x = 0.01; x < 6.3; x += 0.37) {
      const { sin, cos } = sinCosCorrect(x);
      assert.ok(
        Math.abs(sin - Math.sin(x)) <= Number.EPSILON && Math.abs(cos - Math.cos(x)) <= Number.EPSILON,
        `${x}`,
      );
    }
  });
});

describe("fma32", () => {
  const f = Math.fround;
  it("rounds once where a*b + c in double lands on a float32 midpoint", () => {
    // 24929 * (673 * 2^-24) is exactly 1 + 2^-24, halfway between 1 and 1 + 2^-23. Adding 2^-70 in
    // double rounds straight back onto that midpoint, so a plain fround would tie to even (1).
    const a = 24929;
    const b = 673 * 2 ** -24;
    assert.equal(a * b, 1 + 2 ** -24);
    assert.equal(f(a * b + 2 ** -70), 1);
    assert.equal(fma32(a, b, 2 ** -70), f(1 + 2 ** -23));
    assert.equal(fma32(a, b, -(2 ** -70)), 1);
    assert.equal(fma32(a, b, 0), 1); // an exact tie goes to even
    assert.equal(fma32(-a, b, -(2 ** -70)), -f(1 + 2 ** -23));
  });

  it("matches an exact rational reference on random float32 triples", () => {
    // Against a reference computed with BigInt arithmetic on random float32 triples.
    const scale = 2n ** 200n;
    const toBig = (x: number) => {
      const [m, e] = frexp(x);
      return e >= 0 ? BigInt(m) * 2n ** BigInt(e) * scale : (BigInt(m) * scale) / 2n ** BigInt(-e);
    };
    let state = 12345;
    const rnd = () => {
      state = (Math.imul(state, 1103515245) + 12345) >>> 0;
      return state / 2 ** 32;
    };
    for (let k = 0; k < 2000; k++) {
      const x = f((rnd() - 0.5) * 4);
      const y = f((rnd() - 0.5) * 4);
      const z = f((rnd() - 0.5) * 2 ** Math.floor(rnd() * 40 - 20));
      const exactSum = toBig(x) * toBig(y) + toBig(z) * scale;
      const expected = roundBigToFloat32(exactSum, scale * scale);
      assert.equal(fma32(x, y, z), expected, `${x} * ${y} + ${z}`);
    }
  });
});

/** x = m * 2^e with m an integer (exact for any finite double). */
function frexp(x: number): [number, number] {
  if (x === 0) return [0, 0];
  let e = 0;
  let m = x;
  while (!Number.isInteger(m)) {
    m *= 2;
    e--;
  }
  return [m, e];
}

/** Rounds value/denominator (exact rational) to the nearest float32, ties to even. */
function roundBigToFloat32(value: bigint, denominator: bigint): number {
  if (value === 0n) return 0;
  const negative = value < 0n;
  const magnitude = negative ? -value : value;
  // Find the float32 neighbours by bisection on the double approximation, then compare exactly.
  const approx = Number(magnitude) / Number(denominator);
  let low = Math.fround(approx);
  const next = (x: number, up: boolean) => {
    const buffer = new Float32Array([x]);
    const bits = new Uint32Array(buffer.buffer);
    bits[0] = bits[0]! + (up ? 1 : -1);
    return buffer[0]!;
  };
  const exactOf = (x: number) => {
    const [m, e] = frexp(x);
    return e >= 0 ? [BigInt(m) * 2n ** BigInt(e), 1n] : [BigInt(m), 2n ** BigInt(-e)];
  };
  const cmp = (x: number) => {
    const [n, d] = exactOf(x) as [bigint, bigint];
    const lhs = n * denominator;
    const rhs = magnitude * d;
    return lhs < rhs ? -1 : lhs > rhs ? 1 : 0;
  };
  while (cmp(low) > 0) low = next(low, false);
  while (cmp(next(low, true)) <= 0) low = next(low, true);
  const high = next(low, true);
  const [ln, ld] = exactOf(low) as [bigint, bigint];
  const [hn, hd] = exactOf(high) as [bigint, bigint];
  // Compare distances: value - low vs high - value, all over a common denominator.
  const dLow = magnitude * ld * hd - ln * hd * denominator;
  const dHigh = hn * ld * denominator - magnitude * ld * hd;
  let result: number;
  if (dLow < dHigh) result = low;
  else if (dHigh < dLow) result = high;
  else result = (new Uint32Array(new Float32Array([low]).buffer)[0]! & 1) === 0 ? low : high;
  return negative ? -result : result;
}

describe("slerpNoise (variation seeds)", () => {
  const a = new TorchGenerator(1n).randn([1, 4, 32, 32]);
  const b = new TorchGenerator(2n).randn([1, 4, 32, 32]);
  const norm = (x: Float32Array) => Math.sqrt(x.reduce((s, v) => s + v * v, 0));

  it("returns exact copies at t = 0 and t = 1", () => {
    const at0 = slerpNoise(a, b, 0);
    const at1 = slerpNoise(a, b, 1);
    assert.deepEqual(at0, a);
    assert.deepEqual(at1, b);
    assert.notEqual(at0, a);
  });

  it("keeps the norm of a pure sample in between, unlike a linear mix", () => {
    const mid = slerpNoise(a, b, 0.5);
    const expected = (norm(a) + norm(b)) / 2;
    assert.ok(Math.abs(norm(mid) - expected) / expected < 0.02, `${norm(mid)} vs ${expected}`);
    const linear = a.map((v, i) => 0.5 * v + 0.5 * b[i]!);
    assert.ok(norm(linear) < 0.8 * expected);
  });

  it("moves monotonically from a to b and is deterministic", () => {
    let previous = -Infinity;
    for (const t of [0.1, 0.3, 0.6, 0.9]) {
      const blend = slerpNoise(a, b, t);
      const towardsB = blend.reduce((s, v, i) => s + v * b[i]!, 0);
      assert.ok(towardsB > previous);
      previous = towardsB;
      assert.deepEqual(blend, slerpNoise(a, b, t));
    }
  });

  it("writes in place (out = a) and falls back to a linear mix for nearly parallel noises", () => {
    const copy = a.slice();
    const expected = slerpNoise(a, b, 0.25);
    slerpNoise(copy, b, 0.25, copy);
    assert.deepEqual(copy, expected);
    const nearly = a.map((v) => v * 1.000001);
    const mixed = slerpNoise(a, nearly, 0.5);
    for (let i = 0; i < 10; i++) assert.equal(mixed[i], Math.fround(0.5 * a[i]! + 0.5 * nearly[i]!));
  });

  it("rejects mismatched sizes and strengths outside [0, 1]", () => {
    assert.throws(() => slerpNoise(a, b.subarray(1), 0.5), InvalidInputError);
    assert.throws(() => slerpNoise(a, b, 1.5), InvalidInputError);
    assert.throws(() => slerpNoise(a, b, Number.NaN), InvalidInputError);
  });
});
