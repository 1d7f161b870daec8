/**
 * What each button does on each state of its job: one table, which the chat service applies to
 * every press, so Discord, Slack, the web page and the API answer alike, and a press agrees with
 * the job's card (cancel while queued or running; result buttons on a kept result; none on a
 * failed, cancelled or deleted one). A press is `allowed`, answered for information (nothing to
 * do, nothing wrong: a cancel of a job that has ended), or refused with an error code.
 *
 * Who may press (the author, anyone, an admin) is `mayPress`'s business and is checked first;
 * whether a result's image is still to be had is checked after, when the rule allows the press.
 */
import type { ErrorCode } from "../errors.js";
import type { JobRecord, JobStatus } from "../requests/jobs.js";
import type { ButtonKind } from "./buttons.js";
import { buttonErrors, chatTexts } from "./texts.js";

/** A job's state as buttons see it: a deleted result is a state of its own. */
export type ButtonJobState = JobStatus | "deleted";

export type ButtonRule =
  | { kind: "allowed" }
  | { kind: "info"; text: () => string }
  | { kind: "refusal"; code: ErrorCode; text: () => string };

const allowed: ButtonRule = { kind: "allowed" };
const info = (text: () => string): ButtonRule => ({ kind: "info", text });
const refuse = (code: ErrorCode, text: () => string): ButtonRule => ({ kind: "refusal", code, text });

/**
 * What a press or an API action is: a button's kind, or a repaint (the web page and the API only:
 * a region cannot be drawn on a chat button, but it follows the same rules as one).
 */
export type ActionKind = ButtonKind | "repaint";

/** Vary, refine, upscale, zoom out, pan and repaint: they need one of the result's images. */
const IMAGE_BUTTON: Record<ButtonJobState, ButtonRule> = {
  queued: refuse("invalid_input", buttonErrors.notFinished),
  running: refuse("invalid_input", buttonErrors.notFinished),
  done: allowed,
  deleted: refuse("not_found", buttonErrors.deletedResult),
  failed: refuse("invalid_input", () => buttonErrors.noImages("failed")),
  cancelled: refuse("invalid_input", () => buttonErrors.noImages("cancelled")),
};

/** Button (or repaint) × job state → what a press does. */
export const BUTTON_RULES: Readonly<Record<ActionKind, Readonly<Record<ButtonJobState, ButtonRule>>>> = {
  cancel: {
    queued: allowed,
    running: allowed,
    done: info(() => buttonErrors.alreadyEnded("done")),
    deleted: info(() => buttonErrors.alreadyEnded("done")),
    failed: info(() => buttonErrors.alreadyEnded("failed")),
    cancelled: info(() => buttonErrors.alreadyEnded("cancelled")),
  },
  delete: {
    queued: refuse("invalid_input", buttonErrors.nothingToDelete),
    running: refuse("invalid_input", buttonErrors.nothingToDelete),
    done: allowed,
    deleted: info(chatTexts.alreadyDeleted),
    failed: refuse("invalid_input", () => buttonErrors.noImages("failed")),
    cancelled: refuse("invalid_input", () => buttonErrors.noImages("cancelled")),
  },
  reroll: {
    queued: refuse("invalid_input", buttonErrors.notFinished),
    running: refuse("invalid_input", buttonErrors.notFinished),
    done: allowed,
    deleted: refuse("not_found", buttonErrors.deletedResult),
    failed: refuse("invalid_input", () => buttonErrors.noResult("failed")),
    cancelled: refuse("invalid_input", () => buttonErrors.noResult("cancelled")),
  },
  vary: IMAGE_BUTTON,
  refine: IMAGE_BUTTON,
  upscale: IMAGE_BUTTON,
  zoom: IMAGE_BUTTON,
  pan: IMAGE_BUTTON,
  repaint: IMAGE_BUTTON,
  show: IMAGE_BUTTON,
};

export function buttonJobState(job: Pick<JobRecord, "status" | "deleted">): ButtonJobState {
  return job.status === "done" && job.deleted ? "deleted" : job.status;
}

/** What pressing `kind` on `job` does. */
export function buttonRule(kind: ActionKind, job: Pick<JobRecord, "status" | "deleted">): ButtonRule {
  return BUTTON_RULES[kind][buttonJobState(job)];
}
