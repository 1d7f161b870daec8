// The repaint editor's geometry: shapes in the image's own pixels and what the API gets from them.
// Pure functions, no DOM (the page and the Node tests import the same file).

/** A dragged rectangle smaller than this (image pixels, either side) is a slip, not a region. */
export const MIN_RECT_SIDE = 8;
/** How far one arrow key press moves or resizes the keyboard's rectangle (Shift: resize). */
export const KEY_STEP = 16;
/** Brush diameters offered, in image pixels. */
export const BRUSH = { min: 16, max: 256, step: 8, initial: 96 };

const clamp = (value, min, max) => Math.min(max, Math.max(min, value));

/**
 * A pointer position in image pixels: `box` is where the drawing surface is on screen
 * (getBoundingClientRect), `width`/`height` the image's pixel size. Clamped to the image.
 */
export function toImagePoint(clientX, clientY, box, width, height) {
  return {
    x: clamp(((clientX - box.left) * width) / box.width, 0, width),
    y: clamp(((clientY - box.top) * height) / box.height, 0, height),
  };
}

/** The rectangle two corners span, in whole pixels that cover both, inside a width×height image. */
export function rectFromCorners(a, b, width, height) {
  const x0 = clamp(Math.floor(Math.min(a.x, b.x)), 0, width);
  const y0 = clamp(Math.floor(Math.min(a.y, b.y)), 0, height);
  const x1 = clamp(Math.ceil(Math.max(a.x, b.x)), 0, width);
  const y1 = clamp(Math.ceil(Math.max(a.y, b.y)), 0, height);
  return { x: x0, y: y0, width: x1 - x0, height: y1 - y0 };
}

export function isRegion(rect) {
  return rect.width >= MIN_RECT_SIDE && rect.height >= MIN_RECT_SIDE;
}

/** The keyboard's starting region: half the image's sides, in its centre (whole pixels). */
export function centredRect(width, height) {
  const w = Math.round(width / 2);
  const h = Math.round(height / 2);
  return { x: Math.round((width - w) / 2), y: Math.round((height - h) / 2), width: w, height: h };
}

/**
 * A rectangle moved by (dx, dy), or with its size changed by (dx, dy) when `resize`, kept inside
 * the image and at least MIN_RECT_SIDE on each side.
 */
export function nudgeRect(rect, dx, dy, resize, width, height) {
  if (resize) {
    return {
      ...rect,
      width: clamp(rect.width + dx, MIN_RECT_SIDE, width - rect.x),
      height: clamp(rect.height + dy, MIN_RECT_SIDE, height - rect.y),
    };
  }
  return {
    ...rect,
    x: clamp(rect.x + dx, 0, width - rect.width),
    y: clamp(rect.y + dy, 0, height - rect.height),
  };
}

/**
 * The API's `rects` when every shape is a rectangle; undefined when a brush stroke needs a mask.
 * Shapes: `{kind: "rect", x, y, width, height}` or `{kind: "stroke", size, points: [{x, y}, …]}`.
 */
export function rectsOf(shapes) {
  if (shapes.length === 0 || !shapes.every((shape) => shape.kind === "rect")) return undefined;
  return shapes.map(({ x, y, width, height }) => ({ x, y, width, height }));
}

/** A short description of the shapes, for the editor's status line (and screen readers). */
export function describeShapes(shapes) {
  if (shapes.length === 0) return "Nothing marked yet.";
  const rects = shapes.filter((shape) => shape.kind === "rect");
  const strokes = shapes.length - rects.length;
  const parts = [];
  if (rects.length === 1) {
    const r = rects[0];
    parts.push(`a ${r.width}×${r.height} rectangle at ${r.x}, ${r.y}`);
  } else if (rects.length > 1) parts.push(`${rects.length} rectangles`);
  if (strokes > 0) parts.push(`${strokes} brush stroke${strokes === 1 ? "" : "s"}`);
  return `Marked: ${parts.join(" and ")}.`;
}

/**
 * Draws the shapes onto a 2D context in image pixels, filled with `colour` (the mask: white;
 * the overlay: a tint). Strokes are round-capped lines of their size (a dot for a single point).
 */
export function paintShapes(context, shapes, colour) {
  context.save();
  context.fillStyle = colour;
  context.strokeStyle = colour;
  context.lineCap = "round";
  context.lineJoin = "round";
  for (const shape of shapes) {
    if (shape.kind === "rect") {
      context.fillRect(shape.x, shape.y, shape.width, shape.height);
      continue;
    }
    const [first, ...rest] = shape.points;
    if (!first) continue;
    context.lineWidth = shape.size;
    context.beginPath();
    context.moveTo(first.x, first.y);
    // A single point: a zero-length segment, which a round cap draws as a dot.
    for (const point of rest.length > 0 ? rest : [first]) context.lineTo(point.x, point.y);
    context.stroke();
  }
  context.restore();
}

/** Where a result's source image sits, in percent of the result (for the seam outline), or undefined. */
export function seamBox(source, width, height) {
  if (!source || !(width > 0 && height > 0)) return undefined;
  const whole = source.x <= 0 && source.y <= 0 && source.width >= width && source.height >= height;
  if (whole) return undefined; // a repaint keeps the whole frame: no seam to show
  const percent = (value, of) => `${(100 * value) / of}%`;
  return {
    left: percent(source.x, width),
    top: percent(source.y, height),
    width: percent(source.width, width),
    height: percent(source.height, height),
  };
}
