/**
 * Image sizes: SDXL's ~1-megapixel training buckets, the aspect ratios that name them, and the
 * explicit `WIDTHxHEIGHT` sizes the pipeline accepts (its LIMITS). Pure functions; callers turn
 * `undefined` into user-facing errors.
 */
import { LIMITS } from "../pipeline/validate.js";

export interface ImageSize {
  width: number;
  height: number;
}

export interface AspectBucket extends ImageSize {
  /** The ratio users pick, e.g. "16:9". */
  ratio: string;
}

/** SDXL's buckets in the order choices are shown. */
export const SDXL_BUCKETS: readonly AspectBucket[] = [
  { ratio: "1:1", width: 1024, height: 1024 },
  { ratio: "4:3", width: 1152, height: 896 },
  { ratio: "3:4", width: 896, height: 1152 },
  { ratio: "3:2", width: 1216, height: 832 },
  { ratio: "2:3", width: 832, height: 1216 },
  { ratio: "16:9", width: 1344, height: 768 },
  { ratio: "9:16", width: 768, height: 1344 },
  { ratio: "21:9", width: 1536, height: 640 },
  { ratio: "9:21", width: 640, height: 1536 },
];

/** The bucket closest to a width/height ratio, measured as distance between log-ratios. */
export function nearestBucket(ratio: number): AspectBucket {
  const target = Math.log(ratio);
  let best = SDXL_BUCKETS[0]!;
  let bestDistance = Number.POSITIVE_INFINITY;
  for (const bucket of SDXL_BUCKETS) {
    const distance = Math.abs(Math.log(bucket.width / bucket.height) - target);
    if (distance < bestDistance) {
      best = bucket;
      bestDistance = distance;
    }
  }
  return best;
}

const RATIO_PATTERN = /^(\d+(?:\.\d+)?|\.\d+)\s*[:/]\s*(\d+(?:\.\d+)?|\.\d+)$/;

/** `W:H` (or `W/H`) with positive, possibly decimal sides, e.g. "16:9" or "2.39:1"; else undefined. */
export function parseAspectRatio(text: string): number | undefined {
  const match = RATIO_PATTERN.exec(text.trim());
  if (!match) return undefined;
  const width = Number(match[1]);
  const height = Number(match[2]);
  const ratio = width / height;
  if (!(width > 0 && height > 0) || !Number.isFinite(ratio) || ratio <= 0) return undefined;
  return ratio;
}

/** The bucket for an aspect-ratio text: a named bucket exactly, any other `W:H` the nearest one. */
export function bucketForAspect(text: string): AspectBucket | undefined {
  const trimmed = text.trim();
  const named = SDXL_BUCKETS.find((bucket) => bucket.ratio === trimmed);
  if (named) return named;
  const ratio = parseAspectRatio(trimmed);
  return ratio === undefined ? undefined : nearestBucket(ratio);
}

const SIZE_PATTERN = /^(\d{1,5})\s*[x×*]\s*(\d{1,5})$/i;

/** Whether one side length is one the pipeline accepts. */
export function isValidSide(side: number): boolean {
  return (
    Number.isInteger(side) &&
    side >= LIMITS.minSide &&
    side <= LIMITS.maxSide &&
    side % LIMITS.sideMultiple === 0
  );
}

/** `WIDTHxHEIGHT` (x, X, × or *) within the pipeline's limits; else undefined. */
export function parseImageSize(text: string): ImageSize | undefined {
  const match = SIZE_PATTERN.exec(text.trim());
  if (!match) return undefined;
  const width = Number(match[1]);
  const height = Number(match[2]);
  return isValidSide(width) && isValidSide(height) ? { width, height } : undefined;
}
