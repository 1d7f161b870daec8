/**
 * The checks on a canvas action (zoom out, pan, repaint) that need no decoding, run with the rest
 * of validateGenerateParams before anything is queued. Rectangles are checked against the source's
 * size later, once it is decoded (canvas/mask.ts): a rectangle that covers none of it is refused then.
 */
import { InvalidInputError } from "../../errors.js";
import { sniffImageFormat } from "../image/format.js";
import { type GenerateParams, PAN_DIRECTIONS } from "../types.js";
import { ZOOM_FACTORS } from "./layout.js";

/** Most rectangles one repaint may list. */
export const MAX_REPAINT_RECTS = 64;
/** Largest coordinate or side of a repaint rectangle: the largest source image's side and then some. */
export const MAX_RECT_COORDINATE = 16_384;
/** Largest mask file, in bytes (the source image's limit, image/source.ts). */
export const MAX_MASK_BYTES = 32 * 1024 * 1024;

export function validateCanvas(params: GenerateParams): void {
  const canvas = params.canvas;
  if (canvas === undefined) return;
  if (typeof canvas !== "object" || canvas === null) {
    throw new InvalidInputError("Unknown canvas action; choose zoom_out, pan or repaint.", "canvas");
  }
  if (!params.source) {
    throw new InvalidInputError("Zoom out, pan and repaint need a source image.", "canvas");
  }
  if (params.source.upscale !== 1) {
    throw new InvalidInputError("Zoom out, pan and repaint cannot upscale the image as well.", "canvas");
  }
  switch (canvas.kind) {
    case "zoom_out": {
      const factor = canvas.factor;
      if (
        typeof factor !== "number" ||
        !Number.isFinite(factor) ||
        factor < ZOOM_FACTORS.min ||
        factor > ZOOM_FACTORS.max
      ) {
        throw new InvalidInputError(
          `Zoom must be a number from ${ZOOM_FACTORS.min} to ${ZOOM_FACTORS.max}; got ${String(factor)}.`,
          "zoom",
        );
      }
      return;
    }
    case "pan":
      if (!PAN_DIRECTIONS.includes(canvas.direction)) {
        throw new InvalidInputError(
          `Unknown pan direction "${String(canvas.direction)}"; choose one of ${PAN_DIRECTIONS.join(", ")}.`,
          "canvas",
        );
      }
      return;
    case "repaint":
      validateRepaint(canvas);
      return;
    default:
      throw new InvalidInputError(
        `Unknown canvas action "${String((canvas as { kind: unknown }).kind)}"; choose zoom_out, pan or repaint.`,
        "canvas",
      );
  }
}

function validateRepaint(canvas: { mask?: unknown; rects?: unknown }): void {
  const hasMask = canvas.mask !== undefined;
  const hasRects = canvas.rects !== undefined;
  if (hasMask === hasRects) {
    throw new InvalidInputError(
      "Repaint takes either a mask image or rectangles, not both or neither.",
      "mask",
    );
  }
  if (hasMask) {
    const mask = canvas.mask;
    if (!(mask instanceof Uint8Array) || mask.length === 0 || !sniffImageFormat(mask)) {
      throw new InvalidInputError("The mask is not a PNG, JPEG or WebP image.", "mask");
    }
    if (mask.length > MAX_MASK_BYTES) {
      throw new InvalidInputError(
        `The mask file is larger than ${MAX_MASK_BYTES / (1024 * 1024)} MB.`,
        "mask",
      );
    }
    return;
  }
  const rects = canvas.rects;
  if (!Array.isArray(rects) || rects.length === 0) {
    throw new InvalidInputError("Repaint needs at least one rectangle.", "mask");
  }
  if (rects.length > MAX_REPAINT_RECTS) {
    throw new InvalidInputError(
      `Repaint takes at most ${MAX_REPAINT_RECTS} rectangles; got ${rects.length}.`,
      "mask",
    );
  }
  for (const [i, rect] of rects.entries()) {
    const fields = ["x", "y", "width", "height"] as const;
    const bad = fields.find((field) => {
      const value = (rect as Record<string, unknown> | null)?.[field];
      const least = field === "width" || field === "height" ? 1 : 0;
      return (
        typeof value !== "number" || !Number.isInteger(value) || value < least || value > MAX_RECT_COORDINATE
      );
    });
    if (bad) {
      throw new InvalidInputError(
        `Rectangle ${i + 1}: x and y must be whole numbers from 0, width and height from 1, all at most ${MAX_RECT_COORDINATE}.`,
        "mask",
      );
    }
  }
}
