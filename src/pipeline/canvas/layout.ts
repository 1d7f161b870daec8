/**
 * Where a canvas action puts the source image, and how large the result is. Pure geometry; every
 * size and offset is a multiple of 8 (one latent pixel), so the kept region's edge falls on the
 * latent grid.
 *
 * - Zoom out by F: the result keeps the source's size; the source, scaled by 1/F (each side rounded
 *   to the nearest multiple of 8, at least 8), sits in the centre (offsets rounded down to a
 *   multiple of 8, so an odd margin puts the extra latent pixel right / below).
 * - Pan: the canvas is the source extended by a half (PAN_SHARE) in the pan direction; the result's
 *   size is the SDXL bucket whose aspect is nearest to that canvas (distance between log-ratios, as
 *   the aspect option picks). The source is scaled to fill the bucket's side across the pan
 *   direction and put against the side opposite to the pan; the strip left over is painted. Capped:
 *   the scaled source covers at most 3/4 of the bucket along the pan direction (MAX_KEPT_SHARE), so a
 *   source as wide as the widest bucket (21:9 panned left/right) is scaled down further, centred
 *   across, and a thin frame across is painted too. Buckets are ~1 megapixel, so a pan always stays
 *   within the pipeline's size limits, whatever the source's size.
 * - Repaint: the result is the source, unchanged in size; the placement is the whole image.
 */
import type { CanvasAction, PanDirection, Rect } from "../types.js";

/** Zoom factors a request may ask for; the result buttons offer BUTTON_ZOOM_FACTORS. */
export const ZOOM_FACTORS = { min: 1, max: 2 } as const;
export const BUTTON_ZOOM_FACTORS = [2, 1.5] as const;

/**
 * The strength each canvas action uses unless the user chose one. Below 1 so the filled border
 * (stretched edges, blurred, plus noise) steers the colours of what is painted there; repaint is
 * user-controlled, as refine's strength is.
 */
export const CANVAS_STRENGTH = { zoom_out: 0.9, pan: 0.9, repaint: 0.8 } as const;

/** How far a pan extends the canvas, as a share of the source's side in the pan direction. */
export const PAN_SHARE = 0.5;

/** Largest share of the result, along the pan direction, that the kept source may cover. */
export const MAX_KEPT_SHARE = 0.75;

/** SDXL's ~1-megapixel training buckets (the same sizes as the aspect option's, commands/aspect.ts). */
export const PAN_BUCKETS: readonly { width: number; height: number }[] = [
  { width: 1024, height: 1024 },
  { width: 1152, height: 896 },
  { width: 896, height: 1152 },
  { width: 1216, height: 832 },
  { width: 832, height: 1216 },
  { width: 1344, height: 768 },
  { width: 768, height: 1344 },
  { width: 1536, height: 640 },
  { width: 640, height: 1536 },
];

export interface CanvasLayout {
  width: number;
  height: number;
  /** Where the (scaled) source image goes in the result. */
  placement: Rect;
}

const GRID = 8;

function roundToGrid(value: number): number {
  return Math.max(GRID, Math.round(value / GRID) * GRID);
}

function floorToGrid(value: number): number {
  return Math.max(0, Math.floor(value / GRID) * GRID);
}

/** The result's size and where the (scaled) source image goes in it. */
export function canvasLayout(sourceWidth: number, sourceHeight: number, action: CanvasAction): CanvasLayout {
  switch (action.kind) {
    case "zoom_out":
      return zoomOutLayout(sourceWidth, sourceHeight, action.factor);
    case "pan":
      return panLayout(sourceWidth, sourceHeight, action.direction);
    case "repaint":
      return {
        width: sourceWidth,
        height: sourceHeight,
        placement: { x: 0, y: 0, width: sourceWidth, height: sourceHeight },
      };
  }
}

function zoomOutLayout(width: number, height: number, factor: number): CanvasLayout {
  const placedWidth = Math.min(width, roundToGrid(width / factor));
  const placedHeight = Math.min(height, roundToGrid(height / factor));
  return {
    width,
    height,
    placement: {
      x: floorToGrid((width - placedWidth) / 2),
      y: floorToGrid((height - placedHeight) / 2),
      width: placedWidth,
      height: placedHeight,
    },
  };
}

/** The bucket whose width/height ratio is nearest to `ratio`, measured between log-ratios. */
export function nearestPanBucket(ratio: number): { width: number; height: number } {
  const target = Math.log(ratio);
  let best = PAN_BUCKETS[0]!;
  for (const bucket of PAN_BUCKETS) {
    const distance = Math.abs(Math.log(bucket.width / bucket.height) - target);
    if (distance < Math.abs(Math.log(best.width / best.height) - target)) best = bucket;
  }
  return best;
}

function panLayout(width: number, height: number, direction: PanDirection): CanvasLayout {
  const horizontal = direction === "left" || direction === "right";
  // Work in (along, across) = the pan direction and the one across it.
  const along = horizontal ? width : height;
  const across = horizontal ? height : width;
  const extended = along * (1 + PAN_SHARE);
  const bucket = nearestPanBucket(horizontal ? extended / across : across / extended);
  const bucketAlong = horizontal ? bucket.width : bucket.height;
  const bucketAcross = horizontal ? bucket.height : bucket.width;
  const scale = Math.min(bucketAcross / across, (bucketAlong * MAX_KEPT_SHARE) / along);
  const placedAlong = Math.min(bucketAlong - GRID, roundToGrid(along * scale));
  const placedAcross = Math.min(bucketAcross, roundToGrid(across * scale));
  const acrossOffset = floorToGrid((bucketAcross - placedAcross) / 2);
  // The source sits against the side opposite to the pan: panning right keeps it on the left.
  const alongOffset = direction === "right" || direction === "down" ? 0 : bucketAlong - placedAlong;
  const placement: Rect = horizontal
    ? { x: alongOffset, y: acrossOffset, width: placedAlong, height: placedAcross }
    : { x: acrossOffset, y: alongOffset, width: placedAcross, height: placedAlong };
  return { width: bucket.width, height: bucket.height, placement };
}
