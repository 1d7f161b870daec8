/**
 * The first guess for what zoom out and pan paint: each new pixel copies the nearest pixel of the
 * placed source (edge extension), the result is blurred (three box passes, about a Gaussian) so the
 * stretched edges become soft colour fields, and the job's noise is added so the model finds
 * texture to work from rather than a flat area it would keep flat. Only pixels outside the
 * placement change. Pure: interleaved RGB in, interleaved RGB out.
 *
 * The noise is the image's own (from its seed) but not torch's generator: a megapixel of
 * Box-Muller draws costs the better part of a second on a CPU, and nothing here needs to match
 * another program's draws. FILL_NOISE is a small counter-based generator instead.
 */
import type { Rect } from "../types.js";

/** Radius of each box-blur pass, in pixels. */
export const FILL_BLUR_RADIUS = 16;
/** Standard deviation of the noise added to the fill, in 0–255 pixel levels. */
export const FILL_NOISE_LEVELS = 10;

/** `canvas` with every pixel outside `placement` set to its nearest pixel inside it. */
export function extendEdges(canvas: Uint8Array, width: number, height: number, placement: Rect): Uint8Array {
  const out = canvas.slice();
  const x1 = placement.x + placement.width - 1;
  const y1 = placement.y + placement.height - 1;
  for (let y = 0; y < height; y++) {
    const sy = Math.min(Math.max(y, placement.y), y1);
    for (let x = 0; x < width; x++) {
      if (y === sy && x >= placement.x && x <= x1) continue;
      const sx = Math.min(Math.max(x, placement.x), x1);
      const to = (y * width + x) * 3;
      const from = (sy * width + sx) * 3;
      out[to] = canvas[from]!;
      out[to + 1] = canvas[from + 1]!;
      out[to + 2] = canvas[from + 2]!;
    }
  }
  return out;
}

/** One box-blur pass along each row of interleaved RGB, edges clamped; `from` → `to`. */
function rowPass(from: Float32Array, to: Float32Array, width: number, height: number, radius: number): void {
  const scale = 1 / (2 * radius + 1);
  const last = width - 1;
  for (let y = 0; y < height; y++) {
    const row = y * width * 3;
    for (let c = 0; c < 3; c++) {
      const base = row + c;
      const first = from[base]!;
      const end = from[base + last * 3]!;
      // The window [x − radius, x + radius], indices clamped to the row.
      let sum = 0;
      for (let k = -radius; k <= radius; k++) sum += from[base + Math.min(Math.max(k, 0), last) * 3]!;
      for (let x = 0; x < width; x++) {
        to[base + x * 3] = sum * scale;
        const entering = x + radius + 1;
        const leaving = x - radius;
        sum +=
          (entering <= last ? from[base + entering * 3]! : end) -
          (leaving >= 0 ? from[base + leaving * 3]! : first);
      }
    }
  }
}

/** One box-blur pass down the columns, a whole row at a time (memory in order); `from` → `to`. */
function columnPass(
  from: Float32Array,
  to: Float32Array,
  width: number,
  height: number,
  radius: number,
): void {
  const scale = 1 / (2 * radius + 1);
  const rowLength = width * 3;
  const last = height - 1;
  const sums = new Float64Array(rowLength);
  const rowAt = (y: number) => Math.min(Math.max(y, 0), last) * rowLength;
  for (let k = -radius; k <= radius; k++) {
    const at = rowAt(k);
    for (let i = 0; i < rowLength; i++) sums[i]! += from[at + i]!;
  }
  for (let y = 0; y < height; y++) {
    const out = y * rowLength;
    const entering = rowAt(y + radius + 1);
    const leaving = rowAt(y - radius);
    for (let i = 0; i < rowLength; i++) {
      to[out + i] = sums[i]! * scale;
      sums[i]! += from[entering + i]! - from[leaving + i]!;
    }
  }
}

/** Three horizontal and vertical box passes of `radius` over interleaved RGB values. */
export function boxBlur(rgb: Float32Array, width: number, height: number, radius: number): Float32Array {
  const a = rgb.slice();
  const b = new Float32Array(rgb.length);
  for (let pass = 0; pass < 3; pass++) {
    rowPass(a, b, width, height, radius);
    columnPass(b, a, width, height, radius);
  }
  return a;
}

/** The edge-extended, blurred canvas: what every image's fill starts from (the same for a batch). */
export function blurredExtension(
  canvas: Uint8Array,
  width: number,
  height: number,
  placement: Rect,
  radius = FILL_BLUR_RADIUS,
): Float32Array {
  return boxBlur(Float32Array.from(extendEdges(canvas, width, height, placement)), width, height, radius);
}

/**
 * The canvas for one image: the placed source kept as it is, the rest `blurred` (see
 * blurredExtension) plus `levels` times `noise`, one standard normal value per byte of `canvas`
 * (the image's own draw).
 */
export function noisyFill(
  canvas: Uint8Array,
  width: number,
  height: number,
  placement: Rect,
  blurred: Float32Array,
  noise: Float32Array,
  levels = FILL_NOISE_LEVELS,
): Uint8Array {
  if (noise.length !== canvas.length || blurred.length !== canvas.length) {
    throw new RangeError("fill: one blurred and one noise value per byte are needed");
  }
  const out = canvas.slice();
  const x1 = placement.x + placement.width;
  const y1 = placement.y + placement.height;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      if (y >= placement.y && y < y1 && x >= placement.x && x < x1) continue;
      for (let c = 0; c < 3; c++) {
        const i = (y * width + x) * 3 + c;
        out[i] = Math.min(255, Math.max(0, Math.round(blurred[i]! + levels * noise[i]!)));
      }
    }
  }
  return out;
}

/** blurredExtension then noisyFill: one image's filled canvas. */
export function fillBorder(
  canvas: Uint8Array,
  width: number,
  height: number,
  placement: Rect,
  noise: Float32Array,
  options: { blurRadius?: number; noiseLevels?: number } = {},
): Uint8Array {
  if (noise.length !== canvas.length)
    throw new RangeError("fill: one blurred and one noise value per byte are needed");
  const blurred = blurredExtension(canvas, width, height, placement, options.blurRadius);
  return noisyFill(canvas, width, height, placement, blurred, noise, options.noiseLevels);
}

/** SplitMix64's finaliser on a 64-bit value: a well-mixed 64-bit hash. */
function mix64(value: bigint): bigint {
  let z = BigInt.asUintN(64, value + 0x9e3779b97f4a7c15n);
  z = BigInt.asUintN(64, (z ^ (z >> 30n)) * 0xbf58476d1ce4e5b9n);
  z = BigInt.asUintN(64, (z ^ (z >> 27n)) * 0x94d049bb133111ebn);
  return z ^ (z >> 31n);
}

/**
 * `length` values of mean 0 and variance 1 determined by `seed`: each the sum of four uniforms
 * from mulberry32, centred and scaled (close to a normal within ±3.5, plenty for a fill's grain).
 */
export function fillNoise(seed: bigint, length: number): Float32Array {
  let state = Number(mix64(seed) & 0xffffffffn) | 0;
  const uniform = () => {
    state = (state + 0x6d2b79f5) | 0;
    let t = Math.imul(state ^ (state >>> 15), 1 | state);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const scale = Math.sqrt(3);
  const out = new Float32Array(length);
  for (let i = 0; i < length; i++) out[i] = (uniform() + uniform() + uniform() + uniform() - 2) * scale;
  return out;
}
