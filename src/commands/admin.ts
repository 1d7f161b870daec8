/**
 * Admin operations, platform-neutral: the queue listing, cancelling any job, bans, stats. One
 * service serves `/easel …` on the chats (through the chat service, admins only) and `easel admin`
 * on the box; they differ only in how a cancel reaches the job (the queue itself in the service,
 * a request the running service picks up from the CLI). Every action lands in the audit trail.
 */
import type { Config } from "../config.js";
import { EaselError, type ErrorCode, isEaselError } from "../errors.js";
import { type Logger, silentLogger } from "../logger.js";
import type { JobQueue, JobRecord } from "../requests/jobs.js";
import { type OperatorLedger, placeOf, type Stats } from "../requests/operator.js";
import { qualifiedUserId, type UserId, type Where } from "../requests/request.js";
import { utcDayStart } from "./access.js";
import { MAX_IMAGE_INDEX } from "./buttons.js";
import { adminTexts, type ListedJob, moderationTexts, truncate } from "./texts.js";

export type AdminSubcommandName =
  | "queue"
  | "cancel"
  | "ban"
  | "unban"
  | "stats"
  | "withheld"
  | "show"
  | "release";

export interface AdminArgument {
  name: string;
  description: string;
  required: boolean;
  /** `user`: a platform-qualified id or a mention; `rest`: free text to the end (Slack). */
  kind: "job" | "user" | "integer" | "rest";
  /** An integer's largest value (from 1). */
  max?: number;
}

export interface AdminSubcommand {
  name: AdminSubcommandName;
  description: string;
  args: AdminArgument[];
}

/** Longest ban reason kept in the audit trail. */
const MAX_REASON = 200;

/** Longest span `stats` reports, in days. */
export const MAX_STATS_DAYS = 90;

/** `show` and `release` name one image of a job: its id and the image's 1-based number. */
const IMAGE_ARGS: AdminArgument[] = [
  { name: "job", description: "The job id", required: true, kind: "job" },
  {
    name: "image",
    description: "The image number (1, 2, …)",
    required: true,
    kind: "integer",
    max: MAX_IMAGE_INDEX + 1,
  },
];

/**
 * `/easel` as every platform renders it: Discord registers these as subcommands with string
 * options (integer for `days`), Slack reads `/easel <subcommand> <args…>` (bots/slack/admin-text.ts).
 */
export const adminCommand: {
  name: "easel";
  description: string;
  subcommands: readonly AdminSubcommand[];
} = {
  name: "easel",
  description: "Operate the bot (admins only)",
  subcommands: [
    { name: "queue", description: "What is queued and running, on which device, for whom", args: [] },
    {
      name: "cancel",
      description: "Cancel any job",
      args: [{ name: "job", description: "The job id", required: true, kind: "job" }],
    },
    {
      name: "ban",
      description: "Refuse a user's requests",
      args: [
        {
          name: "user",
          description: "A user: discord:123, slack:T1:U2, or a mention",
          required: true,
          kind: "user",
        },
        { name: "reason", description: "Why (kept in the audit trail)", required: false, kind: "rest" },
      ],
    },
    {
      name: "unban",
      description: "Lift a ban",
      args: [
        {
          name: "user",
          description: "A user: discord:123, slack:T1:U2, or a mention",
          required: true,
          kind: "user",
        },
      ],
    },
    {
      name: "stats",
      description: "Jobs and images per day and platform, failures, mean wait and device time",
      args: [
        {
          name: "days",
          description: `Days to cover, 1-${MAX_STATS_DAYS} (default 7)`,
          required: false,
          kind: "integer",
        },
      ],
    },
    {
      name: "withheld",
      description: "Images the content filter withheld, waiting for a decision",
      args: [],
    },
    {
      name: "show",
      description: "Look at a moderated image privately",
      args: IMAGE_ARGS,
    },
    {
      name: "release",
      description: "Show a withheld image to everyone, in its result",
      args: IMAGE_ARGS,
    },
  ],
};

/** An admin command's private answer; `code` when it is a refusal. */
export interface AdminAnswer {
  text: string;
  code?: ErrorCode;
  /** A withheld image was released (0-based index): adapters post it where its result was. */
  released?: { jobId: string; imageIndex: number };
}

export type CancelOutcome = { outcome: "cancelled" | "stopping"; how?: string };

export interface AdminServiceOptions {
  config: Config;
  ledger: OperatorLedger;
  /** A job's record (the store's view). */
  job: (jobId: string) => Promise<JobRecord | undefined>;
  /** Cancels any job, or rejects with an EaselError; the queue's cancel in the service. */
  cancelJob: (jobId: string, byUserId: UserId) => Promise<CancelOutcome>;
  /** A waiting job's place in line, where the process knows it. */
  position?: (jobId: string) => Promise<number | undefined>;
  now?: () => number;
}

const JOB_ID = /^[A-Za-z0-9_-]{1,64}$/;

export class AdminService {
  private readonly now: () => number;

  constructor(private readonly options: AdminServiceOptions) {
    this.now = options.now ?? Date.now;
  }

  /** Queued and running jobs, with places in line where known. */
  async queue(): Promise<ListedJob[]> {
    const jobs = await this.options.ledger.activeJobs();
    const listed: ListedJob[] = [];
    for (const job of jobs) {
      const position = job.status === "queued" ? await this.options.position?.(job.jobId) : undefined;
      listed.push(position !== undefined ? { ...job, position } : job);
    }
    // In line order where the queue knows it; arrival order otherwise.
    return listed.sort(
      (a, b) =>
        Number(b.status === "running") - Number(a.status === "running") ||
        (a.position ?? Number.MAX_SAFE_INTEGER) - (b.position ?? Number.MAX_SAFE_INTEGER),
    );
  }

  /**
   * Cancels any job and records it; rejects with an EaselError whose message is for the admin. A
   * job that has ended exists: the answer says so (as the cancel button's rule does), not an error.
   */
  async cancel(jobId: string, actor: UserId, place: string): Promise<string> {
    if (!JOB_ID.test(jobId)) throw new EaselError("invalid_input", adminTexts.badJobId(jobId));
    const job = await this.options.job(jobId);
    if (!job) throw new EaselError("not_found", adminTexts.noSuchJob(jobId));
    if (job.status !== "queued" && job.status !== "running")
      return adminTexts.alreadyFinished(jobId, job.status);
    const { outcome, how } = await this.options.cancelJob(jobId, actor);
    await this.options.ledger.record({
      at: this.now(),
      actor,
      action: "cancel",
      target: jobId,
      detail: `${outcome}; job of ${job.userId}${how ? ` ${how}` : ""}`,
      place,
    });
    return outcome === "stopping" ? adminTexts.stopping(jobId, how) : adminTexts.cancelled(jobId, how);
  }

  async ban(target: UserId, actor: UserId, reason: string | undefined, place: string): Promise<string> {
    if (this.options.config.access.admins.includes(target)) {
      throw new EaselError("forbidden", adminTexts.cannotBanAdmin(target));
    }
    const kept = reason ? truncate(reason.replace(/[\p{Cc}\p{Cf}]+/gu, " ").trim(), MAX_REASON) : "";
    const ban = { userId: target, byUserId: actor, at: this.now(), ...(kept ? { reason: kept } : {}) };
    return (await this.options.ledger.ban(ban, place))
      ? adminTexts.banned(target)
      : adminTexts.alreadyBanned(target);
  }

  async unban(target: UserId, actor: UserId, place: string): Promise<string> {
    return (await this.options.ledger.unban(target, actor, this.now(), place))
      ? adminTexts.unbanned(target)
      : adminTexts.notBanned(target);
  }

  /** Releases image `number` (1-based) of a job; rejects with an EaselError whose message is for the admin. */
  async release(jobId: string, number: number, actor: UserId, place: string): Promise<AdminAnswer> {
    if (!JOB_ID.test(jobId)) throw new EaselError("invalid_input", adminTexts.badJobId(jobId));
    const job = await this.options.job(jobId);
    if (!job) throw new EaselError("not_found", adminTexts.noSuchJob(jobId));
    const outcome = await this.options.ledger.release(jobId, number - 1, actor, place, this.now());
    switch (outcome) {
      case "released":
        return { text: moderationTexts.released(jobId, number), released: { jobId, imageIndex: number - 1 } };
      case "already_released":
        return { text: moderationTexts.alreadyReleased(jobId, number) };
      case "not_withheld":
        throw new EaselError("invalid_input", moderationTexts.notWithheld(jobId, number));
      case "not_found":
        throw new EaselError("not_found", moderationTexts.noSuchImage(jobId, number));
    }
  }

  /** The last `days` UTC days, today included. */
  stats(days = 7): Promise<Stats> {
    const now = this.now();
    return this.options.ledger.stats(utcDayStart(now) - (days - 1) * 86_400_000, now + 1);
  }

  /**
   * One `/easel` command from a chat (the caller checked that `actor` is an admin): the text of
   * the private answer, with a code when it is a refusal. Bad arguments and refusals are answered,
   * not thrown.
   */
  async run(
    subcommand: string,
    args: Readonly<Record<string, string>>,
    actor: UserId,
    where: Where,
  ): Promise<AdminAnswer> {
    const place = placeOf(where);
    const done = (text: string): AdminAnswer => ({ text });
    const refused = (text: string): AdminAnswer => ({ text, code: "invalid_input" });
    try {
      switch (subcommand.toLowerCase()) {
        case "help":
          return done(adminTexts.usage());
        case "queue":
          return done(adminTexts.queueListing(await this.queue(), this.now()));
        case "cancel": {
          const jobId = args["job"]?.trim();
          if (!jobId) return refused(adminTexts.missingArgument("cancel", "JOB"));
          return done(await this.cancel(jobId, actor, place));
        }
        case "ban":
        case "unban": {
          const given = args["user"]?.trim();
          if (!given) return refused(adminTexts.missingArgument(subcommand, "USER"));
          // Adapters turn their platform's mentions into qualified ids before they call here.
          const target = qualifiedUserId(given);
          if (!target) return refused(adminTexts.badUserId(given));
          return done(
            subcommand === "ban"
              ? await this.ban(target, actor, args["reason"]?.trim() || undefined, place)
              : await this.unban(target, actor, place),
          );
        }
        case "stats": {
          const days = parseDays(args["days"]);
          if (days === undefined) return refused(adminTexts.badDays(args["days"] ?? "", MAX_STATS_DAYS));
          return done(adminTexts.stats(await this.stats(days), days));
        }
        case "withheld":
          return done(moderationTexts.withheldListing(await this.options.ledger.withheld(), this.now()));
        case "release": {
          const jobId = args["job"]?.trim();
          const given = args["image"]?.trim();
          if (!jobId || !given) return refused(moderationTexts.missingImage("release"));
          const number = parseImageNumber(given);
          if (number === undefined) return refused(moderationTexts.badImageNumber(given));
          return await this.release(jobId, number, actor, place);
        }
        default:
          return refused(adminTexts.unknownSubcommand(subcommand));
      }
    } catch (error) {
      if (isEaselError(error)) return { text: error.userMessage, code: error.code };
      throw error;
    }
  }
}

/** "2" → 2: a 1-based image number as typed (1 to MAX_IMAGE_INDEX + 1); undefined for anything else. */
export function parseImageNumber(given: string): number | undefined {
  if (!/^[1-9]\d{0,2}$/.test(given.trim())) return undefined;
  const number = Number(given.trim());
  return number <= MAX_IMAGE_INDEX + 1 ? number : undefined;
}

/** `days` as given (default 7), or undefined when it is not 1..MAX_STATS_DAYS. */
export function parseDays(given: string | undefined): number | undefined {
  if (given === undefined || given.trim() === "") return 7;
  if (!/^\d{1,3}$/.test(given.trim())) return undefined;
  const days = Number(given.trim());
  return days >= 1 && days <= MAX_STATS_DAYS ? days : undefined;
}

/** The admin service of the running process: cancels go straight to its queue. */
export function queueAdminService(config: Config, queue: JobQueue, now?: () => number): AdminService {
  return new AdminService({
    config,
    ledger: queue.ledger,
    job: (jobId) => queue.job(jobId),
    cancelJob: async (jobId, byUserId) => ({
      outcome: await queue.cancel(jobId, byUserId, { anyone: true }),
    }),
    position: (jobId) => queue.position(jobId),
    ...(now ? { now } : {}),
  });
}

export interface AdminRequestWatcherOptions {
  config: Config;
  queue: JobQueue;
  logger?: Logger;
  now?: () => number;
  /** How often pending `easel admin` requests are read (default 500 ms). */
  everyMs?: number;
  /** How often the audit trail past its keeping time is swept (default hourly; also at start). */
  auditSweepEveryMs?: number;
}

/** How long the audit trail is kept: EASEL_AUDIT_DAYS, and never less than the retention. */
export function auditKeepMs(config: Pick<Config, "retentionHours" | "access">): number {
  return Math.max(config.retentionHours * 3_600_000, config.access.auditDays * 86_400_000);
}

/**
 * In the running service: answers `easel admin cancel` requests from the shared job store every
 * `everyMs` (a job this process runs is cancelled here; one it does not hold is answered
 * `not_here`, so the CLI cancels it in the store), and sweeps the audit trail. Returns stop().
 */
export function watchAdminRequests(options: AdminRequestWatcherOptions): { stop(): Promise<void> } {
  const { queue, config } = options;
  const logger = options.logger ?? silentLogger;
  const now = options.now ?? Date.now;
  const auditEvery = options.auditSweepEveryMs ?? 3_600_000;
  let lastAuditSweep = Number.NEGATIVE_INFINITY;
  let ticking: Promise<void> | undefined;

  const answer = async (request: { id: number; jobId: string; byUserId: UserId }): Promise<string> => {
    try {
      return await queue.cancel(request.jobId, request.byUserId, { anyone: true });
    } catch (error) {
      const job = await queue.job(request.jobId);
      if (job && job.status !== "queued" && job.status !== "running") return `finished:${job.status}`;
      if (!job) return "not_found";
      if (!isEaselError(error)) logger.error({ err: error, jobId: request.jobId }, "admin cancel failed");
      return "not_here";
    }
  };
  const tick = async () => {
    for (const request of await queue.ledger.pendingCancels()) {
      const outcome = await answer(request);
      await queue.ledger.settleCancel(request.id, outcome, now());
      logger.info(
        { jobId: request.jobId, by: request.byUserId, outcome },
        "admin cancel from the command line",
      );
    }
    if (now() - lastAuditSweep >= auditEvery) {
      lastAuditSweep = now();
      const swept = await queue.ledger.sweepAudit(now() - auditKeepMs(config));
      if (swept.jobs + swept.actions > 0) logger.info(swept, "audit trail past its keeping time swept");
    }
  };
  const timer = setInterval(() => {
    ticking ??= tick()
      .catch((error: unknown) => logger.error({ err: error }, "admin requests: poll failed"))
      .finally(() => {
        ticking = undefined;
      });
  }, options.everyMs ?? 500);
  timer.unref();
  return {
    stop: async () => {
      clearInterval(timer);
      await ticking;
    },
  };
}
