/**
 * Pictures for the classifier tests, made here from typed arrays (1024², the size of an SDXL
 * image) and encoded as the store keeps them (PNG): a colour gradient, seeded noise, and drawn
 * shapes. Pure arithmetic, so every run classifies the same pixels.
 */
import sharp from "sharp";

export const SIDE = 1024;

export type Picture = "gradient" | "noise" | "shapes";

function pixels(picture: Picture, side: number): Uint8Array {
  const rgb = new Uint8Array(side * side * 3);
  let seed = 1;
  for (let y = 0; y < side; y++) {
    for (let x = 0; x < side; x++) {
      const i = (y * side + x) * 3;
      if (picture === "gradient") {
        rgb[i] = Math.floor((x * 256) / side);
        rgb[i + 1] = Math.floor((y * 256) / side);
        rgb[i + 2] = 128;
      } else if (picture === "noise") {
        seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
        rgb[i] = seed >>> 24;
        rgb[i + 1] = (seed >>> 16) & 255;
        rgb[i + 2] = (seed >>> 8) & 255;
      } else {
        // A warm disc and a blue bar on a dark green ground.
        const u = x / side;
        const v = y / side;
        const disc = (u - 0.4) ** 2 + (v - 0.45) ** 2 < 0.3 ** 2;
        const bar = u > 0.65 && u < 0.9 && v > 0.1 && v < 0.9;
        const [r, g, b] = disc ? [230, 180, 150] : bar ? [40, 70, 200] : [20, 60, 40];
        rgb[i] = r;
        rgb[i + 1] = g;
        rgb[i + 2] = b;
      }
    }
  }
  return rgb;
}

/** The picture as a PNG of `side`² pixels. */
export async function picturePng(picture: Picture, side = SIDE): Promise<Uint8Array> {
  const png = await sharp(pixels(picture, side), { raw: { width: side, height: side, channels: 3 } })
    .png()
    .toBuffer();
  return new Uint8Array(png);
}
