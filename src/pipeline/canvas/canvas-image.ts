/**
 * Everything a canvas action needs before denoising, from the decoded source: the result's layout,
 * the placed source (what is kept), the masks at pixel and latent resolution, and each image's
 * canvas for the VAE (zoom out and pan: the border filled with that image's own noise). Resizing
 * and mask decoding use sharp; the geometry is in the pure modules beside this one.
 */
import sharp from "sharp";
import { InvalidInputError } from "../../errors.js";
import type { CanvasAction, Rect } from "../types.js";
import { blurredExtension, fillNoise, noisyFill } from "./fill.js";
import { type CanvasLayout, canvasLayout } from "./layout.js";
import { binarizeGrey, featherMask, latentMask, outsideMask, rectsMask, repaintsAnything } from "./mask.js";

/** A decoded image: interleaved RGB bytes. */
export interface RgbImage {
  rgb: Uint8Array;
  width: number;
  height: number;
}

export interface CanvasPlan {
  layout: CanvasLayout;
  /** The result-sized image with the (scaled) source placed; outside the placement only a first guess. */
  original: Uint8Array;
  /** 1 = repaint, per pixel, binarized (diffusers' masked-image and 9-channel mask). */
  hard: Float32Array;
  /** The feathered mask the result is composited with. */
  soft: Float32Array;
  /** [h/8, w/8] of 0 and 1: the blend's and the 9-channel UNet's mask. */
  latent: Float32Array;
  /** Per image, what the VAE encodes: the original with the border filled (zoom out, pan). */
  canvases: Uint8Array[];
}

/**
 * Mixed into each image's seed for the fill's pixel noise, so that draw is the image's own and the
 * latent noise (drawn from seed + i as for any job) is untouched.
 */
const FILL_SEED_SALT = 0x63616e766173n; // "canvas"

/** The source resized (lanczos3) into a result-sized RGB canvas at `placement`; black elsewhere. */
export async function placeSource(source: RgbImage, layout: CanvasLayout): Promise<Uint8Array> {
  const { placement } = layout;
  let placed = source.rgb;
  if (placement.width !== source.width || placement.height !== source.height) {
    const resized = await sharp(source.rgb, {
      raw: { width: source.width, height: source.height, channels: 3 },
    })
      .resize({ width: placement.width, height: placement.height, fit: "fill", kernel: "lanczos3" })
      .raw()
      .toBuffer();
    placed = new Uint8Array(resized.buffer, resized.byteOffset, resized.byteLength);
  }
  if (placement.width === layout.width && placement.height === layout.height) return placed.slice();
  const canvas = new Uint8Array(layout.width * layout.height * 3);
  const row = placement.width * 3;
  for (let y = 0; y < placement.height; y++) {
    const to = ((placement.y + y) * layout.width + placement.x) * 3;
    canvas.set(placed.subarray(y * row, (y + 1) * row), to);
  }
  return canvas;
}

/**
 * A repaint mask image (white = repaint) as a hard mask at the image's size: transparency is
 * flattened onto black (a drawing tool's untouched pixels keep), grey resized with lanczos3 (as
 * diffusers' mask processor resizes with PIL's LANCZOS), then binarized at 0.5.
 */
export async function decodeMaskImage(
  data: Uint8Array,
  width: number,
  height: number,
): Promise<Float32Array> {
  let grey: Buffer;
  try {
    grey = await sharp(data)
      .autoOrient()
      .flatten({ background: { r: 0, g: 0, b: 0 } })
      .greyscale()
      .resize({ width, height, fit: "fill", kernel: "lanczos3" })
      .extractChannel(0)
      .raw()
      .toBuffer();
  } catch {
    throw new InvalidInputError("The mask is not a PNG, JPEG or WebP image.", "mask");
  }
  if (grey.length !== width * height) {
    throw new Error(`decoded mask holds ${grey.length} values; expected ${width * height}`);
  }
  return binarizeGrey(new Uint8Array(grey.buffer, grey.byteOffset, grey.byteLength));
}

/** The hard mask of an action over its layout (mask images decoded and resized). */
export async function hardMaskOf(action: CanvasAction, layout: CanvasLayout): Promise<Float32Array> {
  const { width, height } = layout;
  if (action.kind !== "repaint") return outsideMask(width, height, layout.placement);
  const hard =
    "mask" in action
      ? await decodeMaskImage(action.mask, width, height)
      : rectsMask(width, height, action.rects as readonly Rect[]);
  if (!repaintsAnything(hard)) {
    throw new InvalidInputError(
      "The mask covers none of the image: mark the part to repaint (white, or rectangles inside the image).",
      "mask",
    );
  }
  return hard;
}

/** Plans a canvas action on a decoded source for images with the given seeds. */
export async function planCanvas(
  source: RgbImage,
  action: CanvasAction,
  seeds: readonly bigint[],
): Promise<CanvasPlan> {
  const layout = canvasLayout(source.width, source.height, action);
  const { width, height, placement } = layout;
  const hard = await hardMaskOf(action, layout);
  const soft = featherMask(hard, width, height);
  const latent = latentMask(soft, width, height);
  const original = await placeSource(source, layout);
  const fills = action.kind !== "repaint" && repaintsAnything(hard);
  const blurred = fills ? blurredExtension(original, width, height, placement) : undefined;
  const canvases = seeds.map((seed) =>
    blurred
      ? noisyFill(
          original,
          width,
          height,
          placement,
          blurred,
          fillNoise(seed ^ FILL_SEED_SALT, original.length),
        )
      : original,
  );
  return { layout, original, hard, soft, latent, canvases };
}
