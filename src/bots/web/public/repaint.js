// The "Repaint region" editor: mark rectangles or brush strokes over a result image (mouse, pen or
// touch, or the keyboard), say what should be there, and get the API's repaint body. The dialog's
// markup is in index.html (#repaint); geometry lives in canvas-shapes.js.
import {
  BRUSH,
  centredRect,
  describeShapes,
  isRegion,
  KEY_STEP,
  nudgeRect,
  paintShapes,
  rectFromCorners,
  rectsOf,
  toImagePoint,
} from "./canvas-shapes.js";
import { maskPng, pngDataUrl, whiteOf } from "./mask-png.js";

const OVERLAY_TINT = "rgb(255 122 89)";
const OVERLAY_ALPHA = 0.5;
/** The strength slider's starting value: redraw most of the region, keep a hint of its layout. */
export const REPAINT_STRENGTH = 0.8;

const byId = (id) => document.getElementById(id);

/**
 * The editor over the #repaint dialog. `send(body)` posts the repaint action and resolves to an
 * error message, or undefined when the new job was accepted (the dialog then closes).
 */
export function createRepaintEditor({ send }) {
  const dialog = byId("repaint");
  const form = byId("repaint-form");
  const stage = byId("repaint-stage");
  const image = byId("repaint-image");
  const canvas = byId("repaint-canvas");
  const promptField = byId("repaint-prompt");
  const strength = byId("repaint-strength");
  const strengthValue = byId("repaint-strength-value");
  const brush = byId("repaint-brush");
  const status = byId("repaint-status");
  const error = byId("repaint-error");
  const sendButton = byId("repaint-send");
  const undoButton = byId("repaint-undo");
  const clearButton = byId("repaint-clear");

  /** What is being edited: `{ index, width, height, defaultPrompt, opener }`. */
  let target;
  /** Finished shapes, in image pixels. */
  let shapes = [];
  /** The shape a pointer is drawing now: `{ pointerId, shape, from }`. */
  let draft;
  /** Where the overlay is painted before it is laid over the image, at the image's size. */
  const layer = new OffscreenCanvas(1, 1);

  brush.min = String(BRUSH.min);
  brush.max = String(BRUSH.max);
  brush.step = String(BRUSH.step);
  brush.value = String(BRUSH.initial);

  const tool = () => form.elements.tool.value;
  // The brush's size matters only to the brush.
  for (const radio of form.elements.tool) {
    radio.addEventListener("change", () => {
      brush.closest("label").hidden = tool() !== "brush";
    });
  }
  const context = () => canvas.getContext("2d");

  function redraw() {
    const ctx = context();
    ctx.clearRect(0, 0, canvas.width, canvas.height);
    const all = draft ? [...shapes, draft.shape] : shapes;
    // Tint on an opaque layer first, so overlapping strokes do not darken each other.
    const layerContext = layer.getContext("2d");
    layerContext.clearRect(0, 0, layer.width, layer.height);
    paintShapes(layerContext, all, OVERLAY_TINT);
    ctx.globalAlpha = OVERLAY_ALPHA;
    ctx.drawImage(layer, 0, 0);
    ctx.globalAlpha = 1;
    ctx.setLineDash([12, 8]);
    ctx.lineWidth = Math.max(2, canvas.width / 400);
    ctx.strokeStyle = "white";
    for (const shape of all) {
      if (shape.kind === "rect") ctx.strokeRect(shape.x, shape.y, shape.width, shape.height);
    }
    ctx.setLineDash([]);
  }

  function changed() {
    redraw();
    status.textContent = describeShapes(shapes);
    const empty = shapes.length === 0;
    sendButton.disabled = empty;
    undoButton.disabled = empty;
    clearButton.disabled = empty;
  }

  // ── Pointer: drag a rectangle, or paint with the brush ────────────────────────────────────
  const pointOf = (event) =>
    toImagePoint(event.clientX, event.clientY, canvas.getBoundingClientRect(), canvas.width, canvas.height);

  canvas.addEventListener("pointerdown", (event) => {
    if (draft || (event.pointerType === "mouse" && event.button !== 0)) return;
    event.preventDefault();
    canvas.setPointerCapture(event.pointerId);
    const point = pointOf(event);
    const shape =
      tool() === "brush"
        ? { kind: "stroke", size: Number(brush.value), points: [point] }
        : { kind: "rect", ...rectFromCorners(point, point, canvas.width, canvas.height) };
    draft = { pointerId: event.pointerId, shape, from: point };
    redraw();
  });
  canvas.addEventListener("pointermove", (event) => {
    if (draft?.pointerId !== event.pointerId) return;
    const point = pointOf(event);
    if (draft.shape.kind === "stroke") draft.shape.points.push(point);
    else draft.shape = { kind: "rect", ...rectFromCorners(draft.from, point, canvas.width, canvas.height) };
    redraw();
  });
  canvas.addEventListener("pointerup", (event) => {
    if (draft?.pointerId !== event.pointerId) return;
    const { shape } = draft;
    draft = undefined;
    if (shape.kind === "stroke" || isRegion(shape)) shapes = [...shapes, shape];
    changed();
  });
  canvas.addEventListener("pointercancel", (event) => {
    if (draft?.pointerId !== event.pointerId) return;
    draft = undefined;
    redraw();
  });

  // ── Keyboard: Enter adds a rectangle, arrows move it (Shift: resize), Ctrl+Z undoes ──────
  const ARROWS = { ArrowLeft: [-1, 0], ArrowRight: [1, 0], ArrowUp: [0, -1], ArrowDown: [0, 1] };
  canvas.addEventListener("keydown", (event) => {
    const last = shapes.at(-1);
    if (event.key === "Enter" || event.key === " ") {
      event.preventDefault();
      shapes = [...shapes, { kind: "rect", ...centredRect(canvas.width, canvas.height) }];
      changed();
    } else if (event.key in ARROWS && last?.kind === "rect") {
      event.preventDefault();
      const [dx, dy] = ARROWS[event.key];
      const moved = nudgeRect(
        last,
        dx * KEY_STEP,
        dy * KEY_STEP,
        event.shiftKey,
        canvas.width,
        canvas.height,
      );
      shapes = [...shapes.slice(0, -1), moved];
      changed();
    } else if ((event.key === "z" && (event.ctrlKey || event.metaKey)) || event.key === "Backspace") {
      event.preventDefault();
      undo();
    } else if (event.key === "Delete") {
      event.preventDefault();
      clear();
    }
  });

  function undo() {
    shapes = shapes.slice(0, -1);
    changed();
  }
  function clear() {
    shapes = [];
    changed();
  }
  undoButton.addEventListener("click", undo);
  clearButton.addEventListener("click", clear);
  strength.addEventListener("input", () => {
    strengthValue.textContent = Number(strength.value).toFixed(2);
  });

  /** The mask PNG (white = repaint) at the image's pixel size, as a data: URL. */
  async function maskDataUrl() {
    const mask = new OffscreenCanvas(canvas.width, canvas.height);
    const ctx = mask.getContext("2d", { willReadFrequently: true });
    ctx.fillStyle = "black";
    ctx.fillRect(0, 0, mask.width, mask.height);
    paintShapes(ctx, shapes, "white");
    const pixels = ctx.getImageData(0, 0, mask.width, mask.height).data;
    return pngDataUrl(await maskPng(whiteOf(pixels), mask.width, mask.height));
  }

  /** The API body: rectangles when only rectangles were drawn, else the mask. */
  async function body() {
    const rects = rectsOf(shapes);
    const text = promptField.value.trim();
    return {
      action: "repaint",
      index: target.index,
      ...(rects ? { rects } : { mask: await maskDataUrl() }),
      // Unchanged, the job's own prompt is used in full (the caption may shorten it).
      ...(text && text !== target.defaultPrompt ? { prompt: text } : {}),
      strength: Number(strength.value),
    };
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (!target || shapes.length === 0) return;
    sendButton.disabled = true;
    error.textContent = "";
    try {
      const problem = await send(await body());
      if (problem) error.textContent = problem;
      else dialog.close();
    } finally {
      sendButton.disabled = shapes.length === 0;
    }
  });
  promptField.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      form.requestSubmit();
    }
  });
  dialog.addEventListener("close", () => {
    const opener = target?.opener;
    target = undefined;
    draft = undefined;
    shapes = [];
    image.removeAttribute("src");
    opener?.focus();
  });

  /** Opens the editor on one result image (`{ index, url, width, height }`). */
  function open({ image: source, prompt, alt, opener }) {
    target = {
      index: source.index,
      width: source.width,
      height: source.height,
      defaultPrompt: prompt,
      opener,
    };
    shapes = [];
    draft = undefined;
    canvas.width = layer.width = source.width;
    canvas.height = layer.height = source.height;
    // The stage keeps the image's shape (style.css fits it in the dialog); image and canvas fill it.
    stage.style.setProperty("--ratio", String(source.width / source.height));
    image.src = source.url;
    image.alt = alt;
    promptField.value = prompt;
    strength.value = String(REPAINT_STRENGTH);
    strengthValue.textContent = REPAINT_STRENGTH.toFixed(2);
    error.textContent = "";
    byId("repaint-size").textContent = `${source.width} × ${source.height}`;
    changed();
    dialog.showModal();
    canvas.focus();
  }

  return { open };
}
