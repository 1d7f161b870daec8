/**
 * The chat service: the one place that decides what a chat user sees. Adapters (Discord, Slack,
 * the web chat, the CLI) are transport only: they turn a platform event into `imagine` or `press`,
 * render the views returned here as platform messages, and send them.
 */
import type { ErrorCode } from "../errors.js";
import type { EncodedImage } from "../pipeline/types.js";
import type { ImageRef, JobStatus } from "../requests/jobs.js";
import type { Requester, UserId, Where, Who } from "../requests/request.js";
import type { ButtonSpec } from "./buttons.js";

/** What a job's message shows right now. Texts use `**bold**` and `code` spans (see texts.ts). */
export interface JobView {
  jobId: string;
  state: JobStatus;
  /** Who asked and where the answer goes (channel, message to edit). */
  requester: Requester;
  /** The whole message text: the status line, or the caption of a result. */
  text: string;
  /** Queued: the 1-based place in line (1 = next). */
  position?: number;
  /** Running: the last finished step of `total`. */
  step?: number;
  total?: number;
  /** Running: the latest live preview (a small JPEG of image 0), when there is one. */
  preview?: EncodedImage;
  /** Done: the images, in order; fetch their bytes with `ChatService.image`. */
  images: ImageRef[];
  /** Rows of buttons: cancel only while queued or running; result buttons when done. */
  buttons: ButtonSpec[][];
  /** The job has ended: no further view will follow. */
  final: boolean;
  /**
   * The result was deleted by its author or an admin: its images are gone from the bot. Adapters
   * remove the posted message (or replace it with `text`, which says who deleted it).
   */
  deleted?: { byUserId: UserId; byAuthor: boolean };
}

/** The answer to a command or a button press. */
export type ChatReply =
  /** Only the asker sees it (Discord ephemeral, Slack chat.postEphemeral, inline on the web). */
  | {
      kind: "private";
      text: string;
      code?: ErrorCode;
      /** A quota or cooldown refusal (code `queue_full`): when the user may ask again (ms since the epoch). */
      retryAt?: number;
      /**
       * A delete button was pressed and the result is gone: the job's last view (with `deleted`
       * set). Adapters remove the result's message, or edit it to this view, and answer `text`.
       */
      deleted?: JobView;
    }
  /** A new job was queued: post its first view publicly, then follow `watch(jobId)`. */
  | { kind: "job"; jobId: string; view: JobView };

export interface ImagineInput {
  /** The prompt with any flags: Discord's `prompt` option, or Slack's whole command text. */
  text: string;
  /** Structured options by option name (not `prompt`); absent entries are skipped. */
  options?: Record<string, string | number | boolean>;
  /** An uploaded picture to refine (img2img) instead of starting from noise. */
  image?: { data: Uint8Array; name?: string };
}

export interface WatchOptions {
  /**
   * At most one non-final view per this many milliseconds (progress is coalesced: the newest view
   * wins); the final view is always delivered at once. 0 = every change.
   */
  minIntervalMs?: number;
}

export interface ChatService {
  /** `/imagine`: help, a private error (nothing queued), or the accepted job's first view. */
  imagine(input: ImagineInput, who: Who, where: Where): Promise<ChatReply>;
  /** A button press (by its id): a private answer, or a new job (re-roll, vary, refine, upscale). */
  press(buttonId: string, who: Who, where: Where): Promise<ChatReply>;
  /** The help text, with the flags this bot accepts. */
  help(): string;
  /** A job's current view; undefined for an unknown job. */
  view(jobId: string): Promise<JobView | undefined>;
  /**
   * Calls `onView` with the job's current view at once, then with every change until the final
   * view; returns the unsubscribe function.
   */
  watch(jobId: string, onView: (view: JobView) => void, options?: WatchOptions): () => void;
  /**
   * After a restart: jobs that were queued or running. A requeued job's view (follow it with
   * `watch`), or a failed one's final view; its old message may no longer be editable.
   */
  onRecovered(listener: (view: JobView) => void): () => void;
  /** A finished image's bytes (PNG with its parameters), or undefined once swept. */
  image(imageId: string): Promise<EncodedImage | undefined>;
  /** Records where a job's result was posted (e.g. `discord:<channel>/<message>`). */
  posted(jobId: string, where: string): Promise<void>;
  /** A user's latest jobs' views, newest first. */
  history(userId: UserId, limit?: number): Promise<JobView[]>;
  /**
   * `/easel <subcommand>` for admins (see `adminCommand` in admin.ts for the subcommands and their
   * arguments, by name): always a private reply; a refusal for anyone who is not an admin.
   */
  admin(
    subcommand: string,
    args: Readonly<Record<string, string>>,
    who: Who,
    where: Where,
  ): Promise<ChatReply>;
}
