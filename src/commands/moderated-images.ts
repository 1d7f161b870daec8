/**
 * How a result's images are shown once output moderation has looked at them: the one
 * place that turns an image's stored decision into what a view says, which buttons an image keeps,
 * and who may see an original. Platforms decide how a display looks (bots/); nothing here names one.
 */
import type { ImageRef } from "../requests/jobs.js";
import type { UserId } from "../requests/request.js";
import type { ButtonAction, ButtonSpec } from "./buttons.js";
import { encodeButton } from "./buttons.js";
import { moderationTexts } from "./texts.js";

/**
 * How everyone but the requester sees an image:
 * - `plain`: as it is (not flagged, moderation off, an exempt channel, or released by an admin);
 * - `spoiler`: behind a click that anyone may make (Discord's spoilers; where a platform has none,
 *   shown like `blur`);
 * - `blur`: a blurred copy; the original only for its requester (the "show" button) and the admins;
 * - `withheld`: not at all; its requester gets a private note, an admin may release it.
 */
export type ImageDisplay = "plain" | "spoiler" | "blur" | "withheld";

/** A result's image as views carry it: the stored reference and how it is shown. */
export interface ViewImage extends ImageRef {
  display: ImageDisplay;
}

export function displayOf(image: Pick<ImageRef, "moderation">): ImageDisplay {
  const moderation = image.moderation;
  if (!moderation || moderation.action === "none" || moderation.released) return "plain";
  return moderation.action === "withhold" ? "withheld" : moderation.action;
}

export function viewImages(images: readonly ImageRef[]): ViewImage[] {
  return images.map((image) => ({ ...image, display: displayOf(image) }));
}

/** 1-based numbers of the images not shown at all. */
export function withheldNumbers(images: readonly ViewImage[]): number[] {
  return images.filter((image) => image.display === "withheld").map((image) => image.index + 1);
}

/** Actions on one image of the result (vary, refine, upscale, show): undefined for the job's own. */
function imageIndexOf(action: ButtonAction): number | undefined {
  return "imageIndex" in action ? action.imageIndex : undefined;
}

/**
 * A result's buttons once moderated: a withheld image loses its buttons (its requester cannot see
 * what they would change), and a spoilered or blurred one gains "show" in its group, which gives
 * the requester the original privately.
 */
export function moderatedButtons(
  groups: readonly ButtonSpec[][],
  images: readonly ViewImage[],
  jobId: string,
): ButtonSpec[][] {
  const byIndex = new Map(images.map((image) => [image.index, image.display]));
  const single = images.length === 1;
  /** An image's Show goes in its first group only (an image may have several: canvas rows). */
  const shown = new Set<number>();
  const out: ButtonSpec[][] = [];
  for (const group of groups) {
    const indexes = new Set(group.map((button) => imageIndexOf(button.action)));
    const index = indexes.size === 1 ? [...indexes][0] : undefined;
    const display = index === undefined ? undefined : byIndex.get(index);
    if (display === "withheld") continue;
    const kept = group.filter((button) => {
      const each = imageIndexOf(button.action);
      return each === undefined || byIndex.get(each) !== "withheld";
    });
    if (index !== undefined && (display === "spoiler" || display === "blur") && !shown.has(index)) {
      shown.add(index);
      kept.push(showButton(jobId, index, single));
    }
    if (kept.length > 0) out.push(kept);
  }
  return out;
}

function showButton(jobId: string, imageIndex: number, single: boolean): ButtonSpec {
  const action: ButtonAction = { kind: "show", jobId, imageIndex };
  return {
    id: encodeButton(action),
    action,
    label: moderationTexts.showLabel(imageIndex + 1, single),
    style: "secondary",
  };
}

/**
 * Whether `viewer` may have an image's original bytes: anyone for a plain or spoilered image (a
 * spoiler only asks for a click), its requester and the admins for a blurred one, the admins alone
 * for a withheld one.
 */
export function mayHaveOriginal(
  display: ImageDisplay,
  requester: UserId,
  viewer: UserId | undefined,
  admin: boolean,
): boolean {
  if (admin || display === "plain" || display === "spoiler") return true;
  return display === "blur" && viewer === requester;
}
