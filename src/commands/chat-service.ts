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
import type { GenerationRequest, Requester, UserId, Where, Who } from "../requests/request.js";
import { cancelButton, decodeButton, mayPress, requestForButton, resultButtons } from "./buttons.js";
import type { ChatReply, ChatService, ImagineInput, JobView, WatchOptions } from "./chat.js";
import { isHelpRequest, parseImagine, type RandomSeed } from "./imagine.js";
import {
  buttonErrors,
  cancelledText,
  chatTexts,
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

  constructor(options: ChatServiceOptions) {
    this.config = options.config;
    this.queue = options.queue;
    this.logger = options.logger ?? silentLogger;
    this.randomSeed = options.randomSeed ?? cryptoSeed;
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
      let request = parseImagine(input, requester, this.config, this.randomSeed);
      if (input.image) request = await attachUpload(request, input.image, this.queue.images);
      return await this.submit(request);
    } catch (error) {
      return this.refusal(error, "imagine");
    }
  }

  async press(buttonId: string, who: Who, where: Where): Promise<ChatReply> {
    const requester: Requester = { ...who, ...where };
    try {
      const action = decodeButton(buttonId);
      const job = await this.queue.job(action.jobId);
      if (!job) return privateReply(chatTexts.jobGone(), "not_found");
      const admin = this.isAdmin(who);
      if (!admin && !mayPress(this.config, job.userId, who.userId, action.kind)) {
        const text = action.kind === "cancel" ? chatTexts.notYourCancel() : buttonErrors.notAllowed();
        return privateReply(text, "forbidden");
      }
      if (action.kind === "cancel") {
        const outcome = await this.queue.cancel(job.id, who.userId, { anyone: admin });
        return privateReply(outcome === "stopping" ? chatTexts.cancelling() : chatTexts.cancelled());
      }
      return await this.submit(
        requestForButton(action, job.request, requester, this.randomSeed, this.config),
      );
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
    return privateReply(chatTexts.internalError());
  }

  private isAdmin(who: Who): boolean {
    const admins = this.config.access.admins;
    return admins.includes(who.userId) || (who.roles ?? []).some((role) => admins.includes(role));
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
