/**
 * The platform-neutral request every adapter produces and the queue stores, and who asked it:
 * plain JSON-safe data (seeds are decimal strings, since 64-bit seeds do not fit a JSON number).
 * This room is shared by commands/ and queue/; neither imports the other.
 */
import type { PanDirection, Prediction, Rect, SchedulerName, Spacing } from "../pipeline/types.js";
import type { RequestLora } from "./loras.js";

export type Platform = "discord" | "slack" | "web" | "cli";

/**
 * A user id that carries its platform, so that two platforms' users can never be mixed in limits,
 * fair turns, history or priority rules: `discord:123`, `slack:T1:U2` (team, then user),
 * `web:<browser id>`, `cli:<login name>`.
 */
export type UserId = `${Platform}:${string}`;

/** `discord-role:456`: a Discord role, for priority tiers and admins (Slack has no roles). */
export type RoleId = `discord-role:${string}`;

/** `text` as a role id, or undefined. */
export function roleId(text: string): RoleId | undefined {
  return /^discord-role:\d+$/.test(text) ? (text as RoleId) : undefined;
}

/**
 * Platforms whose requests come from servers (a Discord guild, a Slack team) and channels: the
 * ones EASEL_ALLOWED_CHANNELS limits. The web chat and the CLI have neither.
 */
export const CHANNEL_PLATFORMS: readonly Platform[] = ["discord", "slack"];

export function userId(platform: Platform, ...parts: string[]): UserId {
  return `${platform}:${parts.join(":")}`;
}

const QUALIFIED_USER =
  /^(discord:\d+|slack:[A-Za-z0-9]+:[A-Za-z0-9]+|web:[A-Za-z0-9_-]+|cli:[A-Za-z0-9._-]+)$/;

/** `text` as a platform-qualified user id (the shapes above), or undefined. */
export function qualifiedUserId(text: string): UserId | undefined {
  const value = text.trim();
  return QUALIFIED_USER.test(value) ? (value as UserId) : undefined;
}

export function platformOf(id: UserId): Platform {
  return id.slice(0, id.indexOf(":")) as Platform;
}

/** Who is asking. */
export interface Who {
  userId: UserId;
  /** Display name for captions. */
  userName?: string;
  /** Roles that may raise the priority tier or make the user an admin. */
  roles?: RoleId[];
}

/** Where the request was made, and where its answer goes. */
export interface Where {
  platform: Platform;
  /** Discord guild or Slack team; undefined in DMs, the web chat and the CLI. */
  serverId?: string;
  channelId?: string;
  /** Platform-specific address of the message to update (interaction token, thread ts, ...). */
  replyTo?: string;
  /** The channel allows NSFW content (no safety negative prompt is added). */
  nsfwChannel?: boolean;
}

/** Who asked, and where the answer goes: stored with every job. */
export interface Requester extends Who, Where {}

/** An image of an earlier job, as refine / upscale / vary buttons point at it. */
export interface JobImageSource {
  jobId: string;
  imageIndex: number;
  strength: number;
  upscale: 1 | 1.5 | 2;
}

/** A picture a user uploaded with `/imagine`, kept by the queue's image store (`putUpload`). */
export interface UploadSource {
  uploadId: string;
  strength: number;
  upscale: 1 | 1.5 | 2;
  /**
   * Set when the picture is an earlier job's image fetched back from where it was posted (the
   * bot's own copy was gone): which image it is, for the caption.
   */
  from?: { jobId: string; imageIndex: number };
}

export type SourceImageRef = JobImageSource | UploadSource;

export function isUploadSource(source: SourceImageRef): source is UploadSource {
  return "uploadId" in source;
}

/**
 * Zoom out, pan or repaint `source` (the pipeline's CanvasAction, JSON-safe): a repaint's mask is
 * kept in the image store like an upload (`putUpload`) and named by its id.
 */
export type RequestCanvas =
  | { kind: "zoom_out"; factor: number }
  | { kind: "pan"; direction: PanDirection }
  | { kind: "repaint"; maskUploadId: string }
  | { kind: "repaint"; rects: Rect[] };

/** The upload id of a repaint's mask, when the request has one. */
export function maskUploadIdOf(request: Pick<GenerationRequest, "canvas">): string | undefined {
  const canvas = request.canvas;
  return canvas?.kind === "repaint" && "maskUploadId" in canvas ? canvas.maskUploadId : undefined;
}

export interface GenerationRequest {
  /** The catalogue name of the model it runs on; absent = the default (requests from before names). */
  model?: string;
  /** LoRAs merged into the model for it, by catalogue name; absent = none. */
  loras?: RequestLora[];
  /** What the user typed; the text encoders read it with the LoRAs' trigger words added. */
  prompt: string;
  /** Undefined = none. */
  negativePrompt?: string;
  width: number;
  height: number;
  /** Decimal string of a 64-bit unsigned integer. */
  seed: string;
  steps: number;
  guidance: number;
  scheduler: SchedulerName;
  /** The model's timestep spacing (distilled models: "trailing"); absent = the folder's own. */
  spacing?: Spacing;
  /** The model's prediction type (SDXL-Lightning 1-step: "sample"); absent = the folder's own. */
  prediction?: Prediction;
  count: number;
  refiner: { enabled: false } | { enabled: true; switchAt: number };
  variation?: { subseed: string; strength: number };
  /** Refine / upscale an image of an earlier job, or a picture the user uploaded. */
  source?: SourceImageRef;
  /**
   * Zoom out, pan or repaint `source` instead of refining it all; width/height are then the
   * canvas layout's size and `source.strength` how much of the schedule re-runs where it paints.
   */
  canvas?: RequestCanvas;
  requester: Requester;
}
