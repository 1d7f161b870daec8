/**
 * PyTorch's CPU generator, reproduced bit for bit: torch.Generator('cpu').manual_seed(seed) followed
 * by torch.randn / torch.rand calls that continue one stream. A seed here therefore gives the same
 * starting noise as diffusers or ComfyUI with a CPU generator on x86-64 Linux.
 *
 * What torch does, and so what this does:
 * - manual_seed takes any integer in [-2^63, 2^64 - 1] (negative ones as their two's complement);
 *   only the low 32 bits seed mt19937, so seeds equal modulo 2^32 give the same numbers.
 * - rand: float32 uses one word per value (low 24 bits), float64 two words (53 bits, first word high).
 * - randn with 16 or more values (normal_fill): all uniforms first, then 16-value Box-Muller blocks;
 *   when numel is not a multiple of 16 the last 16 values are redrawn and transformed again.
 * - randn with fewer than 16 values (serial): one double Box-Muller pair per two values, with the
 *   second value cached in the generator for the next serial draw.
 */
import { InvalidInputError } from "../../errors.js";
import { boxMullerBlockAvx2, boxMullerBlockFloat64 } from "./box-muller.js";
import { logCorrect, sinCosCorrect } from "./libm64.js";
import { Mt19937 } from "./mt19937.js";

const SEED_MIN = -(1n << 63n);
const SEED_MAX = (1n << 64n) - 1n;
const SERIAL_LIMIT = 16;

function numelOf(shape: readonly number[]): number {
  let n = 1;
  for (const size of shape) {
    if (!Number.isSafeInteger(size) || size < 0) {
      throw new InvalidInputError(`Tensor shape [${shape.join(", ")}] has an invalid dimension.`, "shape");
    }
    n *= size;
  }
  return n;
}

export class TorchGenerator {
  /** The seed as torch reports it from initial_seed(): the uint64 bit pattern. */
  readonly initialSeed: bigint;
  private readonly engine: Mt19937;
  /** at::normal_distribution<double>'s cached second sample; only the serial path uses it. */
  private cachedNormal: number | null = null;

  constructor(seed: bigint) {
    if (typeof seed !== "bigint" || seed < SEED_MIN || seed > SEED_MAX) {
      throw new InvalidInputError(
        `Seed must be an integer from -2^63 to 2^64-1, got ${String(seed)}.`,
        "seed",
      );
    }
    this.initialSeed = BigInt.asUintN(64, seed);
    this.engine = new Mt19937(Number(BigInt.asUintN(32, seed)));
  }

  /** 32-bit mt19937 words consumed since seeding. */
  get wordsConsumed(): number {
    return this.engine.wordsConsumed;
  }

  /** The cached Box-Muller sample the next serial randn call will return first, if any. */
  get cachedNormalSample(): number | null {
    return this.cachedNormal;
  }

  /** torch.randn(shape, dtype=float32), continuing the stream; writes into `out` when given. */
  randn(shape: readonly number[], out?: Float32Array): Float32Array {
    const n = numelOf(shape);
    const data = this.outputFor(n, out);
    if (n < SERIAL_LIMIT) {
      for (let i = 0; i < n; i++) data[i] = this.serialNormal();
      return data;
    }
    this.engine.fillFloatUniforms(data, 0, n);
    for (let k = 0; k + 16 <= n; k += 16) boxMullerBlockAvx2(data, k);
    if (n % 16 !== 0) {
      this.engine.fillFloatUniforms(data, n - 16, 16);
      boxMullerBlockAvx2(data, n - 16);
    }
    return data;
  }

  /** torch.randn(shape, dtype=float64), continuing the stream. */
  randnFloat64(shape: readonly number[]): Float64Array {
    const n = numelOf(shape);
    const data = new Float64Array(n);
    if (n < SERIAL_LIMIT) {
      for (let i = 0; i < n; i++) data[i] = this.serialNormal();
      return data;
    }
    for (let i = 0; i < n; i++) data[i] = this.engine.nextDoubleUniform();
    for (let k = 0; k + 16 <= n; k += 16) boxMullerBlockFloat64(data, k);
    if (n % 16 !== 0) {
      for (let i = n - 16; i < n; i++) data[i] = this.engine.nextDoubleUniform();
      boxMullerBlockFloat64(data, n - 16);
    }
    return data;
  }

  /** torch.rand(shape, dtype=float32). */
  rand(shape: readonly number[]): Float32Array {
    const n = numelOf(shape);
    const data = new Float32Array(n);
    this.engine.fillFloatUniforms(data, 0, n);
    return data;
  }

  /** torch.rand(shape, dtype=float64). */
  randFloat64(shape: readonly number[]): Float64Array {
    const data = new Float64Array(numelOf(shape));
    for (let i = 0; i < data.length; i++) data[i] = this.engine.nextDoubleUniform();
    return data;
  }

  private outputFor(n: number, out: Float32Array | undefined): Float32Array {
    if (out === undefined) return new Float32Array(n);
    if (out.length !== n) {
      throw new InvalidInputError(`randn output holds ${out.length} values, the shape needs ${n}.`, "out");
    }
    return out;
  }

  /** at::normal_distribution<double>: the first uniform feeds the angle, the second the radius. */
  private serialNormal(): number {
    if (this.cachedNormal !== null) {
      const cached = this.cachedNormal;
      this.cachedNormal = null;
      return cached;
    }
    const u1 = this.engine.nextDoubleUniform();
    const u2 = this.engine.nextDoubleUniform();
    // log1p(-u2) = log(1 - u2) exactly: u2 is a multiple of 2^-53 below 1, so 1 - u2 is exact.
    const radius = Math.sqrt(-2 * logCorrect(1 - u2));
    const { sin, cos } = sinCosCorrect(2 * Math.PI * u1);
    this.cachedNormal = radius * sin;
    return radius * cos;
  }
}
