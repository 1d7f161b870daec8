/**
 * A deleted result's message on a platform: it goes (the bot may delete its own messages); should
 * the platform refuse, it is replaced by the deleted view's text with nothing left to click or
 * download, so the caption and buttons do not stay. Every adapter removes results this way.
 */
import type { Logger } from "pino";
import type { JobView } from "../commands/chat.js";

export interface PostedResult {
  /** Deletes the result's message (and its files, where they are separate). */
  remove(): Promise<void>;
  /** Edits the message to `view` (the deleted view: its text, no buttons, no images). */
  replace(view: JobView): Promise<void>;
}

/** What became of the message: removed, replaced by the deleted view, or left (both refused). */
export async function removeDeletedResult(
  result: PostedResult,
  view: JobView,
  logger: Logger,
): Promise<"removed" | "replaced" | "left"> {
  try {
    await result.remove();
    return "removed";
  } catch (error) {
    logger.warn({ err: error, jobId: view.jobId }, "could not delete a deleted result's message; editing it");
  }
  try {
    await result.replace(view);
    return "replaced";
  } catch (error) {
    logger.warn(
      { err: error, jobId: view.jobId },
      "could not edit a deleted result's message; it still shows",
    );
    return "left";
  }
}
