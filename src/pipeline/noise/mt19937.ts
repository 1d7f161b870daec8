/**
 * The Mersenne Twister behind PyTorch's CPU generator (aten's mt19937 engine): Matsumoto-Nishimura
 * init_genrand seeding, the standard in-place twist and tempering. State lives in a Uint32Array so
 * that drawing never allocates.
 */

const N = 624;
const M = 397;
const MATRIX_A = 0x9908b0df;
const UPPER_MASK = 0x80000000;
const LOWER_MASK = 0x7fffffff;

export class Mt19937 {
  private readonly state = new Uint32Array(N);
  /** Index of the next word to hand out; N means "twist first". */
  private index = N;
  private twists = 0;

  constructor(seed: number) {
    this.seed(seed);
  }

  /** Seeds with a 32-bit value, exactly like std::mt19937(seed) and torch's manual_seed. */
  seed(seed: number): void {
    const st = this.state;
    st[0] = seed >>> 0;
    for (let i = 1; i < N; i++) {
      const prev = st[i - 1]!;
      // Math.imul keeps the product mod 2^32; a double multiply would lose the low bits.
      st[i] = (Math.imul(1812433253, prev ^ (prev >>> 30)) + i) >>> 0;
    }
    this.index = N;
    this.twists = 0;
  }

  /** 32-bit words handed out since seeding. */
  get wordsConsumed(): number {
    return this.twists * N + this.index - N;
  }

  /** One tempered 32-bit word. */
  nextU32(): number {
    if (this.index >= N) this.twist();
    let y = this.state[this.index++]!;
    y ^= y >>> 11;
    y ^= (y << 7) & 0x9d2c5680;
    y ^= (y << 15) & 0xefc60000;
    y ^= y >>> 18;
    return y >>> 0;
  }

  /** torch's float32 uniform: the low 24 bits of one word, scaled into [0, 1 - 2^-24]. */
  fillFloatUniforms(out: Float32Array | Float64Array, start: number, count: number): void {
    const st = this.state;
    const end = start + count;
    for (let k = start; k < end; k++) {
      if (this.index >= N) this.twist();
      let y = st[this.index++]!;
      y ^= y >>> 11;
      y ^= (y << 7) & 0x9d2c5680;
      y ^= (y << 15) & 0xefc60000;
      y ^= y >>> 18;
      out[k] = (y & 0xffffff) * 5.9604644775390625e-8; // 2^-24, exact
    }
  }

  /** torch's float64 uniform: 53 bits of random64() (first word high), scaled into [0, 1). */
  nextDoubleUniform(): number {
    const hi = this.nextU32();
    const lo = this.nextU32();
    return ((hi & 0x1fffff) * 4294967296 + lo) * 1.1102230246251565e-16; // 2^-53, exact
  }

  private twist(): void {
    const st = this.state;
    let i = 0;
    for (; i < N - M; i++) {
      const y = (st[i]! & UPPER_MASK) | (st[i + 1]! & LOWER_MASK);
      st[i] = st[i + M]! ^ (y >>> 1) ^ (y & 1 ? MATRIX_A : 0);
    }
    for (; i < N - 1; i++) {
      const y = (st[i]! & UPPER_MASK) | (st[i + 1]! & LOWER_MASK);
      st[i] = st[i + M - N]! ^ (y >>> 1) ^ (y & 1 ? MATRIX_A : 0);
    }
    const y = (st[N - 1]! & UPPER_MASK) | (st[0]! & LOWER_MASK);
    st[N - 1] = st[M - 1]! ^ (y >>> 1) ^ (y & 1 ? MATRIX_A : 0);
    this.index = 0;
    this.twists++;
  }
}
