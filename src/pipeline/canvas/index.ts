/** Zoom out, pan and repaint: the canvas geometry, masks, the per-step blend and the compositing. */
export {
  BUTTON_ZOOM_FACTORS,
  CANVAS_STRENGTH,
  type CanvasLayout,
  canvasLayout,
  MAX_KEPT_SHARE,
  PAN_BUCKETS,
  PAN_SHARE,
  ZOOM_FACTORS,
} from "./layout.js";
export {
  binarizeGrey,
  FEATHER_PX,
  featherMask,
  keptRect,
  latentMask,
  outsideMask,
  rectsMask,
} from "./mask.js";
export { MAX_MASK_BYTES, MAX_RECT_COORDINATE, MAX_REPAINT_RECTS, validateCanvas } from "./validate-canvas.js";
