/**
 * Every sentence a user reads from `/imagine`, for all platforms. Plain text with `**bold**` and
 * `code` spans, which Discord renders and the Slack adapter converts; escaping for a platform's
 * markup is the adapter's job.
 */
import type { Config } from "../config.js";
import type { PanDirection } from "../pipeline/types.js";
import { LIMITS } from "../pipeline/validate.js";
import type { WithheldImage } from "../requests/operator.js";
import { type GenerationRequest, isUploadSource } from "../requests/request.js";
import { wellFormed } from "../requests/values.js";
import { imagineOptions } from "./options.js";

/** Longest part of a user's value echoed back in an error. */
const MAX_ECHO = 32;
/** Longest prompt shown in a result caption. */
export const MAX_CAPTION_PROMPT = 200;

/** An invisible or control character, written so that it shows: `\n`, `\t`, `\u{200B}`. */
function shown(char: string): string {
  if (char === "\n") return "\\n";
  if (char === "\t") return "\\t";
  if (!/[\p{Cc}\p{Cf}]/u.test(char)) return char;
  return `\\u{${char.codePointAt(0)!.toString(16).toUpperCase()}}`;
}

/**
 * A user's value for an error message, shown as given: a plain number bare, anything else quoted
 * with its spaces kept (`" 2 "` is not `2`), invisible and control characters written out, a lone
 * surrogate as U+FFFD, and at most MAX_ECHO characters.
 */
export function echo(value: string | number | boolean): string {
  if (typeof value !== "string") return String(value);
  if (/^[+-]?\d+(\.\d+)?$/.test(value) && value.length <= MAX_ECHO) return value;
  const chars = Array.from(wellFormed(value), shown);
  const short = chars.length > MAX_ECHO ? `${chars.slice(0, MAX_ECHO - 1).join("")}…` : chars.join("");
  return `"${short.replaceAll("`", "'")}"`;
}

export function truncate(text: string, max: number): string {
  const chars = Array.from(text);
  return chars.length > max
    ? `${chars
        .slice(0, max - 1)
        .join("")
        .trimEnd()}…`
    : text;
}

// ── Input errors ───────────────────────────────────────────────────────────────────────────────

export const inputErrors = {
  emptyPrompt: (negativeTookText: boolean): string =>
    negativeTookText
      ? 'Your prompt is empty: everything after --no up to the next flag is the negative prompt. Put --no last, or quote it: --no "fog".'
      : "Please describe the image you want, e.g. `/imagine a lighthouse at dusk`.",
  tooLong: (label: string, length: number, max: number): string =>
    `${label} is ${length} characters long; the limit is ${max}.`,
  notWholeNumber: (label: string, given: string | number | boolean): string =>
    `${label} must be a whole number; you gave ${echo(given)}.`,
  notNumber: (label: string, given: string | number | boolean): string =>
    `${label} must be a number; you gave ${echo(given)}.`,
  outOfRange: (label: string, min: number, max: number, given: string | number | boolean): string =>
    `${label} must be between ${min} and ${max}; you gave ${echo(given)}.`,
  badSeed: (given: string | number | boolean): string =>
    `Seed must be a whole number from 0 to ${LIMITS.maxSeed}; you gave ${echo(given)}.`,
  seedTooLargeForCount: (seed: string, count: number, max: bigint): string =>
    `Seed ${seed} is too large for ${count} images: image i uses seed + i, so the seed may be at most ${max}.`,
  badAspect: (given: string | number | boolean): string =>
    `Aspect ratio must look like 16:9 (width:height, both above 0); you gave ${echo(given)}.`,
  badSize: (given: string | number | boolean, min: number, max: number, multiple: number): string =>
    `Size must be WIDTHxHEIGHT with each side a multiple of ${multiple} from ${min} to ${max}, e.g. 1152x896; you gave ${echo(given)}.`,
  badChoice: (label: string, allowed: readonly string[], given: string | number | boolean): string =>
    `${label} must be one of ${allowed.join(", ")}; you gave ${echo(given)}.`,
  badBoolean: (label: string, given: string | number | boolean): string =>
    `${label} must be on or off; you gave ${echo(given)}.`,
  refinerUnavailable: (): string =>
    "This bot has no refiner model set up, so the refiner can't be turned on.",
  unknownFlag: (flag: string, suggestion: string | undefined): string =>
    suggestion
      ? `Unknown flag ${flag}. Did you mean ${suggestion}?`
      : `Unknown flag ${flag}. Type \`/imagine help\` to see the flags.`,
  unknownOption: (name: string): string => `Unknown option ${echo(name)}.`,
  unknownLora: (given: string, offered: readonly string[]): string =>
    offered.length === 0
      ? `This bot has no LoRAs; you asked for ${echo(given)}.`
      : `There is no LoRA ${echo(given)}; LoRAs: ${offered.slice(0, 25).join(", ")}${offered.length > 25 ? ", …" : ""}.`,
  badLoraScale: (name: string, given: string, min: number, max: number): string =>
    `The scale of LoRA ${name} must be a number from ${min} to ${max}; you gave ${echo(given)}.`,
  tooManyLoras: (given: number, max: number): string =>
    max === 0
      ? "This bot does not take LoRAs."
      : `At most ${max} LoRA${max === 1 ? "" : "s"} at once; you gave ${given}.`,
  triggersTooLong: (length: number, max: number): string =>
    `With the LoRAs' trigger words the prompt is ${length} characters; the limit is ${max}. Shorten the prompt.`,
  loraTwice: (name: string): string => `You gave LoRA ${name} twice; keep one.`,
  loraNotForModel: (name: string, model: string, suits: readonly string[]): string =>
    `LoRA ${name} is made for ${suits.join(", ")}, not ${model}; pick one of those with --model, or another LoRA.`,
  setTwice: (label: string, first: string, second: string): string =>
    first === second
      ? `You gave ${first} twice; keep one.`
      : `You set ${label.toLowerCase()} twice (${first} and ${second}); keep one.`,
  aspectAndSize: (): string => "Use either an aspect ratio or an exact size, not both.",
  missingValue: (flag: string, example: string): string => `${flag} needs a value, e.g. ${example}.`,
  unclosedQuote: (flag: string): string => `The quote after ${flag} is never closed.`,
  blockedPrompt: (): string => "Your prompt contains a term that isn't allowed here. Please rephrase it.",
};

// ── Buttons ────────────────────────────────────────────────────────────────────────────────────

export const buttonErrors = {
  invalid: (): string => "This button isn't recognised. Please run /imagine again.",
  outdated: (): string => "This button is from an older version of the bot. Please run /imagine again.",
  notAllowed: (): string => "Only the person who ran this /imagine can use its buttons.",
  noSuchImage: (imageNumber: number, count: number): string =>
    `That job made ${count} image${count === 1 ? "" : "s"}, so there is no image ${imageNumber}.`,
  cannotUpscale: (): string => "This image is already as large as the bot can make it.",
  notAFollowUp: (): string => "Cancel stops a job; it doesn't start a new one.",
  notYourDelete: (): string => "Only the person who ran this /imagine, or an admin, can delete it.",
  deletedResult: (): string => "This result was deleted, so its buttons no longer work.",
  expiredImage: (imageNumber: number, retentionHours: number, posted: boolean): string =>
    `Image ${imageNumber} of this result is no longer kept (the bot keeps results for ${retentionHours} hour${retentionHours === 1 ? "" : "s"})${posted ? ", and it could not be fetched back from where it was posted" : ""}, so there is nothing to refine or upscale any more. Re-roll and variations still work, or run /imagine again.`,
  nothingToDelete: (): string =>
    "This job hasn't finished, so there is nothing to delete yet; cancel it instead.",
  notFinished: (): string => "This job hasn't finished yet; its result buttons work once it has.",
  noImages: (ended: "failed" | "cancelled"): string =>
    `This job ${ended === "failed" ? "failed" : "was cancelled"} before it made any images, so there is nothing to vary, refine, upscale or delete.`,
  noResult: (ended: "failed" | "cancelled"): string =>
    `This job ${ended === "failed" ? "failed" : "was cancelled"}, so its buttons no longer work. Please run /imagine again.`,
  alreadyEnded: (ended: "done" | "failed" | "cancelled"): string =>
    ended === "done"
      ? "This job has already finished, so there is nothing to cancel."
      : ended === "failed"
        ? "This job has already ended (it failed), so there is nothing to cancel."
        : "This job was already cancelled.",
};

/** Button labels; images are numbered from 1 for people. */
export const buttonLabels = {
  reroll: "🔄 Re-roll",
  cancel: "Cancel",
  delete: "🗑️ Delete",
  varySubtle: (imageNumber: number, single: boolean): string =>
    single ? "Vary (subtle)" : `V${imageNumber} subtle`,
  varyStrong: (imageNumber: number, single: boolean): string =>
    single ? "Vary (strong)" : `V${imageNumber} strong`,
  refine: (imageNumber: number, single: boolean): string => (single ? "Refine" : `Refine ${imageNumber}`),
  upscale: (imageNumber: number, single: boolean): string => (single ? "Upscale" : `Upscale ${imageNumber}`),
  zoom: (factor: number, imageNumber: number, single: boolean): string =>
    single ? `Zoom Out ${factor}×` : `Zoom Out ${factor}× (${imageNumber})`,
  pan: (direction: PanDirection, imageNumber: number, single: boolean): string =>
    single ? PAN_ARROWS[direction] : `${PAN_ARROWS[direction]} ${imageNumber}`,
};

/** The pan buttons' arrows (Midjourney's). */
export const PAN_ARROWS: Readonly<Record<PanDirection, string>> = {
  left: "⬅️",
  right: "➡️",
  up: "⬆️",
  down: "⬇️",
};

/** Private answers about zoom out, pan and repaint requests. */
export const canvasErrors = {
  noSuchImage: (imageNumber: number, count: number): string =>
    `That job made ${count} image${count === 1 ? "" : "s"}, so there is no image ${imageNumber}.`,
  noRects: (): string => "Repaint needs at least one rectangle, or a mask.",
  tooManyRects: (given: number, max: number): string =>
    `Repaint takes at most ${max} rectangles; got ${given}.`,
  rectOutside: (rectNumber: number, width: number, height: number): string =>
    `Rectangle ${rectNumber} is not inside the image: x and y are whole pixels from 0, width and height from 1, and it must end within the image's ${width}x${height}.`,
  maskTooLarge: (maxMegabytes: number): string => `The mask is too large; the limit is ${maxMegabytes} MB.`,
  maskNotAnImage: (): string => "The mask is not a PNG, JPEG or WebP image (white = repaint).",
  maskEmpty: (): string => "The mask has no white in it: paint the part to repaint white.",
  zoomNeedsPicture: (): string =>
    "Zoom works on a picture attached to /imagine; to zoom out a result, use the Zoom Out buttons under it.",
};

/** Private answers of the chat service (besides input and button errors). */
export const chatTexts = {
  cancelling: (): string => "Cancelling… the job stops at its next step.",
  cancelled: (): string => "Cancelled.",
  jobGone: (): string => "That job isn't known to the bot any more. Please run /imagine again.",
  notYourCancel: (): string => "Only the person who started this job can cancel it.",
  internalError: (): string => "Something went wrong on our side. Please try again.",
  uploadTooLarge: (maxMegabytes: number): string =>
    `The picture is too large; the limit is ${maxMegabytes} MB.`,
  uploadNotAnImage: (): string => "The attachment is not a PNG, JPEG or WebP picture.",
  uploadBadSize: (width: number, height: number, min: number, max: number): string =>
    `The picture is ${width}x${height}; each side must be from ${min} to ${max} pixels.`,
  recoveredRequeued: (): string => "The bot restarted; this one is queued again.",
  deleted: (): string => "Deleted: the images are removed from the bot.",
  alreadyDeleted: (): string => "This result was already deleted.",
};

// ── Access: channels, bans, quotas, cooldowns ──────────────────────────────────────────────────

/** "00:00 UTC" for a moment on a whole minute; "in 3 h 12 min", "in 45 s". */
function untilText(ms: number): string {
  const seconds = Math.max(1, Math.ceil(ms / 1000));
  if (seconds < 60) return `in ${seconds} second${seconds === 1 ? "" : "s"}`;
  const minutes = Math.ceil(seconds / 60);
  if (minutes < 60) return `in ${minutes} min`;
  return `in ${Math.floor(minutes / 60)} h ${String(minutes % 60).padStart(2, "0")} min`;
}

const utcClock = (at: number): string => `${new Date(at).toISOString().slice(11, 16)} UTC`;

export const accessTexts = {
  notHere: (): string =>
    "I don't answer in this channel. Please use /imagine in one of the channels this bot is set up for.",
  banned: (): string =>
    "You can't use this bot: its admins have blocked you. Ask an admin if you think this is a mistake.",
  cooldown: (retryInMs: number): string =>
    `Please wait a little between requests: you can ask again ${untilText(retryInMs)}.`,
  quota: (quota: number, used: number, asked: number, retryAt: number, now: number): string => {
    const left = Math.max(0, quota - used);
    const when = `at ${utcClock(retryAt)} (${untilText(retryAt - now)})`;
    return left === 0
      ? `You've made your ${quota} images for today. The quota resets ${when}.`
      : `You have ${left} image${left === 1 ? "" : "s"} left today and asked for ${asked}: ask for ${left} or fewer, or wait until the quota resets ${when}.`;
  },
};

/** What a deleted result's message says instead of the images. */
export function deletedText(byAuthor: boolean): string {
  return byAuthor ? "This image was deleted by its author." : "This image was deleted by an admin.";
}

// ── Job status ─────────────────────────────────────────────────────────────────────────────────

/** `position` is the 1-based place in line: 1 means next to run. */
export function queuedText(position: number): string {
  return position <= 1 ? "Queued: you're next." : `Queued: #${position} in line.`;
}

export function progressText(step: number, total: number): string {
  const percent = total > 0 ? Math.round((100 * step) / total) : 0;
  return `Generating: step ${step}/${total} (${percent}%)`;
}

export function cancelledText(byUserName?: string): string {
  return byUserName ? `Cancelled by ${byUserName}.` : "Cancelled.";
}

/** A failed job; `reason` is an error's user message (see userMessageOf). */
export function failedText(reason: string): string {
  return `Sorry, this one failed: ${reason}`;
}

// ── Help and captions ──────────────────────────────────────────────────────────────────────────

/** Short help with the flags from the option table and a few examples. */
export function helpText(config: Config): string {
  const lines = ["**/imagine** — describe an image, add flags anywhere:"];
  for (const option of imagineOptions(config)) {
    if (option.name === "prompt" || !option.available) continue;
    const names = [...option.flags, ...(option.offFlags ?? [])].map((flag) => `--${flag}`).join(" / ");
    lines.push(`\`${names}\` ${option.description}`);
  }
  lines.push(
    "**Examples**",
    "`/imagine a lighthouse at dusk --ar 16:9 --seed 7`",
    '`/imagine portrait of an old fisherman --ar 2:3 --cfg 7 --no "blur, text"`',
    "`/imagine isometric city at night --n 4 --sampler dpmpp-2m-karras --steps 25`",
  );
  return lines.join("\n");
}

export interface CaptionResult {
  /** Seed of each image, decimal strings. */
  seeds: string[];
  durationMs: number;
}

/** The caption under a result: the prompt, then the settings that reproduce it. */
export function resultCaption(
  request: GenerationRequest,
  result: CaptionResult,
  /** Name the model (a deployment that offers several). */
  showModel = false,
): string {
  const settings = [
    ...(showModel && request.model !== undefined ? [request.model] : []),
    ...(request.loras ?? []).map((lora) => `LoRA ${lora.name}:${lora.scale}`),
    seedsText(result.seeds.length > 0 ? result.seeds : [request.seed]),
    `${request.width}x${request.height}`,
    `${request.steps} steps`,
    `cfg ${request.guidance}`,
    request.scheduler,
    request.refiner.enabled ? "refiner on" : "refiner off",
  ];
  if (request.variation) settings.push(`variation ${request.variation.strength}`);
  const source = request.source;
  const fromImage = source && (isUploadSource(source) ? source.from?.imageIndex : source.imageIndex);
  const canvas = request.canvas;
  if (source && canvas) {
    const what =
      canvas.kind === "zoom_out"
        ? `zoomed out ${canvas.factor}×`
        : canvas.kind === "pan"
          ? `panned ${canvas.direction}`
          : `repainted at strength ${source.strength}`;
    settings.push(
      fromImage !== undefined ? `${what} from image ${fromImage + 1}` : `${what} from your picture`,
    );
  } else if (source && fromImage !== undefined) {
    const action = source.upscale > 1 ? `upscaled x${source.upscale}` : "refined";
    settings.push(`${action} from image ${fromImage + 1}`);
  } else if (source) {
    settings.push(`from your picture at strength ${source.strength}`);
  }
  settings.push(durationText(result.durationMs));
  return `${truncate(request.prompt, MAX_CAPTION_PROMPT)}\n${settings.join(" · ")}`;
}

function seedsText(seeds: readonly string[]): string {
  if (seeds.length === 1) return `seed ${seeds[0]}`;
  const consecutive =
    seeds.every((seed) => /^\d+$/.test(seed)) &&
    seeds.every((seed, i) => i === 0 || BigInt(seed) === BigInt(seeds[i - 1]!) + 1n);
  return consecutive ? `seeds ${seeds[0]}-${seeds.at(-1)}` : `seeds ${seeds.join(", ")}`;
}

/** "850 ms", "12.3 s", "2 min 05 s". */
export function durationText(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  const seconds = Math.round(ms / 1000);
  return `${Math.floor(seconds / 60)} min ${String(seconds % 60).padStart(2, "0")} s`;
}

// ── Admin commands (/easel on the chats, `easel admin` on the box) ────────────────────────────

/** "12 s", "4 min", "2 h 05 min": a past or future span, for listings. */
function spanText(ms: number): string {
  const seconds = Math.max(0, Math.round(ms / 1000));
  if (seconds < 60) return `${seconds} s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return `${minutes} min`;
  return `${Math.floor(minutes / 60)} h ${String(minutes % 60).padStart(2, "0")} min`;
}

/** At most this many jobs of each kind in a listing (a chat message has a length limit). */
export const MAX_LISTED_JOBS = 15;
const MAX_LISTED_PROMPT = 60;

export interface ListedJob {
  jobId: string;
  status: "queued" | "running";
  userId: string;
  userName?: string;
  place: string;
  device?: string;
  count: number;
  prompt: string;
  createdAt: number;
  startedAt?: number;
  /** Queued: the 1-based place in line, when the process that runs it knows it. */
  position?: number;
}

export interface StatsSummary {
  days: Array<{
    day: string;
    platform: string;
    jobs: number;
    images: number;
    failed: number;
    cancelled: number;
  }>;
  jobs: number;
  images: number;
  failuresByCode: Record<string, number>;
  meanWaitMs: number | undefined;
  meanDeviceMs: number | undefined;
}

export const adminTexts = {
  notAdmin: (): string => "Only this bot's admins can use /easel.",
  usage: (): string =>
    [
      "**/easel** — admin commands:",
      "`queue` what is queued and running, on which device, for whom",
      "`cancel JOB` cancel any job",
      "`ban USER [reason]` refuse a user's requests (e.g. discord:123, slack:T1:U2, or a mention)",
      "`unban USER` lift a ban",
      "`stats [DAYS]` jobs and images per day and platform, failures, mean wait and device time",
      "`withheld` images the content filter withheld, waiting for a decision",
      "`show JOB IMAGE` look at a moderated image privately",
      "`release JOB IMAGE` show a withheld image to everyone, in its result",
    ].join("\n"),
  unknownSubcommand: (given: string): string =>
    `There is no /easel ${echo(given)}. The subcommands are queue, cancel, ban, unban, stats, withheld, show and release.`,
  missingArgument: (subcommand: string, argument: string): string =>
    `/easel ${subcommand} needs ${argument}, e.g. \`/easel ${subcommand} ${argument === "JOB" ? "3f9c2a1b7d4e5f60" : "discord:123456789"}\`.`,
  badJobId: (given: string): string => `${echo(given)} is not a job id.`,
  badUserId: (given: string): string =>
    `${echo(given)} is not a user: give a platform-qualified id (discord:123, slack:T1:U2, web:…, cli:…) or a mention.`,
  badDays: (given: string, max: number): string =>
    `The number of days must be a whole number from 1 to ${max}; you gave ${echo(given)}.`,
  noSuchJob: (jobId: string): string => `There is no job \`${jobId}\`.`,
  alreadyFinished: (jobId: string, status: string): string =>
    `Job \`${jobId}\` has already ended (${status}); there is nothing to cancel.`,
  cancelled: (jobId: string, how?: string): string => `Cancelled job \`${jobId}\`${how ? ` ${how}` : ""}.`,
  stopping: (jobId: string, how?: string): string =>
    `Job \`${jobId}\` is stopping${how ? ` ${how}` : ""}: it ends at its next step.`,
  banned: (userId: string): string => `Banned ${userId}: their requests are refused from now on.`,
  alreadyBanned: (userId: string): string => `${userId} is already banned.`,
  unbanned: (userId: string): string => `Lifted the ban on ${userId}.`,
  notBanned: (userId: string): string => `${userId} is not banned.`,
  cannotBanAdmin: (userId: string): string =>
    `${userId} is an admin (EASEL_ADMINS); remove them there before banning them.`,
  queueListing: (jobs: readonly ListedJob[], now: number): string => {
    const running = jobs.filter((job) => job.status === "running");
    const queued = jobs.filter((job) => job.status === "queued");
    if (jobs.length === 0) return "Nothing is queued or running.";
    const who = (job: ListedJob) => (job.userName ? `${job.userId} (${echo(job.userName)})` : job.userId);
    const prompt = (job: ListedJob) => echo(truncate(job.prompt, MAX_LISTED_PROMPT));
    const images = (job: ListedJob) => `${job.count} image${job.count === 1 ? "" : "s"}`;
    const lines = [`**Running** (${running.length})`];
    for (const job of running.slice(0, MAX_LISTED_JOBS)) {
      const since = job.startedAt !== undefined ? `, for ${spanText(now - job.startedAt)}` : "";
      lines.push(
        `\`${job.jobId}\` on ${job.device ?? "a device"}${since} · ${who(job)} in ${job.place} · ${images(job)} · ${prompt(job)}`,
      );
    }
    if (running.length > MAX_LISTED_JOBS) lines.push(`… and ${running.length - MAX_LISTED_JOBS} more`);
    lines.push(`**Queued** (${queued.length})`);
    for (const [i, job] of queued.slice(0, MAX_LISTED_JOBS).entries()) {
      const place = job.position !== undefined ? `#${job.position}` : `${i + 1}.`;
      lines.push(
        `${place} \`${job.jobId}\` waiting ${spanText(now - job.createdAt)} · ${who(job)} in ${job.place} · ${images(job)} · ${prompt(job)}`,
      );
    }
    if (queued.length > MAX_LISTED_JOBS) lines.push(`… and ${queued.length - MAX_LISTED_JOBS} more`);
    return lines.join("\n");
  },
  stats: (stats: StatsSummary, days: number): string => {
    const n = (count: number, word: string) => `${count} ${word}${count === 1 ? "" : "s"}`;
    const lines = [`**Last ${n(days, "day")} (UTC)**: ${n(stats.jobs, "job")}, ${n(stats.images, "image")}`];
    for (const day of stats.days) {
      lines.push(
        `${day.day} ${day.platform}: ${n(day.jobs, "job")}, ${n(day.images, "image")}, ${day.failed} failed, ${day.cancelled} cancelled`,
      );
    }
    const failures = Object.entries(stats.failuresByCode);
    lines.push(
      failures.length === 0
        ? "Failures: none"
        : `Failures: ${failures.map(([code, count]) => `${code} ${count}`).join(", ")}`,
    );
    const mean = (ms: number | undefined) => (ms === undefined ? "—" : durationText(ms));
    lines.push(`Mean wait ${mean(stats.meanWaitMs)} · mean device time ${mean(stats.meanDeviceMs)}`);
    return lines.join("\n");
  },
};

// ── Output moderation ──────────────────────────────────────────────────────────────────────────

const MAX_LISTED_WITHHELD = 20;

export const moderationTexts = {
  showLabel: (imageNumber: number, single: boolean): string => (single ? "👁️ Show" : `👁️ Show ${imageNumber}`),
  /** The line a result's caption gains when the content filter withheld some of its images. */
  withheldLine: (numbers: readonly number[], count: number): string =>
    numbers.length === count
      ? count === 1
        ? "The image was withheld by the content filter."
        : "The images were withheld by the content filter."
      : `${numbers.length === 1 ? "Image" : "Images"} ${listText(numbers)} ${numbers.length === 1 ? "was" : "were"} withheld by the content filter.`,
  /** The private note a requester gets with a result the content filter withheld images of. */
  withheldNote: (numbers: readonly number[], count: number, jobId: string): string => {
    const one = count === 1 || numbers.length === 1;
    const what =
      count === 1
        ? "Your image"
        : `${numbers.length === 1 ? "Image" : "Images"} ${listText(numbers)} of your result`;
    return `${what} (job \`${jobId}\`) ${one ? "was" : "were"} withheld by the content filter and ${one ? "is" : "are"} not shown. An admin can look at ${one ? "it" : "them"} and release ${one ? "it" : "them"}.`;
  },
  /** The private answer that carries an original. */
  shown: (imageNumber: number): string => `Image ${imageNumber}, shown only to you.`,
  notYourImage: (): string => "Only the person who made this image (or an admin) can see it unblurred.",
  notYourImageToChange: (jobId: string, imageNumber: number): string =>
    `Image ${imageNumber} of job \`${jobId}\` is blurred by the content filter: only the person who made it (or an admin) can make something from it.`,
  withheldForAdmins: (imageNumber: number): string =>
    `Image ${imageNumber} was withheld by the content filter: only an admin can look at it or release it.`,
  imageGone: (imageNumber: number): string =>
    `Image ${imageNumber} is no longer kept by the bot (results are kept for a while, then swept).`,
  noSuchImage: (jobId: string, imageNumber: number): string =>
    `Job \`${jobId}\` has no image ${imageNumber}.`,
  badImageNumber: (given: string): string => `${echo(given)} is not an image number (1, 2, …).`,
  missingImage: (subcommand: string): string =>
    `/easel ${subcommand} needs JOB and IMAGE, e.g. \`/easel ${subcommand} 3f9c2a1b7d4e5f60 1\`.`,
  notWithheld: (jobId: string, imageNumber: number): string =>
    `Image ${imageNumber} of job \`${jobId}\` is not withheld; there is nothing to release.`,
  alreadyReleased: (jobId: string, imageNumber: number): string =>
    `Image ${imageNumber} of job \`${jobId}\` was already released.`,
  released: (jobId: string, imageNumber: number): string =>
    `Released image ${imageNumber} of job \`${jobId}\`: it is shown in its result now.`,
  /** The public line over a released image, posted where its result was. */
  releasedPost: (imageNumber: number): string =>
    `Image ${imageNumber} of this result was released by an admin.`,
  withheldListing: (items: readonly WithheldImage[], now: number): string => {
    if (items.length === 0) return "No image is withheld.";
    const lines = [`**Withheld** (${items.length})`];
    for (const item of items.slice(0, MAX_LISTED_WITHHELD)) {
      const who = item.userName ? `${item.userId} (${echo(item.userName)})` : item.userId;
      lines.push(
        `\`${item.jobId}\` image ${item.index + 1} · ${item.label} ${item.score.toFixed(2)} · ${who} in ${item.place} · ${spanText(now - item.at)} ago · ${echo(truncate(item.prompt, MAX_LISTED_PROMPT))}`,
      );
    }
    if (items.length > MAX_LISTED_WITHHELD) lines.push(`… and ${items.length - MAX_LISTED_WITHHELD} more`);
    lines.push("Look with `/easel show JOB IMAGE`, release with `/easel release JOB IMAGE`.");
    return lines.join("\n");
  },
};

/** "1", "1 and 3", "1, 2 and 4". */
function listText(numbers: readonly number[]): string {
  if (numbers.length <= 1) return numbers.join("");
  return `${numbers.slice(0, -1).join(", ")} and ${numbers.at(-1)}`;
}
