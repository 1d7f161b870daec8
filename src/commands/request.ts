/**
 * The platform-neutral request every adapter produces and the queue stores: plain JSON-safe
 * data (seeds are decimal strings, since 64-bit seeds do not fit a JSON number).
 */
import type { SchedulerName } from "../pipeline/types.js";

export type Platform = "discord" | "slack" | "web" | "cli";

/** Who asked, and where the answer goes. */
export interface Requester {
  platform: Platform;
  userId: string;
  /** Display name for captions. */
  userName?: string;
  /** Role ids (Discord) or group ids, used for priority tiers. */
  roles?: string[];
  channelId?: string;
  /** Platform-specific address of the message to update (interaction token, thread ts, ...). */
  replyTo?: string;
  /** The channel allows NSFW content (no safety negative prompt is added). */
  nsfwChannel?: boolean;
}

export interface GenerationRequest {
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
  count: number;
  refiner: { enabled: false } | { enabled: true; switchAt: number };
  variation?: { subseed: string; strength: number };
  /** Refine / upscale an image of an earlier job. */
  source?: { jobId: string; imageIndex: number; strength: number; upscale: 1 | 1.5 | 2 };
  requester: Requester;
}
