/**
 * The chat service: `/imagine` and button presses in, views of jobs out. It is the one place that
 * decides what a chat user reads and which buttons they get; adapters render its views and send
 * them. It talks to the queue only through the JobQueue interface, so either backend serves it.
 */
import type { Config } from "../config.js";
import { EaselError, type ErrorCode, isEaselError } from "../errors.js";
import { type Logger, silentLogger } from "../logger.js";
import { BlurredCopies } from "../moderation/blurred-copies.js";
import type { EncodedImage } from "../pipeline/types.js";
import type { ImageRef, JobQueue, JobQueueEvents, JobRecord } from "../requests/jobs.js";
import { placeOf } from "../requests/operator.js";
import {
  type GenerationRequest,
  isUploadSource,
  type Platform,
  type Requester,
  type UserId,
  type Where,
  type Who,
} from "../requests/request.js";
import {
  accessSettingsOf,
  type ChannelRule,
  isAdmin,
  isAllowedPlace,
  rateRefusal,
  utcDayStart,
} from "./access.js";
import { type AdminService, parseImageNumber, queueAdminService } from "./admin.js";
import { buttonRule } from "./button-rules.js";
import {
  type ButtonAction,
  cancelButton,
  decodeButton,
  mayPress,
  requestForButton,
  resultButtons,
} from "./buttons.js";
import { canvasRequest, checkRepaintRects, maskUpload, repaintPrompt } from "./canvas.js";
import type {
  ChatReply,
  ChatService,
  ImageAnswer,
  ImagineInput,
  JobView,
  PostedImageSource,
  ReleasedImage,
  RepaintEdit,
  WatchOptions,
} from "./chat.js";
import { isHelpRequest, parseImagine, type RandomSeed } from "./imagine.js";
import {
  displayOf,
  mayHaveOriginal,
  moderatedButtons,
  type ViewImage,
  viewImages,
  withheldNumbers,
} from "./moderated-images.js";
import {
  accessTexts,
  adminTexts,
  buttonErrors,
  cancelledText,
  canvasErrors,
  chatTexts,
  deletedText,
  failedText,
  helpText,
  moderationTexts,
  progressText,
  queuedText,
  resultCaption,
} from "./texts.js";
import { attachUpload, postedImage } from "./upload.js";

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

/** Follow-ups that work on one of the result's images (its bytes), not only on its request. */
const IMAGE_ACTIONS: ReadonlySet<ButtonAction["kind"]> = new Set(["refine", "upscale", "zoom", "pan"]);

const refusal = (code: ErrorCode, text: string): ChatReply => ({ kind: "refusal", code, text });
const info = (text: string): ChatReply => ({ kind: "info", text });

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
  /** Where posted images are fetched back from, by the platform that posted them. */
  private readonly postedSources = new Map<Platform, PostedImageSource>();
  /** Blurred copies made lately, by image id: a result's copy is asked for by every viewer. */
  private readonly blurred: BlurredCopies;
  private readonly releasedListeners = new Set<(released: ReleasedImage) => void>();
  /** Released images already announced (a release typed here is seen again by the store's watcher). */
  private readonly announced = new Set<string>();

  constructor(options: ChatServiceOptions) {
    this.config = options.config;
    this.queue = options.queue;
    this.logger = options.logger ?? silentLogger;
    this.randomSeed = options.randomSeed ?? cryptoSeed;
    this.now = options.now ?? Date.now;
    this.channelRules = accessSettingsOf(this.config).channelRules;
    this.adminService = queueAdminService(this.config, this.queue, this.now);
    this.blurred = new BlurredCopies((imageId) => this.queue.images.get(imageId));
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
    if (isHelpRequest(input)) return info(this.help());
    const requester: Requester = { ...who, ...where };
    try {
      const refused = await this.gate(who, where);
      if (refused) return refused;
      const parsed = parseImagine(input, requester, this.config, this.randomSeed);
      if (parsed.canvas && !input.image) return refusal("invalid_input", canvasErrors.zoomNeedsPicture());
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
    if (!isAdmin(this.config.access.admins, who)) return refusal("forbidden", adminTexts.notAdmin());
    try {
      if (subcommand.toLowerCase() === "show") return await this.adminShow(args, who);
      const answer = await this.adminService.run(subcommand, args, who.userId, where);
      if (answer.released) await this.announceRelease(answer.released.jobId, answer.released.imageIndex);
      return answer.code ? refusal(answer.code, answer.text) : info(answer.text);
    } catch (error) {
      return this.refusal(error, "admin");
    }
  }

  async press(buttonId: string, who: Who, where: Where): Promise<ChatReply> {
    let action: ButtonAction;
    try {
      action = decodeButton(buttonId);
    } catch (error) {
      return this.refusal(error, "press");
    }
    return this.pressAction(action, who, where);
  }

  actionOf(buttonId: string): ButtonAction | undefined {
    try {
      return decodeButton(buttonId);
    } catch {
      return undefined;
    }
  }

  async pressAction(action: ButtonAction, who: Who, where: Where): Promise<ChatReply> {
    const requester: Requester = { ...who, ...where };
    try {
      const job = await this.queue.job(action.jobId);
      if (!job) return refusal("not_found", chatTexts.jobGone());
      const admin = isAdmin(this.config.access.admins, who);
      if (action.kind === "show") {
        // Who may see an original depends on how the image is shown, not on the buttons setting.
        const rule = buttonRule(action.kind, job);
        if (rule.kind === "refusal") return refusal(rule.code, rule.text());
        return await this.show(job, action.imageIndex, who, admin);
      }
      if (!admin && !mayPress(this.config, job.userId, who.userId, action.kind)) {
        const text =
          action.kind === "cancel"
            ? chatTexts.notYourCancel()
            : action.kind === "delete"
              ? buttonErrors.notYourDelete()
              : buttonErrors.notAllowed();
        return refusal("forbidden", text);
      }
      const rule = buttonRule(action.kind, job);
      if (rule.kind === "info") return info(rule.text());
      if (rule.kind === "refusal") return refusal(rule.code, rule.text());
      if (action.kind === "cancel") return await this.cancel(job, who, admin);
      if (action.kind === "delete") return await this.deleteResult(job, who, where);
      const refused = await this.gate(who, where);
      if (refused) return refused;
      const request = requestForButton(action, job.request, requester, this.randomSeed, this.config);
      const unseen = await this.unseenSource(request, who.userId, admin);
      if (unseen) return unseen;
      return await this.inTurn(who, request, async () => {
        const imageIndex =
          IMAGE_ACTIONS.has(action.kind) && "imageIndex" in action ? action.imageIndex : undefined;
        const sourced = await this.withSourceImage(job, imageIndex, request);
        return "kind" in sourced ? sourced : this.submit(sourced);
      });
    } catch (error) {
      return this.refusal(error, "press");
    }
  }

  async repaint(edit: RepaintEdit, who: Who, where: Where): Promise<ChatReply> {
    const requester: Requester = { ...who, ...where };
    try {
      const job = await this.queue.job(edit.jobId);
      if (!job) return refusal("not_found", chatTexts.jobGone());
      const admin = isAdmin(this.config.access.admins, who);
      if (!admin && !mayPress(this.config, job.userId, who.userId, "repaint")) {
        return refusal("forbidden", buttonErrors.notAllowed());
      }
      const rule = buttonRule("repaint", job);
      if (rule.kind === "info") return info(rule.text());
      if (rule.kind === "refusal") return refusal(rule.code, rule.text());
      const refused = await this.gate(who, where);
      if (refused) return refused;
      const image = job.images[edit.imageIndex];
      if (!image) {
        const count = job.request.count;
        return refusal("invalid_input", canvasErrors.noSuchImage(edit.imageIndex + 1, count));
      }
      const prompt =
        edit.prompt === undefined ? undefined : repaintPrompt(edit.prompt, job.request, this.config);
      // Everything is checked before the mask is kept: a refused repaint stores nothing.
      const rects =
        "rects" in edit.region ? checkRepaintRects(edit.region.rects, image.width, image.height) : undefined;
      const mask = "mask" in edit.region ? await maskUpload(edit.region.mask) : undefined;
      const choices = {
        ...(prompt !== undefined ? { prompt } : {}),
        ...(edit.strength !== undefined ? { strength: edit.strength } : {}),
      };
      const target = { jobId: job.id, imageIndex: edit.imageIndex };
      const draft = canvasRequest(
        job.request,
        target,
        { kind: "repaint", rects: rects ?? [] },
        requester,
        choices,
      );
      const unseen = await this.unseenSource(draft, who.userId, admin);
      if (unseen) return unseen;
      return await this.inTurn(who, draft, async () => {
        const sourced = await this.withSourceImage(job, edit.imageIndex, draft);
        if ("kind" in sourced) return sourced;
        if (!mask) return this.submit(sourced);
        const maskUploadId = await this.queue.images.putUpload(mask);
        return this.submit({ ...sourced, canvas: { kind: "repaint", maskUploadId } });
      });
    } catch (error) {
      return this.refusal(error, "repaint");
    }
  }

  /** Cancels a waiting or running job; one that ended meanwhile is answered as the table says. */
  private async cancel(job: JobRecord, who: Who, admin: boolean): Promise<ChatReply> {
    try {
      const outcome = await this.queue.cancel(job.id, who.userId, { anyone: admin });
      return info(outcome === "stopping" ? chatTexts.cancelling() : chatTexts.cancelled());
    } catch (error) {
      const now = await this.queue.job(job.id);
      const rule = now ? buttonRule("cancel", now) : undefined;
      if (rule?.kind === "info") return info(rule.text());
      throw error;
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
        // A timer that is late (a busy process) holds an older view: this one replaces it.
        clearTimeout(timer);
        timer = undefined;
        pending = undefined;
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

  async blurredImage(imageId: string): Promise<EncodedImage | undefined> {
    const found = await this.imageOf(imageId);
    if (!found || (found.image.display !== "blur" && found.image.display !== "spoiler")) return undefined;
    if (found.image.deleted || found.job.deleted) {
      this.blurred.forget(imageId); // a deleted result's copy goes with it
      return undefined;
    }
    return this.blurred.get(imageId);
  }

  async imageFor(imageId: string, who: Who | undefined): Promise<ImageAnswer> {
    const found = await this.imageOf(imageId);
    if (!found) return { kind: "refusal", code: "not_found", text: chatTexts.jobGone() };
    return this.originalFor(found.job, found.image, who);
  }

  onReleased(listener: (released: ReleasedImage) => void): () => void {
    this.releasedListeners.add(listener);
    return () => this.releasedListeners.delete(listener);
  }

  /** A result's image by its id (`<jobId>-<index>`), with how it is shown. */
  private async imageOf(imageId: string): Promise<{ job: JobRecord; image: ViewImage } | undefined> {
    const cut = imageId.lastIndexOf("-");
    if (cut <= 0) return undefined;
    const job = await this.queue.job(imageId.slice(0, cut));
    const ref = job?.images.find((image) => image.id === imageId);
    return job && ref ? { job, image: { ...ref, display: displayOf(ref) } } : undefined;
  }

  /** The "show" button: image i's original, privately, for whoever may see it. */
  private async show(job: JobRecord, imageIndex: number, who: Who, admin: boolean): Promise<ChatReply> {
    const ref = job.images[imageIndex];
    if (!ref) return refusal("not_found", moderationTexts.noSuchImage(job.id, imageIndex + 1));
    const image = { ...ref, display: displayOf(ref) };
    const answer = await this.originalFor(job, image, who, admin);
    if (answer.kind === "refusal") return answer;
    return {
      kind: "info",
      text: moderationTexts.shown(imageIndex + 1),
      original: { image, bytes: answer.image },
    };
  }

  /** An image's original bytes for `who`, or the refusal saying why they may not have them. */
  private async originalFor(
    job: JobRecord,
    image: ViewImage,
    who: Who | undefined,
    admin = who !== undefined && isAdmin(this.config.access.admins, who),
  ): Promise<ImageAnswer> {
    const number = image.index + 1;
    if (!mayHaveOriginal(image.display, job.userId, who?.userId, admin)) {
      const text =
        image.display === "withheld"
          ? moderationTexts.withheldForAdmins(number)
          : moderationTexts.notYourImage();
      return { kind: "refusal", code: "forbidden", text };
    }
    const bytes = image.deleted || job.deleted ? undefined : await this.queue.images.get(image.id);
    if (!bytes) return { kind: "refusal", code: "not_found", text: moderationTexts.imageGone(number) };
    return { kind: "image", image: bytes };
  }

  /** `/easel show JOB IMAGE`: an admin's private look at any image (withheld ones included). */
  private async adminShow(args: Readonly<Record<string, string>>, who: Who): Promise<ChatReply> {
    const jobId = args["job"]?.trim();
    const given = args["image"]?.trim();
    if (!jobId || !given) return refusal("invalid_input", moderationTexts.missingImage("show"));
    const number = parseImageNumber(given);
    if (number === undefined) return refusal("invalid_input", moderationTexts.badImageNumber(given));
    const job = await this.queue.job(jobId);
    if (!job) return refusal("not_found", adminTexts.noSuchJob(jobId));
    return this.show(job, number - 1, who, true);
  }

  async releasedElsewhere(jobId: string, imageIndex: number): Promise<void> {
    await this.announceRelease(jobId, imageIndex);
  }

  /**
   * Tells the adapters a withheld image is released, so they post it where its result was: once
   * per image, whether the release was typed here or came from the box.
   */
  private async announceRelease(jobId: string, imageIndex: number): Promise<void> {
    const view = await this.view(jobId);
    const image = view?.images.find((each) => each.index === imageIndex);
    const released = image?.moderation?.released;
    if (!view || !image || !released || image.display !== "plain") return;
    if (this.announced.has(image.id)) return;
    this.announced.add(image.id);
    if (this.announced.size > ANNOUNCED_KEPT) this.announced.delete(this.announced.values().next().value!);
    for (const listener of this.releasedListeners) {
      try {
        listener({ view, image, byUserId: released.byUserId });
      } catch (error) {
        this.logger.error({ err: error, jobId }, "a release listener threw");
      }
    }
  }

  posted(jobId: string, where: string): Promise<void> {
    return this.queue.markPosted(jobId, where);
  }

  addPostedImageSource(source: PostedImageSource): () => void {
    this.postedSources.set(source.platform, source);
    return () => {
      if (this.postedSources.get(source.platform) === source) this.postedSources.delete(source.platform);
    };
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

  /**
   * The refusal for an error of `imagine`, `press` or `admin`: a typed error's code and message, or
   * for anything else `internal` with a generic message, the cause going to the logs.
   */
  private refusal(error: unknown, where: string): ChatReply {
    if (isEaselError(error)) return refusal(error.code, error.userMessage);
    this.logger.error({ err: error, where }, "chat service: internal error");
    return refusal("internal", chatTexts.internalError());
  }

  /** Where and who: a private refusal for a place the bot does not answer in, or a banned user. */
  private async gate(who: Who, where: Where): Promise<ChatReply | undefined> {
    if (!isAllowedPlace(this.channelRules, where)) return refusal("forbidden", accessTexts.notHere());
    if (isAdmin(this.config.access.admins, who)) return undefined;
    if (await this.queue.ledger.banOf(who.userId)) return refusal("forbidden", accessTexts.banned());
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
            kind: "refusal",
            text: accessTexts.cooldown(refusal.retryAt - now),
            code: "queue_full",
            retryAt: refusal.retryAt,
          };
        }
        if (refusal?.kind === "quota") {
          const text = accessTexts.quota(refusal.quota, refusal.used, refusal.asked, refusal.retryAt, now);
          return { kind: "refusal", text, code: "queue_full", retryAt: refusal.retryAt };
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

  /**
   * A refine, upscale, zoom out, pan or repaint of image `imageIndex` needs the bytes of the
   * result's image. While the bot keeps them, the request points at the job's image; once they are
   * gone (past the retention time), the adapter that posted the result fetches them back from the
   * post, and the request works on that copy, kept like an upload. Only when that fails too is the
   * image gone: a refusal saying so. Re-roll and vary (no `imageIndex`) need no image.
   */
  private async withSourceImage(
    job: JobRecord,
    imageIndex: number | undefined,
    request: GenerationRequest,
  ): Promise<GenerationRequest | ChatReply> {
    if (imageIndex === undefined) return request;
    const image = job.images[imageIndex];
    if (!image || !request.source || isUploadSource(request.source)) return request;
    if (!image.deleted && (await this.queue.images.get(image.id))) return request;
    const fetched = await this.fetchPosted(job, image);
    if (!fetched) {
      return refusal(
        "not_found",
        buttonErrors.expiredImage(imageIndex + 1, this.config.retentionHours, job.postedTo !== undefined),
      );
    }
    const uploadId = await this.queue.images.putUpload(fetched);
    this.logger.info({ jobId: job.id, image: imageIndex, posted: job.postedTo }, "posted image fetched back");
    return {
      ...request,
      source: {
        uploadId,
        strength: request.source.strength,
        upscale: request.source.upscale,
        from: { jobId: job.id, imageIndex },
      },
    };
  }

  /**
   * A refusal when the request starts from a result's image the presser may not see: nothing is
   * made from a withheld image, and a blurred one only for whoever may have its original, since
   * the new job is the presser's (and so would Show on its result be). This covers the image
   * actions (refine, upscale, zoom, pan, repaint) and a re-roll or variation of a job made from
   * such an image, which keeps its source.
   */
  private async unseenSource(
    request: GenerationRequest,
    presserId: UserId,
    admin: boolean,
  ): Promise<ChatReply | undefined> {
    const source = request.source;
    const from = source && isUploadSource(source) ? source.from : source;
    if (!from) return undefined;
    const job = await this.queue.job(from.jobId);
    const image = job?.images[from.imageIndex];
    if (!job || !image) return undefined; // the queue refuses a source that is gone
    const display = displayOf(image);
    if (display === "withheld") {
      return refusal("forbidden", moderationTexts.withheldForAdmins(from.imageIndex + 1));
    }
    if (!mayHaveOriginal(display, job.userId, presserId, admin)) {
      return refusal("forbidden", moderationTexts.notYourImageToChange(from.jobId, from.imageIndex + 1));
    }
    return undefined;
  }

  /** A result's image from where it was posted, through the adapter that posted it. */
  private async fetchPosted(job: JobRecord, image: ImageRef) {
    const posted = job.postedTo;
    const platform = posted?.slice(0, posted.indexOf(":")) as Platform | undefined;
    const source = platform ? this.postedSources.get(platform) : undefined;
    if (!posted || !source) return undefined;
    try {
      const fetched = await source.fetch(posted, image);
      return fetched ? postedImage(fetched.data, image) : undefined;
    } catch (error) {
      this.logger.warn({ err: error, jobId: job.id, posted }, "could not fetch a posted image back");
      return undefined;
    }
  }

  /** The delete button (the caller checked author or admin): the images go, the view says so. */
  private async deleteResult(job: JobRecord, who: Who, where: Where): Promise<ChatReply> {
    const deleted = await this.queue.ledger.deleteResult(job.id, who.userId, this.now(), placeOf(where));
    this.logger.info({ jobId: job.id, by: who.userId, deleted }, "result deleted");
    const view = await this.view(job.id);
    const text = deleted ? chatTexts.deleted() : chatTexts.alreadyDeleted();
    return view ? { kind: "info", text, deleted: view } : info(text);
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
    return { ...(await this.stateViewOf(record)), ...runOf(record.request) };
  }

  private async stateViewOf(record: JobRecord): Promise<JobView> {
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
        return this.resultView(record);
      case "failed":
        return this.endedView(record, "failed", record.error?.message ?? chatTexts.internalError());
      case "cancelled":
        return this.endedView(record, "cancelled");
    }
  }

  /**
   * A kept result: its caption, its images with how each is shown, and its buttons; images the
   * content filter withheld are named in the caption, and their requester gets a private note.
   */
  private resultView(record: JobRecord): JobView {
    const { id: jobId, request } = record;
    const images = viewImages(record.images);
    const withheld = withheldNumbers(images);
    const caption = resultCaption(
      request,
      {
        seeds: record.seeds ?? [],
        durationMs: Math.max(0, (record.finishedAt ?? 0) - (record.startedAt ?? record.createdAt)),
      },
      this.config.models.models.length > 1,
    );
    return {
      jobId,
      state: "done",
      requester: request.requester,
      text:
        withheld.length > 0
          ? `${caption}\n${moderationTexts.withheldLine(withheld, images.length)}`
          : caption,
      images,
      ...(withheld.length > 0
        ? { notice: moderationTexts.withheldNote(withheld, images.length, jobId) }
        : {}),
      buttons: moderatedButtons(resultButtons(jobId, request), images, jobId),
      final: true,
    };
  }

  private queuedView(jobId: string, request: GenerationRequest, position: number): JobView {
    return {
      ...runOf(request),
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

/** The model and the effective settings a request runs with, as views carry them. */
function runOf(request: GenerationRequest): Pick<JobView, "model" | "loras" | "settings"> {
  const { steps, guidance, scheduler, width, height } = request;
  return {
    ...(request.model !== undefined ? { model: request.model } : {}),
    ...(request.loras?.length ? { loras: request.loras.map(({ name, scale }) => ({ name, scale })) } : {}),
    settings: { steps, guidance, scheduler, width, height },
  };
}

/** How many announced releases the service remembers: far more than can happen between two polls. */
const ANNOUNCED_KEPT = 1000;

/** For callers that need the typed refusal of a reply (the CLI's exit status). */
export function errorOfReply(reply: ChatReply): EaselError | undefined {
  return reply.kind === "refusal" ? new EaselError(reply.code, reply.text) : undefined;
}
