/**
 * The chat service: `/imagine` and button presses in, views of jobs out. It is the one place that
 * decides what a chat user reads and which buttons they get; adapters render its views and send
 * them. It talks to the queue only through the JobQueue interface, so either backend serves it.
 */
import type { Config } from "../config.js";
import { EaselError, type ErrorCode, isEaselError } from "../errors.js";
import { type Logger, silentLogger } from "../logger.js";
import type { EncodedImage } from "../pipeline/types.js";
import type { JobQueue, JobQueueEvents, JobRecord } from "../requests/jobs.js";
import { placeOf } from "../requests/operator.js";
import type { GenerationRequest, Requester, UserId, Where, Who } from "../requests/request.js";
import {
  accessSettingsOf,
  type ChannelRule,
  isAdmin,
  isAllowedPlace,
  rateRefusal,
  utcDayStart,
} from "./access.js";
import { type AdminService, queueAdminService } from "./admin.js";
import {
  cancelButton,
  decodeButton,
  type FollowUpAction,
  mayPress,
  requestForButton,
  resultButtons,
} from "./buttons.js";
import type { ChatReply, ChatService, ImagineInput, JobView, WatchOptions } from "./chat.js";
import { isHelpRequest, parseImagine, type RandomSeed } from "./imagine.js";
import {
  accessTexts,
  adminTexts,
  buttonErrors,
  cancelledText,
  chatTexts,
  deletedText,
  failedText,
  helpText,
  progressText,
  queuedText,
  resultCaption,
} from "./texts.js";
import { attachUpload } from "./upload.js";

export interface ChatServiceOptions {
  config: Config;
  queue: JobQueue;
  logger?: Logger;
  /** Fresh 64-bit seeds; default: crypto-random. */
  randomSeed?: RandomSeed;
  /**
   * Milliseconds since the epoch, for quota days, cooldowns and retention; default Date.now. Give
   * the queue the same clock: usage is counted from the times it stores.
   */
  now?: () => number;
}

/** Where a running job is, as its progress events told (the queue keeps no previews). */
interface LiveProgress {
  step: number;
  total: number;
  preview?: EncodedImage;
}

function cryptoSeed(): bigint {
  const words = crypto.getRandomValues(new BigUint64Array(1));
  return words[0]!;
}

const privateReply = (text: string, code?: ErrorCode): ChatReply =>
  code === undefined ? { kind: "private", text } : { kind: "private", text, code };

export function createChatService(options: ChatServiceOptions): ChatService {
  return new QueueChatService(options);
}

class QueueChatService implements ChatService {
  private readonly config: Config;
  private readonly queue: JobQueue;
  private readonly logger: Logger;
  private readonly randomSeed: RandomSeed;
  private readonly live = new Map<string, LiveProgress>();
  private readonly now: () => number;
  private readonly channelRules: readonly ChannelRule[];
  private readonly adminService: AdminService;
  /** Per user, the tail of their access check + submit: one at a time, so a cooldown holds. */
  private readonly userTurns = new Map<UserId, Promise<unknown>>();

  constructor(options: ChatServiceOptions) {
    this.config = options.config;
    this.queue = options.queue;
    this.logger = options.logger ?? silentLogger;
    this.randomSeed = options.randomSeed ?? cryptoSeed;
    this.now = options.now ?? Date.now;
    this.channelRules = accessSettingsOf(this.config).channelRules;
    this.adminService = queueAdminService(this.config, this.queue, this.now);
    // One subscription keeps the latest step and preview of every running job, for view().
    this.queue.on("started", (event) => this.live.set(event.jobId, { step: 0, total: 0 }));
    this.queue.on("progress", (event) => {
      const previous = this.live.get(event.jobId)?.preview;
      const preview = event.preview ?? previous;
      this.live.set(event.jobId, { step: event.step, total: event.total, ...(preview ? { preview } : {}) });
    });
    for (const name of ["done", "failed", "cancelled"] as const) {
      this.queue.on(name, (event) => this.live.delete(event.jobId));
    }
  }

  help(): string {
    return helpText(this.config);
  }

  async imagine(input: ImagineInput, who: Who, where: Where): Promise<ChatReply> {
    if (isHelpRequest(input)) return privateReply(this.help());
    const requester: Requester = { ...who, ...where };
    try {
      const refused = await this.gate(who, where);
      if (refused) return refused;
      const parsed = parseImagine(input, requester, this.config, this.randomSeed);
      return await this.inTurn(who, parsed, async () => {
        const request = input.image ? await attachUpload(parsed, input.image, this.queue.images) : parsed;
        return this.submit(request);
      });
    } catch (error) {
      return this.refusal(error, "imagine");
    }
  }

  async admin(
    subcommand: string,
    args: Readonly<Record<string, string>>,
    who: Who,
    where: Where,
  ): Promise<ChatReply> {
    if (!isAdmin(this.config.access.admins, who)) return privateReply(adminTexts.notAdmin(), "forbidden");
    try {
      return privateReply(await this.adminService.run(subcommand, args, who.userId, where));
    } catch (error) {
      return this.refusal(error, "admin");
    }
  }

  async press(buttonId: string, who: Who, where: Where): Promise<ChatReply> {
    const requester: Requester = { ...who, ...where };
    try {
      const action = decodeButton(buttonId);
      const job = await this.queue.job(action.jobId);
      if (!job) return privateReply(chatTexts.jobGone(), "not_found");
      const admin = isAdmin(this.config.access.admins, who);
      if (!admin && !mayPress(this.config, job.userId, who.userId, action.kind)) {
        const text =
          action.kind === "cancel"
            ? chatTexts.notYourCancel()
            : action.kind === "delete"
              ? buttonErrors.notYourDelete()
              : buttonErrors.notAllowed();
        return privateReply(text, "forbidden");
      }
      if (action.kind === "cancel") {
        const outcome = await this.queue.cancel(job.id, who.userId, { anyone: admin });
        return privateReply(outcome === "stopping" ? chatTexts.cancelling() : chatTexts.cancelled());
      }
      if (action.kind === "delete") return await this.deleteResult(job, who, where);
      const refused = (await this.gate(who, where)) ?? this.unusable(job, action);
      if (refused) return refused;
      const request = requestForButton(action, job.request, requester, this.randomSeed, this.config);
      return await this.inTurn(who, request, () => this.submit(request));
    } catch (error) {
      return this.refusal(error, "press");
    }
  }

  async view(jobId: string): Promise<JobView | undefined> {
    const record = await this.queue.job(jobId);
    return record ? this.viewOf(record) : undefined;
  }

  watch(jobId: string, onView: (view: JobView) => void, options: WatchOptions = {}): () => void {
    const minIntervalMs = options.minIntervalMs ?? 0;
    let closed = false;
    let sawEvent = false;
    let lastSentAt = Number.NEGATIVE_INFINITY;
    let pending: JobView | undefined;
    let timer: NodeJS.Timeout | undefined;
    const offs: Array<() => void> = [];

    const close = () => {
      closed = true;
      clearTimeout(timer);
      for (const off of offs) off();
    };
    const send = (view: JobView) => {
      lastSentAt = performance.now();
      try {
        onView(view);
      } catch (error) {
        this.logger.error({ err: error, jobId }, "a job view's receiver threw");
      }
    };
    const deliver = (view: JobView) => {
      if (closed) return;
      if (view.final) {
        close();
        send(view);
        return;
      }
      const wait = lastSentAt + minIntervalMs - performance.now();
      if (wait <= 0) {
        send(view);
        return;
      }
      pending = view; // the newest view wins
      timer ??= setTimeout(() => {
        timer = undefined;
        const next = pending;
        pending = undefined;
        if (next && !closed) send(next);
      }, wait);
    };
    const fromEvent = (build: () => Promise<JobView | undefined>) => {
      sawEvent = true;
      void build().then(
        (view) => view && deliver(view),
        (error: unknown) => this.logger.error({ err: error, jobId }, "could not build a job view"),
      );
    };
    const mine = (event: { jobId: string }) => event.jobId === jobId;
    offs.push(
      this.queue.on("queued", (event) => mine(event) && fromEvent(() => this.view(jobId))),
      this.queue.on("started", (event) => mine(event) && fromEvent(() => this.view(jobId))),
      this.queue.on("progress", (event) => mine(event) && fromEvent(() => this.view(jobId))),
      this.queue.on("done", (event) => mine(event) && fromEvent(() => this.finalView(jobId))),
      this.queue.on("failed", (event) => mine(event) && fromEvent(() => this.finalView(jobId, event))),
      this.queue.on("cancelled", (event) => mine(event) && fromEvent(() => this.finalView(jobId))),
    );
    void this.view(jobId).then(
      (view) => {
        // An event that came meanwhile carries a view at least as new as this one.
        if (view && (!sawEvent || view.final)) deliver(view);
      },
      (error: unknown) => this.logger.error({ err: error, jobId }, "could not build a job view"),
    );
    return close;
  }

  onRecovered(listener: (view: JobView) => void): () => void {
    return this.queue.on("recovered", (event) => {
      void this.viewOf(event.job).then(
        (view) =>
          listener(event.message && !event.requeued ? { ...view, text: failedText(event.message) } : view),
        (error: unknown) =>
          this.logger.error({ err: error, jobId: event.job.id }, "could not build a job view"),
      );
    });
  }

  image(imageId: string): Promise<EncodedImage | undefined> {
    return this.queue.images.get(imageId);
  }

  posted(jobId: string, where: string): Promise<void> {
    return this.queue.markPosted(jobId, where);
  }

  async history(userId: UserId, limit?: number): Promise<JobView[]> {
    const records = await this.queue.history(userId, limit);
    return Promise.all(records.map((record) => this.viewOf(record)));
  }

  private async submit(request: GenerationRequest): Promise<ChatReply> {
    const { jobId, position } = await this.queue.submit(request);
    const record = await this.queue.job(jobId);
    const view = record ? await this.viewOf(record) : this.queuedView(jobId, request, Math.max(1, position));
    return { kind: "job", jobId, view };
  }

  /** The private answer for an error of `imagine` or `press`: the user's message, or a generic one. */
  private refusal(error: unknown, where: string): ChatReply {
    if (isEaselError(error)) return privateReply(error.userMessage, error.code);
    this.logger.error({ err: error, where }, "chat service: internal error");
    return privateReply(chatTexts.internalError(), "internal");
  }

  /** Where and who: a private refusal for a place the bot does not answer in, or a banned user. */
  private async gate(who: Who, where: Where): Promise<ChatReply | undefined> {
    if (!isAllowedPlace(this.channelRules, where)) return privateReply(accessTexts.notHere(), "forbidden");
    if (isAdmin(this.config.access.admins, who)) return undefined;
    if (await this.queue.ledger.banOf(who.userId)) return privateReply(accessTexts.banned(), "forbidden");
    return undefined;
  }

  /**
   * Runs `submit` after the quota and cooldown checks (admins exempt), one request of a user at a
   * time, so two quick requests cannot both pass a check that the first one's job would fail.
   */
  private inTurn(who: Who, request: GenerationRequest, submit: () => Promise<ChatReply>): Promise<ChatReply> {
    const turn = async (): Promise<ChatReply> => {
      if (!isAdmin(this.config.access.admins, who)) {
        const now = this.now();
        const usage = await this.queue.ledger.usage(who.userId, utcDayStart(now));
        const refusal = rateRefusal(this.config.access, usage, request.count, now);
        if (refusal?.kind === "cooldown") {
          return {
            kind: "private",
            text: accessTexts.cooldown(refusal.retryAt - now),
            code: "queue_full",
            retryAt: refusal.retryAt,
          };
        }
        if (refusal?.kind === "quota") {
          const text = accessTexts.quota(refusal.quota, refusal.used, refusal.asked, refusal.retryAt, now);
          return { kind: "private", text, code: "queue_full", retryAt: refusal.retryAt };
        }
      }
      return submit();
    };
    const previous = this.userTurns.get(who.userId) ?? Promise.resolve();
    const result = previous.then(turn, turn);
    const tail = result.catch(() => {});
    this.userTurns.set(who.userId, tail);
    void tail.then(() => {
      if (this.userTurns.get(who.userId) === tail) this.userTurns.delete(who.userId);
    });
    return result;
  }

  /** A follow-up button on a result that was deleted, or whose image the retention sweep removed. */
  private unusable(job: JobRecord, action: FollowUpAction): ChatReply | undefined {
    if (job.deleted) return privateReply(buttonErrors.deletedResult(), "not_found");
    if (action.kind === "reroll") return undefined;
    const image = job.images[action.imageIndex];
    const expiredBefore = this.now() - this.config.retentionHours * 3_600_000;
    // Posted images are swept early and fetched back from the post; past the retention they are gone.
    const expired = (job.finishedAt ?? job.createdAt) < expiredBefore || job.postedAt === undefined;
    if (image?.deleted && expired) {
      return privateReply(
        buttonErrors.expiredImage(action.imageIndex + 1, this.config.retentionHours),
        "not_found",
      );
    }
    return undefined;
  }

  /** The delete button (the caller checked author or admin): the images go, the view says so. */
  private async deleteResult(job: JobRecord, who: Who, where: Where): Promise<ChatReply> {
    if (job.status !== "done") return privateReply(buttonErrors.nothingToDelete(), "invalid_input");
    const deleted = await this.queue.ledger.deleteResult(job.id, who.userId, this.now(), placeOf(where));
    this.logger.info({ jobId: job.id, by: who.userId, deleted }, "result deleted");
    const view = await this.view(job.id);
    const text = deleted ? chatTexts.deleted() : chatTexts.alreadyDeleted();
    return view ? { kind: "private", text, deleted: view } : privateReply(text);
  }

  /** A finished job's view, read after the store has recorded its end. */
  private async finalView(jobId: string, failed?: JobQueueEvents["failed"]): Promise<JobView | undefined> {
    const record = await this.queue.job(jobId);
    if (!record) return undefined;
    const view = await this.viewOf(record);
    if (view.final) return view;
    // The store could not record the end (its write failed); the event is the truth.
    if (failed) return this.endedView(record, "failed", failed.message);
    return undefined;
  }

  private async viewOf(record: JobRecord): Promise<JobView> {
    const { id: jobId, request } = record;
    switch (record.status) {
      case "queued": {
        const position = await this.queue.position(jobId);
        return this.queuedView(jobId, request, Math.max(1, position ?? 1));
      }
      case "running": {
        const live = this.live.get(jobId);
        const step = live?.step ?? 0;
        const total = live?.total || request.steps;
        return {
          jobId,
          state: "running",
          requester: request.requester,
          text: progressText(step, total),
          step,
          total,
          ...(live?.preview ? { preview: live.preview } : {}),
          images: [],
          buttons: [[cancelButton(jobId)]],
          final: false,
        };
      }
      case "done":
        if (record.deleted) {
          const byAuthor = record.deleted.byUserId === record.userId;
          return {
            jobId,
            state: "done",
            requester: request.requester,
            text: deletedText(byAuthor),
            images: [],
            buttons: [],
            final: true,
            deleted: { byUserId: record.deleted.byUserId, byAuthor },
          };
        }
        return {
          jobId,
          state: "done",
          requester: request.requester,
          text: resultCaption(request, {
            seeds: record.seeds ?? [],
            durationMs: Math.max(0, (record.finishedAt ?? 0) - (record.startedAt ?? record.createdAt)),
          }),
          images: record.images,
          buttons: resultButtons(jobId, request),
          final: true,
        };
      case "failed":
        return this.endedView(record, "failed", record.error?.message ?? chatTexts.internalError());
      case "cancelled":
        return this.endedView(record, "cancelled");
    }
  }

  private queuedView(jobId: string, request: GenerationRequest, position: number): JobView {
    return {
      jobId,
      state: "queued",
      requester: request.requester,
      text: queuedText(position),
      position,
      images: [],
      buttons: [[cancelButton(jobId)]],
      final: false,
    };
  }

  private endedView(record: JobRecord, state: "failed" | "cancelled", reason?: string): JobView {
    return {
      jobId: record.id,
      state,
      requester: record.request.requester,
      text: state === "failed" ? failedText(reason ?? chatTexts.internalError()) : cancelledText(),
      images: [],
      buttons: [],
      final: true,
    };
  }
}

/** For callers that need the typed refusal of a reply (the CLI's exit status). */
export function errorOfReply(reply: ChatReply): EaselError | undefined {
  return reply.kind === "private" && reply.code ? new EaselError(reply.code, reply.text) : undefined;
}
