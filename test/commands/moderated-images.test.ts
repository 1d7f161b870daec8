import assert from "node:assert/strict";
import { test } from "node:test";
import { resultButtons } from "../../src/commands/buttons.js";
import { parseImagine } from "../../src/commands/imagine.js";
import {
  displayOf,
  mayHaveOriginal,
  moderatedButtons,
  type ViewImage,
  viewImages,
} from "../../src/commands/moderated-images.js";
import { moderationTexts } from "../../src/commands/texts.js";
import type { ImageModeration, ImageRef } from "../../src/requests/jobs.js";
import { alice, plainConfig } from "./support.js";

const flagged = (action: ImageModeration["action"], released = false): ImageModeration => ({
  flagged: action !== "none",
  score: 0.9,
  label: "Porn",
  action,
  ...(released ? { released: { byUserId: "discord:admin", at: 1 } } : {}),
});

function image(index: number, moderation?: ImageModeration): ImageRef {
  return {
    id: `job1-${index}`,
    jobId: "job1",
    index,
    seed: String(7 + index),
    mime: "image/png",
    width: 1024,
    height: 1024,
    deleted: false,
    ...(moderation ? { moderation } : {}),
  };
}

test("an image's display follows its stored action; a released or unmoderated one is plain", () => {
  assert.equal(displayOf(image(0)), "plain");
  assert.equal(displayOf(image(0, flagged("none"))), "plain");
  assert.equal(displayOf(image(0, flagged("spoiler"))), "spoiler");
  assert.equal(displayOf(image(0, flagged("blur"))), "blur");
  assert.equal(displayOf(image(0, flagged("withhold"))), "withheld");
  assert.equal(displayOf(image(0, flagged("withhold", true))), "plain");
});

test("who may have an original: anyone for plain and spoiler, the requester for blur, admins for all", () => {
  const cases: Array<[ViewImage["display"], string | undefined, boolean, boolean]> = [
    ["plain", undefined, false, true],
    ["spoiler", "discord:bob", false, true],
    ["blur", "discord:alice", false, true],
    ["blur", "discord:bob", false, false],
    ["blur", undefined, false, false],
    ["blur", "discord:bob", true, true],
    ["withheld", "discord:alice", false, false],
    ["withheld", "discord:bob", true, true],
  ];
  for (const [display, viewer, admin, expected] of cases) {
    assert.equal(
      mayHaveOriginal(display, "discord:alice", viewer as `discord:${string}` | undefined, admin),
      expected,
      `${display} for ${viewer ?? "anonymous"}${admin ? " (admin)" : ""}`,
    );
  }
});

test("a result's buttons: a withheld image loses its group, a hidden one gains Show, the job's own stay", () => {
  const request = parseImagine({ text: "a fox --count 3" }, alice, plainConfig, () => 1n);
  const groups = resultButtons("job1", request);
  const images = viewImages([
    image(0, flagged("none")),
    image(1, flagged("blur")),
    image(2, flagged("withhold")),
  ]);
  const labels = moderatedButtons(groups, images, "job1").map((group) => group.map((button) => button.label));
  assert.deepEqual(labels, [
    ["V1 subtle", "V1 strong", "Refine 1", "Upscale 1"],
    ["Zoom Out 2× (1)", "Zoom Out 1.5× (1)"],
    ["⬅️ 1", "➡️ 1", "⬆️ 1", "⬇️ 1"],
    // Show once per image, in its first group; the canvas groups of a hidden image stay.
    ["V2 subtle", "V2 strong", "Refine 2", "Upscale 2", "👁️ Show 2"],
    ["Zoom Out 2× (2)", "Zoom Out 1.5× (2)"],
    ["⬅️ 2", "➡️ 2", "⬆️ 2", "⬇️ 2"],
    ["🔄 Re-roll", "🗑️ Delete"],
  ]);
  const show = moderatedButtons(groups, images, "job1")[3]!.at(-1)!;
  assert.deepEqual(show.action, { kind: "show", jobId: "job1", imageIndex: 1 });
  assert.equal(show.id, "easel:1:show:job1:1");
  // Unmoderated results keep their buttons exactly.
  assert.deepEqual(moderatedButtons(groups, viewImages([image(0), image(1), image(2)]), "job1"), groups);
});

test("the withheld texts name the images, in the singular or plural", () => {
  assert.equal(moderationTexts.withheldLine([1], 1), "The image was withheld by the content filter.");
  assert.equal(moderationTexts.withheldLine([1, 2], 2), "The images were withheld by the content filter.");
  assert.equal(moderationTexts.withheldLine([2], 3), "Image 2 was withheld by the content filter.");
  assert.equal(
    moderationTexts.withheldLine([1, 3], 4),
    "Images 1 and 3 were withheld by the content filter.",
  );
  assert.match(
    moderationTexts.withheldNote([2, 3, 4], 4, "job1"),
    /^Images 2, 3 and 4 of your result \(job `job1`\) were withheld .* look at them and release them\.$/,
  );
  assert.match(
    moderationTexts.withheldNote([1], 1, "job1"),
    /^Your image \(job `job1`\) was withheld .* is not shown/,
  );
});
