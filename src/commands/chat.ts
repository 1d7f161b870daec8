/**
 * The chat service: the one place that decides what a chat user sees. Adapters (Discord, Slack,
 * the web chat, the CLI) are transport only: they turn a platform event into `imagine` or `press`,
 * render the views returned here as platform messages, and send them.
 */
import type { ErrorCode } from "../errors.js";
import type { EncodedImage, Rect, SchedulerName } from "../pipeline/types.js";
import type { ImageRef, JobStatus } from "../requests/jobs.js";
import type { Platform, Requester, UserId, Where, Who } from "../requests/request.js";
import type { ButtonAction, ButtonSpec } from "./buttons.js";
import type { ViewImage } from "./moderated-images.js";

export interface JobSettings {
  steps: number;
  guidance: number;
  scheduler: SchedulerName;
  width: number;
  height: number;
}

/** What a job's message shows right now. Texts use `**bold**` and `code` spans (see texts.ts). */
export interface JobView {
  jobId: string;
  state: JobStatus;
  /** Who asked and where the answer goes (channel, message to edit). */
  requester: Requester;
  /** The whole message text: the status line, or the caption of a result. */
  text: string;
  /** The catalogue name of the model it runs on (absent for jobs from before models had names). */
  model?: string;
  /** The LoRAs merged into the model for it; absent = none. */
  loras?: Array<{ name: string; scale: number }>;
  /** The settings it runs with, after the model's and the deployment's defaults. */
  settings?: JobSettings;
  /** Queued: the 1-based place in line (1 = next). */
  position?: number;
  /** Running: the last finished step of `total`. */
  step?: number;
  total?: number;
  /** Running: the latest live preview (a small JPEG of image 0), when there is one. */
  preview?: EncodedImage;
  /**
   * Done: the images, in order, each with how it is shown (`display`: plain, spoiler, blur or
   * withheld, after output moderation). Fetch a plain or spoilered image's bytes with
   * `ChatService.image`, a blurred one's copy with `blurredImage`; a withheld one is not posted.
   */
  images: ViewImage[];
  /**
   * Done: a private note for the requester only, delivered once beside the result (e.g. that the
   * content filter withheld some of its images). Never part of the public message.
   */
  notice?: string;
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

/**
 * The answer to a command or a button press. Refusals and information are both private (only the
 * asker sees them: Discord ephemeral, Slack chat.postEphemeral, inline on the web) but differ in
 * kind: a refusal says why nothing was done and always carries a code (`internal` for an error of
 * ours, which is logged with its cause); information answers a request that needed no work
 * ("Cancelled.", "already finished", help).
 */
export type ChatReply =
  | {
      kind: "refusal";
      code: ErrorCode;
      text: string;
      /** A quota or cooldown refusal (code `queue_full`): when the user may ask again (ms since the epoch). */
      retryAt?: number;
    }
  | {
      kind: "info";
      text: string;
      /**
       * A delete button was pressed and the result is gone: the job's last view (with `deleted`
       * set). Adapters remove the result's message, or edit it to this view, and answer `text`.
       */
      deleted?: JobView;
      /**
       * A "show" press (or `/easel show`): an image's original for the asker's eyes only. Adapters
       * deliver it privately (Discord: an ephemeral reply with the file; Slack: a direct message;
       * the web: the page loads it), with `text`.
       */
      original?: { image: ViewImage; bytes: EncodedImage };
    }
  /** A new job was queued: post its first view publicly, then follow `watch(jobId)`. */
  | { kind: "job"; jobId: string; view: JobView };

/**
 * What changed since the previous view a watcher was given, as the events of a job's life: the
 * first view reports the state it shows (`queued`, `started`, a final one); later ones report a new
 * place in line, the start, a finished step, or the end. Empty: only something cosmetic changed
 * (a preview of the same step), which a transport may skip.
 */
export type ViewChange = "queued" | "started" | "progress" | "done" | "failed" | "cancelled";

export interface ImagineInput {
  /** The prompt with any flags: Discord's `prompt` option, or Slack's whole command text. */
  text: string;
  /** Structured options by option name (not `prompt`); absent entries are skipped. */
  options?: Record<string, string | number | boolean>;
  /** An uploaded picture to refine (img2img) instead of starting from noise. */
  image?: { data: Uint8Array; name?: string };
}

/**
 * Repaint a region of a result's image (the web page and the API: chat platforms have no drawing
 * surface). Exactly one of a mask and rectangles names the region.
 */
export interface RepaintEdit {
  jobId: string;
  imageIndex: number;
  /** A PNG, JPEG or WebP, white = repaint, any size (scaled to the image's); or rectangles in its pixels. */
  region: { mask: Uint8Array } | { rects: Rect[] };
  /** What to paint there; absent = the job's prompt. */
  prompt?: string;
  /** How much of the schedule re-runs in the region; absent = the canvas default. */
  strength?: number;
}

export interface WatchOptions {
  /**
   * At most one non-final view per this many milliseconds (progress is coalesced: the newest view
   * wins); the final view is always delivered at once. 0 = every change.
   */
  minIntervalMs?: number;
}

/**
 * Where an adapter fetches back an image it posted, once the bot's own copy is gone (past the
 * retention time): Discord reads the message again for a fresh attachment URL, Slack asks
 * `files.info` and downloads with the bot token. The adapter registers it with the chat service.
 */
export interface PostedImageSource {
  /** The platform whose places (`posted(jobId, "<platform>:…")`) this source reads. */
  platform: Platform;
  /** The image's bytes from the post recorded as `posted`; undefined when they are gone there too. */
  fetch(posted: string, image: ImageRef): Promise<EncodedImage | undefined>;
}

/** An image's original as one viewer may have it (the web's image route). */
export type ImageAnswer =
  | { kind: "image"; image: EncodedImage }
  | { kind: "refusal"; code: ErrorCode; text: string };

/** A withheld image an admin released: where its result was, it is posted now. */
export interface ReleasedImage {
  /** The job's view since the release (the image is plain in it). */
  view: JobView;
  image: ViewImage;
  byUserId: UserId;
}

export interface ChatService {
  /** `/imagine`: help, a private error (nothing queued), or the accepted job's first view. */
  imagine(input: ImagineInput, who: Who, where: Where): Promise<ChatReply>;
  /** A button press (by its id): a private answer, or a new job (re-roll, vary, refine, upscale). */
  press(buttonId: string, who: Who, where: Where): Promise<ChatReply>;
  /** A press of a decoded button (`ButtonSpec.action`), for callers that name the action (the API). */
  pressAction(action: ButtonAction, who: Who, where: Where): Promise<ChatReply>;
  /** Repaints a region of a result's image: a private refusal (nothing stored or queued), or the new job. */
  repaint(edit: RepaintEdit, who: Who, where: Where): Promise<ChatReply>;
  /** The action a button id stands for; undefined for an id that is not one of ours. */
  actionOf(buttonId: string): ButtonAction | undefined;
  /** The help text, with the flags this bot accepts. */
  help(): string;
  /** A job's current view; undefined for an unknown job. */
  view(jobId: string): Promise<JobView | undefined>;
  /**
   * Calls `onView` with the job's current view at once, then with every change until the final
   * view; returns the unsubscribe function. (bots/follow.ts works out what changed for its sinks.)
   */
  watch(jobId: string, onView: (view: JobView) => void, options?: WatchOptions): () => void;
  /**
   * After a restart: jobs that were queued or running. A requeued job's view (follow it with
   * `watch`), or a failed one's final view; its old message may no longer be editable.
   */
  onRecovered(listener: (view: JobView) => void): () => void;
  /**
   * A finished image's bytes (PNG with its parameters), or undefined once swept. For adapters
   * rendering a view's plain and spoilered images; a viewer's request goes through `imageFor`.
   */
  image(imageId: string): Promise<EncodedImage | undefined>;
  /** The blurred copy of a spoilered or blurred image; undefined for any other or once swept. */
  blurredImage(imageId: string): Promise<EncodedImage | undefined>;
  /**
   * An image's original for `who` (undefined: an anonymous viewer): refused (`forbidden`) for a
   * blurred image to anyone but its requester and the admins, and for a withheld one to all but
   * the admins; `not_found` for an unknown or swept image.
   */
  imageFor(imageId: string, who: Who | undefined): Promise<ImageAnswer>;
  /**
   * Calls `listener` once for each withheld image an admin releases, with `/easel release` here or
   * `easel admin release` on the box (see `releasedElsewhere`); returns the unsubscribe function.
   */
  onReleased(listener: (released: ReleasedImage) => void): () => void;
  /**
   * A withheld image released outside this service (`easel admin release`, seen in the job store
   * as the queue's `released` event): announced to `onReleased` like one released here, once.
   */
  releasedElsewhere(jobId: string, imageIndex: number): Promise<void>;
  /**
   * Records where a job's result was posted (`<platform>:…`, e.g. `discord:<channel>/<message>`):
   * what the adapter's PostedImageSource needs to fetch the images back.
   */
  posted(jobId: string, where: string): Promise<void>;
  /** Registers an adapter's way to fetch back posted images; returns the unregister function. */
  addPostedImageSource(source: PostedImageSource): () => void;
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
