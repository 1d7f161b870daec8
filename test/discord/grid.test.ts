/** The service's button groups in Discord's grid of 5 rows of 5 (bots/discord/render.ts). */
import assert from "node:assert/strict";
import { test } from "node:test";
import { buttonGrid } from "../../src/bots/discord/render.js";
import { resultButtons } from "../../src/commands/buttons.js";
import { parseImagine } from "../../src/commands/imagine.js";
import { moderatedButtons, type ViewImage } from "../../src/commands/moderated-images.js";
import { alice, config } from "../commands/support.js";

const groupsFor = (count: number) =>
  resultButtons("job1", { ...parseImagine({ text: "a fox" }, alice, config, () => 7n), count });

test("up to 4 images: a row per image and a last row with re-roll and delete", () => {
  const rows = buttonGrid(groupsFor(4));
  assert.equal(rows.length, 5);
  assert.deepEqual(
    rows.map((row) => row.map((button) => button.action.kind)),
    [...Array(4).fill(["vary", "vary", "refine", "upscale"]), ["reroll", "delete"]],
  );
});

test("more buttons than the grid holds: 5 a row, re-roll and delete kept, the last images' buttons left out", () => {
  const rows = buttonGrid(groupsFor(8));
  assert.equal(rows.length, 5);
  assert.ok(rows.every((row) => row.length <= 5));
  assert.deepEqual(
    rows.at(-1)!.map((button) => button.action.kind),
    ["reroll", "delete"],
  );
  assert.equal(rows.flat().length, 22);
});

test("one image: its row, a zoom-out row, a pan row and the job's row", () => {
  const rows = buttonGrid(groupsFor(1));
  assert.deepEqual(
    rows.map((row) => row.map((button) => button.label)),
    [
      ["Vary (subtle)", "Vary (strong)", "Refine", "Upscale"],
      ["Zoom Out 2×", "Zoom Out 1.5×"],
      ["⬅️", "➡️", "⬆️", "⬇️"],
      ["🔄 Re-roll", "🗑️ Delete"],
    ],
  );
});

test("a batch: the canvas rows give way, every image keeps its own row", () => {
  for (const count of [2, 3]) {
    const groups = groupsFor(count);
    assert.equal(groups.length, 3 * count + 1, "the service offers zoom and pan under each image");
    const rows = buttonGrid(groups);
    assert.deepEqual(
      rows.map((row) => row.map((button) => button.action.kind)),
      [...Array(count).fill(["vary", "vary", "refine", "upscale"]), ["reroll", "delete"]],
    );
  }
});

test("blurred images: Show joins its image's row, so one image keeps its canvas rows and a batch of 4 every Show", () => {
  const blurred = (count: number): ViewImage[] =>
    Array.from({ length: count }, (_, index) => ({
      id: `job1-${index}`,
      jobId: "job1",
      index,
      seed: String(7 + index),
      mime: "image/png" as const,
      width: 1024,
      height: 1024,
      deleted: false,
      display: "blur" as const,
    }));
  const kinds = (count: number) =>
    buttonGrid(moderatedButtons(groupsFor(count), blurred(count), "job1")).map((row) =>
      row.map((button) => button.action.kind),
    );
  const imageRow = ["vary", "vary", "refine", "upscale", "show"];
  assert.deepEqual(kinds(1), [
    imageRow,
    ["zoom", "zoom"],
    ["pan", "pan", "pan", "pan"],
    ["reroll", "delete"],
  ]);
  assert.deepEqual(kinds(4), [...Array(4).fill(imageRow), ["reroll", "delete"]]);
});
