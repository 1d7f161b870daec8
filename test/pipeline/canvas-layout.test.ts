/** The canvas layout: result sizes and where the source goes, for zoom out, pan and repaint. */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { SDXL_BUCKETS } from "../../src/commands/aspect.js";
import {
  BUTTON_ZOOM_FACTORS,
  CANVAS_STRENGTH,
  canvasLayout,
  PAN_BUCKETS,
  ZOOM_FACTORS,
} from "../../src/pipeline/canvas/index.js";
import { PAN_DIRECTIONS, type Rect } from "../../src/pipeline/types.js";
import { LIMITS } from "../../src/pipeline/validate.js";

function onGrid(rect: Rect): boolean {
  return [rect.x, rect.y, rect.width, rect.height].every((v) => Number.isInteger(v) && v % 8 === 0);
}

function inside(rect: Rect, width: number, height: number): boolean {
  return rect.x >= 0 && rect.y >= 0 && rect.x + rect.width <= width && rect.y + rect.height <= height;
}

describe("canvasLayout", () => {
  it("zoom out 2x keeps the size and centres the source at half size", () => {
    assert.deepEqual(canvasLayout(1024, 1024, { kind: "zoom_out", factor: 2 }), {
      width: 1024,
      height: 1024,
      placement: { x: 256, y: 256, width: 512, height: 512 },
    });
    assert.deepEqual(canvasLayout(1152, 896, { kind: "zoom_out", factor: 2 }), {
      width: 1152,
      height: 896,
      placement: { x: 288, y: 224, width: 576, height: 448 },
    });
  });

  it("zoom out 1.5x rounds sides to the latent grid and keeps the centre within a latent pixel", () => {
    const layout = canvasLayout(1024, 1024, { kind: "zoom_out", factor: 1.5 });
    // 1024 / 1.5 = 682.67 -> 680; margin 344 / 2 = 172 -> 168 (rounded down to the grid).
    assert.deepEqual(layout.placement, { x: 168, y: 168, width: 680, height: 680 });
    for (const factor of [1, 1.1, 1.25, 1.5, 1.75, 1.99, 2]) {
      for (const [w, h] of [
        [1024, 1024],
        [1344, 768],
        [832, 1216],
        [512, 512],
        [64, 72],
      ] as const) {
        const { width, height, placement } = canvasLayout(w, h, { kind: "zoom_out", factor });
        assert.equal(width, w);
        assert.equal(height, h);
        assert.ok(onGrid(placement), `${w}x${h} /${factor}: ${JSON.stringify(placement)}`);
        assert.ok(inside(placement, w, h));
        assert.ok(Math.abs(placement.width - w / factor) <= 4, `width ${placement.width} vs ${w / factor}`);
        const centre = placement.x + placement.width / 2;
        assert.ok(Math.abs(centre - w / 2) <= 4, `centre ${centre}`);
      }
    }
    assert.deepEqual(canvasLayout(1024, 768, { kind: "zoom_out", factor: 1 }).placement, {
      x: 0,
      y: 0,
      width: 1024,
      height: 768,
    });
  });

  it("pan right on a square picks the 3:2 bucket and keeps the source's full height on the left", () => {
    const layout = canvasLayout(1024, 1024, { kind: "pan", direction: "right" });
    assert.deepEqual(layout, {
      width: 1216,
      height: 832,
      placement: { x: 0, y: 0, width: 832, height: 832 },
    });
    assert.deepEqual(canvasLayout(1024, 1024, { kind: "pan", direction: "left" }).placement, {
      x: 384,
      y: 0,
      width: 832,
      height: 832,
    });
  });

  it("pan up and down pick a portrait bucket and keep the source's full width", () => {
    assert.deepEqual(canvasLayout(1024, 1024, { kind: "pan", direction: "up" }), {
      width: 832,
      height: 1216,
      placement: { x: 0, y: 384, width: 832, height: 832 },
    });
    assert.deepEqual(canvasLayout(1024, 1024, { kind: "pan", direction: "down" }).placement, {
      x: 0,
      y: 0,
      width: 832,
      height: 832,
    });
  });

  it("pan picks the bucket nearest to the source extended by a half", () => {
    // 1344x768 extended right: 2016x768, ratio 2.63 -> 21:9 (1536x640); the source fills its height.
    assert.deepEqual(canvasLayout(1344, 768, { kind: "pan", direction: "right" }), {
      width: 1536,
      height: 640,
      placement: { x: 0, y: 0, width: 1120, height: 640 },
    });
    // A small upload is scaled up to the bucket: 512x512 panned left is 1216x832 like 1024x1024.
    assert.deepEqual(canvasLayout(512, 512, { kind: "pan", direction: "left" }).placement, {
      x: 384,
      y: 0,
      width: 832,
      height: 832,
    });
  });

  it("caps the kept share at 3/4 when no bucket is wide enough, centring the source across", () => {
    // 21:9 panned right: the nearest bucket is 21:9 itself; the source is scaled to 3/4 of its width.
    const layout = canvasLayout(1536, 640, { kind: "pan", direction: "right" });
    assert.equal(layout.width, 1536);
    assert.equal(layout.height, 640);
    assert.deepEqual(layout.placement, { x: 0, y: 80, width: 1152, height: 480 });
  });

  it("always gives a bucket within the limits, a strip to paint, and a placement on the grid", () => {
    for (const [w, h] of [
      [1024, 1024],
      [1152, 896],
      [896, 1152],
      [1216, 832],
      [1344, 768],
      [1536, 640],
      [640, 1536],
      [64, 2048],
      [2048, 64],
      [600, 400],
    ] as const) {
      for (const direction of PAN_DIRECTIONS) {
        const { width, height, placement } = canvasLayout(w, h, { kind: "pan", direction });
        const label = `${w}x${h} ${direction}: ${width}x${height} ${JSON.stringify(placement)}`;
        assert.ok(
          PAN_BUCKETS.some((b) => b.width === width && b.height === height),
          label,
        );
        assert.ok(width >= LIMITS.minSide && width <= LIMITS.maxSide && height <= LIMITS.maxSide, label);
        assert.ok(onGrid(placement) && inside(placement, width, height), label);
        const horizontal = direction === "left" || direction === "right";
        const strip = horizontal ? width - placement.width : height - placement.height;
        assert.ok(strip >= 8, label);
        // The kept side sits against the edge opposite to the pan.
        if (direction === "right") assert.equal(placement.x, 0, label);
        if (direction === "left") assert.equal(placement.x + placement.width, width, label);
        if (direction === "down") assert.equal(placement.y, 0, label);
        if (direction === "up") assert.equal(placement.y + placement.height, height, label);
        // The source's aspect survives within the grid's rounding.
        const aspect = placement.width / placement.height;
        assert.ok(Math.abs(Math.log(aspect / (w / h))) < 0.2, `${label}: aspect ${aspect}`);
      }
    }
  });

  it("repaint keeps the size and places the source over the whole image", () => {
    assert.deepEqual(
      canvasLayout(1216, 832, { kind: "repaint", rects: [{ x: 0, y: 0, width: 8, height: 8 }] }),
      {
        width: 1216,
        height: 832,
        placement: { x: 0, y: 0, width: 1216, height: 832 },
      },
    );
  });

  it("uses the aspect option's buckets, and sane defaults", () => {
    assert.deepEqual(
      PAN_BUCKETS.map((b) => [b.width, b.height]),
      SDXL_BUCKETS.map((b) => [b.width, b.height]),
    );
    assert.deepEqual(ZOOM_FACTORS, { min: 1, max: 2 });
    assert.deepEqual([...BUTTON_ZOOM_FACTORS], [2, 1.5]);
    for (const strength of Object.values(CANVAS_STRENGTH)) assert.ok(strength > 0 && strength <= 1);
  });
});
