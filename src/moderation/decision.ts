/**
 * From a classifier's class probabilities to what is done with an image: pure functions, the one
 * place the unsafe score, the flag and the action are worked out.
 */
import type { ImageModeration, ModerationAction } from "../requests/jobs.js";
import type { Requester } from "../requests/request.js";
import type { ModerationConfig } from "./settings.js";

/** nsfwjs' five classes, in its own order. */
export const NSFW_CLASSES = ["Drawing", "Hentai", "Neutral", "Porn", "Sexy"] as const;
export type NsfwClass = (typeof NSFW_CLASSES)[number];

/** The classes that make an image unsafe; Drawing and Neutral are the safe ones. */
export const UNSAFE_CLASSES: readonly NsfwClass[] = ["Hentai", "Porn", "Sexy"];

/** A probability per class, summing to 1 (the classifier's softmax). */
export type ClassScores = Record<NsfwClass, number>;

/**
 * The unsafe score: the probability that the image is of an unsafe class (Porn + Hentai + Sexy),
 * clamped into [0, 1] against float rounding. Summing the classes makes an image the classifier
 * splits between Porn and Sexy as unsafe as one it gives wholly to either.
 */
export function unsafeScore(scores: ClassScores): number {
  const sum = UNSAFE_CLASSES.reduce((total, name) => total + scores[name], 0);
  return Math.min(1, Math.max(0, sum));
}

/** The most probable class (the first in NSFW_CLASSES' order on a tie). */
export function topClass(scores: ClassScores): NsfwClass {
  let best: NsfwClass = NSFW_CLASSES[0];
  for (const name of NSFW_CLASSES) if (scores[name] > scores[best]) best = name;
  return best;
}

/**
 * Whether a score is flagged at a threshold: score ≥ threshold, except that a threshold of 1 flags
 * nothing (a score can reach 1.0 in float32), so that 0 flags every image and 1 none.
 */
export function isFlagged(score: number, threshold: number): boolean {
  return threshold < 1 && score >= threshold;
}

/**
 * The decision for one image, made once when it is made: flagged by the threshold; the mode's
 * action for a flagged image, "none" otherwise, and "none" in a channel marked NSFW unless the
 * operator moderates those too. The score is kept to 4 decimals: what a job JSON shows and the
 * store keeps, with no float32 noise.
 */
export function decideModeration(
  scores: ClassScores,
  config: Pick<ModerationConfig, "mode" | "threshold" | "nsfwChannels">,
  requester: Pick<Requester, "nsfwChannel">,
): ImageModeration {
  const score = Math.round(unsafeScore(scores) * 10_000) / 10_000;
  const flagged = isFlagged(score, config.threshold);
  const exempt = requester.nsfwChannel === true && !config.nsfwChannels;
  const action: ModerationAction = !flagged || exempt || config.mode === "off" ? "none" : config.mode;
  return { flagged, score, label: topClass(scores), action };
}
