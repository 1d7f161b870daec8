/**
 * Pixels at the VAE's two ends, as pure functions over typed arrays.
 *
 * Decoder side: diffusers' `VaeImageProcessor.postprocess(output_type="pil")` turns the decoder's
 * NCHW float32 output (nominal range [-1, 1]) into uint8 pixels as
 *   denormalized = clamp(x * 0.5 + 0.5, 0, 1)   (float32)
 *   times255     = denormalized * 255           (float32)
 *   pixel        = round half to even(times255) (numpy's round)
 * `vaeOutputToRgb` reproduces that bit for bit; round-half-up would differ on exact .5 values.
 *
 * Encoder side (img2img): diffusers' `VaeImageProcessor.preprocess` gives the VAE
 *   float32(p / 255) * 2 - 1                     (float32)
 * per pixel value p, in NCHW order.
 *
 * Layouts: the VAE works in NCHW ([batch, channel, height, width]); images are interleaved RGB
 * (HWC, `height * width * 3` bytes, row-major, top row first).
 */

const fround = Math.fround;

function expectLength(name: string, actual: number, expected: number): void {
  if (actual !== expected) {
    throw new RangeError(`${name} holds ${actual} values; the given shape needs ${expected}`);
  }
}

/** numpy's `round` on a non-negative value: ties go to the even neighbour. */
function roundHalfToEven(value: number): number {
  const floor = Math.floor(value);
  const fraction = value - floor;
  if (fraction > 0.5) return floor + 1;
  if (fraction < 0.5) return floor;
  return floor % 2 === 0 ? floor : floor + 1;
}

/**
 * One decoded value to its uint8 pixel, with diffusers' float32 arithmetic. Every step is rounded
 * to float32 (Math.fround); computing each step in float64 first is exact enough that the final
 * rounding equals float32 arithmetic (float64 has more than twice float32's precision).
 * NaN maps to 0; the pipeline uses `showableRgb`, which refuses such an image.
 */
export function decodedValueToByte(value: number): number {
  let denormalized = fround(fround(value * 0.5) + 0.5);
  if (denormalized > 1) denormalized = 1;
  else if (!(denormalized >= 0)) denormalized = 0; // also NaN
  return roundHalfToEven(fround(denormalized * 255));
}

/**
 * decodedValueToByte for the conversion loop, with the same float32 results: value·0.5 is exact in
 * float64 (and for float32 subnormals the sum rounds to 0.5 either way), so one rounding of
 * value·0.5 + 0.5 equals diffusers' two. NaN maps to 0.
 */
function toByte(value: number): number {
  let denormalized = fround(value * 0.5 + 0.5);
  // biome-ignore lint/complexity/useMathMinMax: NaN must map to 0, which Math.max would not do
  denormalized = denormalized > 1 ? 1 : denormalized >= 0 ? denormalized : 0;
  const scaled = fround(denormalized * 255);
  // floor(x + 0.5) rounds halves up; numpy rounds them to even. (Math.round has a slow path
  // that made this loop 5x slower on real decoder output; truncation of a non-negative double
  // is the same floor.)
  let byte = (scaled + 0.5) | 0;
  if (byte - scaled === 0.5 && (byte & 1) === 1) byte -= 1;
  return byte;
}

/**
 * Writes one image's NCHW planes (starting at `start`) into interleaved RGB bytes and reports
 * whether the image can be shown: false when a value is NaN or ±Infinity (the SDXL 1.0 VAE's
 * float16 overflow) or every value is equal. One pass per pixel over the three planes, writing
 * each pixel's three bytes together, since this runs over 3M values per 1024x1024 image.
 */
function writeRgb(decoded: Float32Array, start: number, plane: number, rgb: Uint8Array): boolean {
  const first = decoded[start]!;
  // x - x is 0 for finite x and NaN for NaN and ±Infinity; a NaN sum stays NaN.
  let nonFinite = 0;
  let varies = false;
  const green = start + plane;
  const blue = green + plane;
  for (let i = 0, o = 0; i < plane; i++, o += 3) {
    const r = decoded[start + i]!;
    const g = decoded[green + i]!;
    const b = decoded[blue + i]!;
    nonFinite += r - r + (g - g) + (b - b);
    if (r !== first || g !== first || b !== first) varies = true;
    rgb[o] = toByte(r);
    rgb[o + 1] = toByte(g);
    rgb[o + 2] = toByte(b);
  }
  return nonFinite === 0 && varies;
}

/**
 * VAE decoder output [batch, 3, height, width] (NCHW float32) -> one interleaved RGB uint8 image
 * (HWC) per batch entry, exactly as diffusers post-processes it (NaN becomes 0).
 */
export function vaeOutputToRgb(
  decoded: Float32Array,
  batch: number,
  height: number,
  width: number,
): Uint8Array[] {
  const plane = height * width;
  expectLength("decoded", decoded.length, batch * 3 * plane);
  return Array.from({ length: batch }, (_, b) => {
    const rgb = new Uint8Array(plane * 3);
    writeRgb(decoded, b * 3 * plane, plane, rgb);
    return rgb;
  });
}

/**
 * One decoded image [1, 3, height, width] to RGB, or undefined when it must not be shown: a NaN
 * or ±Infinity (the SDXL 1.0 VAE overflowing in float16) or a flat image. The caller then decodes
 * again with a float32 VAE, and never posts a black image.
 */
export function showableRgb(decoded: Float32Array, height: number, width: number): Uint8Array | undefined {
  const plane = height * width;
  expectLength("decoded", decoded.length, 3 * plane);
  const rgb = new Uint8Array(plane * 3);
  return plane > 0 && writeRgb(decoded, 0, plane, rgb) ? rgb : undefined;
}

/** float32(p / 255) * 2 - 1 for every byte value, in float32 as diffusers computes it. */
const BYTE_TO_VAE_INPUT: Float32Array = (() => {
  const table = new Float32Array(256);
  for (let p = 0; p < 256; p++) table[p] = fround(fround(p / 255) * 2 - 1);
  return table;
})();

/**
 * A source image for img2img: interleaved RGB uint8 (HWC) -> NCHW float32 [1, 3, height, width]
 * in [-1, 1]. Writes into `out` when given (no allocation).
 */
export function rgbToVaeInput(
  rgb: Uint8Array,
  height: number,
  width: number,
  out?: Float32Array,
): Float32Array {
  const plane = height * width;
  expectLength("rgb", rgb.length, plane * 3);
  const result = out ?? new Float32Array(plane * 3);
  expectLength("out", result.length, plane * 3);
  for (let channel = 0; channel < 3; channel++) {
    const target = channel * plane;
    for (let i = 0, source = channel; i < plane; i++, source += 3) {
      result[target + i] = BYTE_TO_VAE_INPUT[rgb[source]];
    }
  }
  return result;
}
