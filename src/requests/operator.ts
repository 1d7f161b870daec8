/**
 * The operator's ledger: bans, what each user used today, the audit trail of admin actions,
 * deleted results, and admin requests that cross processes (`easel admin cancel` → the running
 * service). Every backend keeps it in its job store; `JobQueue.ledger` hands it to the chat
 * service and the admin service, which live in commands/ and must not import queue/.
 */
import { CHANNEL_PLATFORMS, type Platform, type UserId, type Where } from "./request.js";

/** Where something was asked, for the audit trail: `discord:<guild>/<channel>`, `slack:<team>/<channel>`, `web`, `cli`. */
export function placeOf(where: Pick<Where, "platform" | "serverId" | "channelId">): string {
  const path = [where.serverId, where.channelId].filter((part) => part !== undefined).join("/");
  return path ? `${where.platform}:${path}` : where.platform;
}

/** A place as `placeOf` writes it, of a platform with servers and channels; undefined for any other text. */
export function parsePlace(
  text: string,
): { platform: Platform; serverId: string; channelId?: string } | undefined {
  const match = /^([a-z]+):([A-Za-z0-9_-]+)(?:\/([A-Za-z0-9_-]+))?$/.exec(text);
  const platform = match?.[1] as Platform | undefined;
  if (!match || !platform || !CHANNEL_PLATFORMS.includes(platform)) return undefined;
  return { platform, serverId: match[2]!, ...(match[3] ? { channelId: match[3] } : {}) };
}

/** What a user asked for since a moment (the start of the UTC day), for quotas and cooldowns. */
export interface Usage {
  /** Images of requests that are queued, running or done (failed and cancelled ones give theirs back). */
  images: number;
  /** When the user's latest request of any outcome was accepted; undefined when there is none. */
  lastRequestAt: number | undefined;
}

export interface Ban {
  userId: UserId;
  byUserId: UserId;
  at: number;
  reason?: string;
}

/**
 * `moderate`: output moderation flagged an image (the actor is the user who asked for it, the
 * target the image id, the detail the score, class and action); `release`: an admin released a
 * withheld image.
 */
export type AdminActionKind = "cancel" | "ban" | "unban" | "delete" | "moderate" | "release";

/** One line of the audit trail: who did what to what, when, and where they typed it. */
export interface AdminAction {
  at: number;
  actor: UserId;
  action: AdminActionKind;
  /** A job id or a user id. */
  target: string;
  /** The outcome or a reason, for the operator. */
  detail?: string;
  /** `discord:<guild>/<channel>`, `slack:<team>/<channel>`, `cli`, … */
  place?: string;
}

/** A queued or running job, as the admin listing shows it. */
export interface ActiveJob {
  jobId: string;
  status: "queued" | "running";
  userId: UserId;
  userName?: string;
  /** Where it was asked: `discord:<guild>/<channel>`, `web`, … */
  place: string;
  device?: string;
  tier: number;
  count: number;
  prompt: string;
  createdAt: number;
  startedAt?: number;
}

export interface DayStats {
  /** `YYYY-MM-DD`, UTC. */
  day: string;
  platform: Platform;
  jobs: number;
  images: number;
  failed: number;
  cancelled: number;
}

export interface Stats {
  since: number;
  until: number;
  /** Per UTC day and platform, oldest first; only days with jobs. */
  days: DayStats[];
  jobs: number;
  images: number;
  failuresByCode: Record<string, number>;
  /** From submission to the start on a device, over the jobs that started. */
  meanWaitMs: number | undefined;
  /** The device's run time (the engine's total), over the jobs that finished. */
  meanDeviceMs: number | undefined;
}

/** A withheld image no admin has released yet, as `easel admin withheld` and `/easel withheld` list it. */
export interface WithheldImage {
  /** `<jobId>-<index>`: what the image store is asked for. */
  imageId: string;
  jobId: string;
  index: number;
  userId: UserId;
  userName?: string;
  /** Where it was asked: `discord:<guild>/<channel>`, `web`, … */
  place: string;
  prompt: string;
  /** The classifier's unsafe score and top class. */
  score: number;
  label: string;
  /** When the image was made (its job finished). */
  at: number;
}

/**
 * `released`: done, and recorded in the audit trail; `already_released`: an admin did before;
 * `not_withheld`: the image was not withheld (or its file is gone); `not_found`: no such image.
 */
export type ReleaseOutcome = "released" | "already_released" | "not_withheld" | "not_found";

/** `easel admin cancel` asked the running service to cancel a job. */
export interface CancelRequest {
  id: number;
  jobId: string;
  byUserId: UserId;
  at: number;
}

export interface OperatorLedger {
  usage(userId: UserId, since: number): Promise<Usage>;
  banOf(userId: UserId): Promise<Ban | undefined>;
  bans(): Promise<Ban[]>;
  /** Bans a user and records it; false when they already were. */
  ban(ban: Ban, place?: string): Promise<boolean>;
  /** Lifts a ban and records it; false when there was none. */
  unban(userId: UserId, byUserId: UserId, at: number, place?: string): Promise<boolean>;
  /** Appends an admin action to the audit trail. */
  record(action: AdminAction): Promise<void>;
  /** Admin actions since `since`, oldest first. */
  actions(since: number): Promise<AdminAction[]>;
  /**
   * Deletes a finished job's image files, marks them gone and records who deleted the result (the
   * job row keeps its request). False when it was already deleted.
   */
  deleteResult(jobId: string, byUserId: UserId, at: number, place?: string): Promise<boolean>;
  /** Queued and running jobs in arrival order. */
  activeJobs(): Promise<ActiveJob[]>;
  /**
   * Withheld images (EASEL_MODERATION=withhold) that no admin has released and whose files are
   * still kept, oldest first. Until released, only admins may see them.
   */
  withheld(): Promise<WithheldImage[]>;
  /**
   * Releases a withheld image: shown like any image from then on (`ImageRef.moderation.released`),
   * recorded in the audit trail. `at` defaults to now.
   */
  release(
    jobId: string,
    imageIndex: number,
    byUserId: UserId,
    place?: string,
    at?: number,
  ): Promise<ReleaseOutcome>;
  stats(since: number, until: number): Promise<Stats>;
  /** Cancel requests from `easel admin cancel` that no process has answered yet. */
  pendingCancels(): Promise<CancelRequest[]>;
  /** Answers a cancel request; false when another process answered it first. */
  settleCancel(id: number, outcome: string, at: number): Promise<boolean>;
  /**
   * Deletes finished jobs (with their request and images' rows), admin actions and answered
   * requests older than `before`: the end of the audit trail's keeping time.
   */
  sweepAudit(before: number): Promise<{ jobs: number; actions: number }>;
}
