/**
 * The first guess for what zoom out and pan paint: each new pixel copies the nearest pixel of the
 * placed source (edge extension), the result is blurred (three box passes, about a Gaussian) so the
 * stretched edges become soft colour fields, and the job's noise is added so the model finds
 * texture to work from rather than a flat area it would keep flat. Only pixels outside the
 * placement change. Pure: interleaved RGB in, interleaved RGB out.
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

/** One box-blur pass along rows (step 3, count width) or columns, edges clamped; `from` → `to`. */
function boxPass(
  from: Float32Array,
  to: Float32Array,
  lines: number,
  length: number,
  lineStride: number,
  step: number,
  radius: number,
): void {
  const scale = 1 / (2 * radius + 1);
  for (let line = 0; line < lines; line++) {
    for (let c = 0; c < 3; c++) {
      const base = line * lineStride + c;
      const at = (i: number) => from[base + Math.min(Math.max(i, 0), length - 1) * step]!;
      let sum = 0;
      for (let i = -radius; i <= radius; i++) sum += at(i);
      for (let i = 0; i < length; i++) {
        to[base + i * step] = sum * scale;
        sum += at(i + radius + 1) - at(i - radius);
      }
    }
  }
}

/** Three horizontal and vertical box passes of `radius` over interleaved RGB values. */
export function boxBlur(rgb: Float32Array, width: number, height: number, radius: number): Float32Array {
  const a = rgb.slice();
  const b = new Float32Array(rgb.length);
  for (let pass = 0; pass < 3; pass++) {
    boxPass(a, b, height, width, width * 3, 3, radius);
    boxPass(b, a, width, height, 3, width * 3, radius);
  }
  return a;
}

/**
 * The canvas for one image: the placed source kept as it is, the rest edge-extended, blurred and
 * noised. `noise` holds one standard normal value per byte of `canvas` (the image's own draw).
 */
export function fillBorder(
  canvas: Uint8Array,
  width: number,
  height: number,
  placement: Rect,
  noise: Float32Array,
  options: { blurRadius?: number; noiseLevels?: number } = {},
): Uint8Array {
  if (noise.length !== canvas.length) throw new RangeError("fillBorder: one noise value per byte is needed");
  const extended = extendEdges(canvas, width, height, placement);
  const blurred = boxBlur(Float32Array.from(extended), width, height, options.blurRadius ?? FILL_BLUR_RADIUS);
  const levels = options.noiseLevels ?? FILL_NOISE_LEVELS;
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
