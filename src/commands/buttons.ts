/**
 * Result buttons: actions encoded in custom ids that point at a stored job, so a button keeps
 * working after a restart (decoding reads the id string only), and the follow-up request each
 * action makes.
 *
 * Id format (at most 87 characters: `easel:1:vary:` + a 64-character job id + `:99:strong`, within Discord's and Slack's 100):
 *   easel:1:reroll:<jobId>              easel:1:cancel:<jobId>         easel:1:delete:<jobId>
 *   easel:1:vary:<jobId>:<i>:subtle     easel:1:vary:<jobId>:<i>:strong
 *   easel:1:refine:<jobId>:<i>          easel:1:upscale:<jobId>:<i>
 *   easel:1:zoom:<jobId>:<i>:<factor>   easel:1:pan:<jobId>:<i>:<left|right|up|down>
 *   easel:1:show:<jobId>:<i>            (a moderated image's original, privately to its requester)
 * `1` is the format version; jobId is 1-64 characters of [A-Za-z0-9_-]; i is the 0-based image
 * index (0-99, no leading zeros); a zoom factor is 1-2 in at most two decimals, written as
 * JavaScript writes the number (`2`, `1.5`, `1.25`: no trailing zeros). Every id has exactly one
 * spelling, so decode(encode(a)) is a. The canvas kinds came later without changing the older ids'
 * meaning, so the version stayed 1.
 */
import type { Config } from "../config.js";
import { InvalidInputError } from "../errors.js";
import { BUTTON_ZOOM_FACTORS } from "../pipeline/canvas/index.js";
import { PAN_DIRECTIONS, type PanDirection } from "../pipeline/types.js";
import { LIMITS } from "../pipeline/validate.js";
import type { GenerationRequest, Requester } from "../requests/request.js";
import { isValidSide } from "./aspect.js";
import type { ActionKind } from "./button-rules.js";
import { canvasRequest, isZoomFactor } from "./canvas.js";
import { randomSeedFor } from "./seeds.js";
import { buttonErrors, buttonLabels } from "./texts.js";

export type ButtonAction =
  | { kind: "reroll"; jobId: string }
  | { kind: "cancel"; jobId: string }
  | { kind: "delete"; jobId: string }
  | { kind: "vary"; jobId: string; imageIndex: number; strength: "subtle" | "strong" }
  | { kind: "refine"; jobId: string; imageIndex: number }
  | { kind: "upscale"; jobId: string; imageIndex: number }
  /** Zoom out image i: the same size, the image scaled by 1/factor in the middle, the border new. */
  | { kind: "zoom"; jobId: string; imageIndex: number; factor: number }
  /** Pan image i: the canvas extended towards `direction`, the new strip drawn. */
  | { kind: "pan"; jobId: string; imageIndex: number; direction: PanDirection }
  /** A moderated image's original, privately to its requester. */
  | { kind: "show"; jobId: string; imageIndex: number };

export type ButtonKind = ButtonAction["kind"];
/** Actions that start a new job (cancel is the queue's business, delete the ledger's; show posts nothing). */
export type FollowUpAction = Exclude<ButtonAction, { kind: "cancel" | "delete" | "show" }>;

/** A button id that is not ours, malformed, or from another format version. */
export class InvalidButtonError extends InvalidInputError {
  constructor(message: string) {
    super(message, "button");
  }
}

export const BUTTON_PREFIX = "easel";
export const BUTTON_VERSION = 1;
export const MAX_BUTTON_ID_LENGTH = 100;
export const MAX_IMAGE_INDEX = 99;

/** Variation strengths: how much of the subseed's noise is blended into the image's own seed noise. */
export const VARIATION_STRENGTH = { subtle: 0.15, strong: 0.45 } as const;
/** img2img strength for refine and upscale (and `easel refine` without --strength): re-runs the last 30% of the schedule. */
export const REFINE_STRENGTH = 0.3;
/** An upscale that changes the size: the pipeline's factors above 1. */
export type UpscaleFactor = Exclude<(typeof LIMITS.upscaleFactors)[number], 1>;
/** Tried largest first; the first that keeps both sides within the pipeline's limits wins. */
const UPSCALE_FACTORS: readonly UpscaleFactor[] = LIMITS.upscaleFactors
  .filter((factor): factor is UpscaleFactor => factor > 1)
  .sort((a, b) => b - a);

const JOB_ID = /^[A-Za-z0-9_-]{1,64}$/;
const INDEX = /^(0|[1-9]\d?)$/;
const KINDS: readonly ButtonKind[] = [
  "reroll",
  "cancel",
  "delete",
  "vary",
  "refine",
  "upscale",
  "zoom",
  "pan",
  "show",
];
/** Kinds that act on one image of the result: their ids carry its index. */
const IMAGE_KINDS: readonly ButtonKind[] = ["vary", "refine", "upscale", "zoom", "pan", "show"];
/** A zoom factor as ids spell it: `1`, `2`, or 1.x with one or two decimals and no trailing zero. */
const ZOOM_SPELLING = /^(1|2|1\.\d?[1-9])$/;

/** Whether an id is one of ours (any version), so adapters can route it here. */
export function isEaselButtonId(id: string): boolean {
  return id.startsWith(`${BUTTON_PREFIX}:`);
}

export function encodeButton(action: ButtonAction): string {
  if (!KINDS.includes(action.kind) || !JOB_ID.test(action.jobId)) {
    throw new InvalidButtonError(buttonErrors.invalid());
  }
  const parts: string[] = [BUTTON_PREFIX, String(BUTTON_VERSION), action.kind, action.jobId];
  if (IMAGE_KINDS.includes(action.kind) && "imageIndex" in action) {
    if (
      !Number.isInteger(action.imageIndex) ||
      action.imageIndex < 0 ||
      action.imageIndex > MAX_IMAGE_INDEX
    ) {
      throw new InvalidButtonError(buttonErrors.invalid());
    }
    parts.push(String(action.imageIndex));
  }
  if (action.kind === "vary") {
    if (action.strength !== "subtle" && action.strength !== "strong") {
      throw new InvalidButtonError(buttonErrors.invalid());
    }
    parts.push(action.strength);
  }
  if (action.kind === "zoom") {
    const spelled = String(action.factor);
    if (!isZoomFactor(action.factor) || !ZOOM_SPELLING.test(spelled)) {
      throw new InvalidButtonError(buttonErrors.invalid());
    }
    parts.push(spelled);
  }
  if (action.kind === "pan") {
    if (!PAN_DIRECTIONS.includes(action.direction)) throw new InvalidButtonError(buttonErrors.invalid());
    parts.push(action.direction);
  }
  return parts.join(":");
}

/** The action in a button id; InvalidButtonError for anything else. Depends on the string only. */
export function decodeButton(id: string): ButtonAction {
  if (typeof id !== "string" || id.length > MAX_BUTTON_ID_LENGTH)
    throw new InvalidButtonError(buttonErrors.invalid());
  const parts = id.split(":");
  if (parts[0] !== BUTTON_PREFIX || parts.length < 4) throw new InvalidButtonError(buttonErrors.invalid());
  if (parts[1] !== String(BUTTON_VERSION)) {
    throw new InvalidButtonError(/^\d+$/.test(parts[1]!) ? buttonErrors.outdated() : buttonErrors.invalid());
  }
  const [, , kind, jobId, index, last] = parts;
  if (!JOB_ID.test(jobId!)) throw new InvalidButtonError(buttonErrors.invalid());
  const imageIndex = index !== undefined && INDEX.test(index) ? Number(index) : undefined;
  if ((kind === "reroll" || kind === "cancel" || kind === "delete") && parts.length === 4) {
    return { kind, jobId: jobId! };
  }
  if (
    (kind === "refine" || kind === "upscale" || kind === "show") &&
    parts.length === 5 &&
    imageIndex !== undefined
  ) {
    return { kind, jobId: jobId!, imageIndex };
  }
  if (parts.length === 6 && imageIndex !== undefined && last !== undefined) {
    if (kind === "vary" && (last === "subtle" || last === "strong")) {
      return { kind, jobId: jobId!, imageIndex, strength: last };
    }
    if (kind === "zoom" && ZOOM_SPELLING.test(last)) {
      return { kind, jobId: jobId!, imageIndex, factor: Number(last) };
    }
    const direction = PAN_DIRECTIONS.find((each) => each === last);
    if (kind === "pan" && direction) return { kind, jobId: jobId!, imageIndex, direction };
  }
  throw new InvalidButtonError(buttonErrors.invalid());
}

/**
 * Whether `presser` may press a button on `author`'s result, per config (`author` or `anyone`).
 * Pass the action's kind to apply the exceptions: cancel and delete are always the author's alone
 * (and the admins', which the chat service checks), since they throw away someone else's work;
 * the other buttons start a new job owned by the presser. Show is not decided here: who may see an
 * original depends on how the image is shown (moderated-images.ts' mayHaveOriginal).
 */
export function mayPress(
  config: Pick<Config, "buttons">,
  authorUserId: string,
  presserUserId: string,
  kind?: Exclude<ActionKind, "show">,
): boolean {
  if (authorUserId === presserUserId) return true;
  return config.buttons === "anyone" && kind !== "cancel" && kind !== "delete";
}

const addToSeed = (seed: string, offset: number): string =>
  BigInt.asUintN(64, BigInt(seed) + BigInt(offset)).toString();

/** The factor an upscale of this size uses, or undefined when even the smallest would exceed the limits. */
export function upscaleFactor(width: number, height: number): UpscaleFactor | undefined {
  return UPSCALE_FACTORS.find((factor) => isValidSide(width * factor) && isValidSide(height * factor));
}

/**
 * The request a button press starts; the presser owns it. Prompts (with the policy already
 * applied when the original was made) carry over unchanged.
 * - reroll: same settings and count (and same source image, if any), a fresh seed that leaves room
 *   for seed + count - 1, no variation.
 * - vary: one image, image i's seed (original seed + i) blended with a fresh subseed at
 *   0.15 (subtle) or 0.45 (strong); one image because a batch would advance the seed per image.
 * - refine: img2img of image i at strength 0.3, same size; upscale: the same at 2x (1.5x when 2x
 *   would pass 2048), width/height being the upscaled size. Both use image i's seed and turn the
 *   refiner on when `config` says one is installed (it then runs the low-noise end of the
 *   shortened schedule, as in text-to-image); without `config` the original's refiner setting stays.
 * - zoom, pan: image i (its seed) on a larger canvas (canvas.ts), one image, the refiner off (the
 *   pipeline runs canvas actions on the base model alone).
 * A canvas job's re-roll and variations keep its source image and canvas action (they redo the
 * zoom, pan or repaint with another seed); its refine, upscale, zoom and pan work on its image.
 * Throws InvalidInputError when image i does not exist or cannot be upscaled.
 */
export function requestForButton(
  action: FollowUpAction,
  original: GenerationRequest,
  presser: Requester,
  randomSeed: () => bigint,
  config?: Pick<Config, "refinerDir" | "generation">,
): GenerationRequest {
  const { variation: _variation, source: originalSource, canvas: originalCanvas, ...settings } = original;
  const sourceAndCanvas = {
    ...(originalSource ? { source: originalSource } : {}),
    ...(originalCanvas ? { canvas: originalCanvas } : {}),
  };
  const freshSeed = (): string => BigInt.asUintN(64, randomSeed()).toString();
  if (action.kind === "reroll") {
    return {
      ...settings,
      ...sourceAndCanvas,
      seed: randomSeedFor(randomSeed(), original.count),
      requester: presser,
    };
  }
  const kind = action.kind as ButtonKind;
  if (kind === "cancel" || kind === "delete" || kind === "show")
    throw new InvalidButtonError(buttonErrors.notAFollowUp());
  if (action.imageIndex >= original.count) {
    throw new InvalidInputError(buttonErrors.noSuchImage(action.imageIndex + 1, original.count), "button");
  }
  const seed = addToSeed(original.seed, action.imageIndex);
  if (action.kind === "vary") {
    return {
      ...settings,
      ...sourceAndCanvas,
      seed,
      count: 1,
      variation: { subseed: freshSeed(), strength: VARIATION_STRENGTH[action.strength] },
      requester: presser,
    };
  }
  if (action.kind === "zoom" || action.kind === "pan") {
    const canvas =
      action.kind === "zoom"
        ? { kind: "zoom_out" as const, factor: action.factor }
        : { kind: "pan" as const, direction: action.direction };
    return canvasRequest(original, action, canvas, presser);
  }
  let upscale: 1 | 1.5 | 2 = 1;
  if (action.kind === "upscale") {
    upscale = upscaleFactor(original.width, original.height) ?? 1;
    if (upscale === 1) throw new InvalidInputError(buttonErrors.cannotUpscale(), "button");
  }
  const refiner: GenerationRequest["refiner"] =
    config === undefined
      ? original.refiner
      : config.refinerDir !== undefined
        ? { enabled: true, switchAt: config.generation.refinerSwitch }
        : { enabled: false };
  return {
    ...settings,
    width: original.width * upscale,
    height: original.height * upscale,
    seed,
    count: 1,
    refiner,
    source: { jobId: action.jobId, imageIndex: action.imageIndex, strength: REFINE_STRENGTH, upscale },
    requester: presser,
  };
}

/**
 * A button as the service's views carry it: the opaque id the chat platforms send back, and the
 * action it stands for, decoded, so no adapter parses an id.
 */
export interface ButtonSpec {
  id: string;
  action: ButtonAction;
  label: string;
  style: "primary" | "secondary" | "danger";
}

/**
 * The buttons under a finished job, in groups: per image, its own (vary subtle/strong, refine,
 * upscale when the size allows), then its canvas groups (zoom out 2x and 1.5x; pan left, right,
 * up, down); then the job's own (re-roll, delete). How groups become a platform's rows (Discord's
 * 5 rows of 5, Slack's actions blocks) is the adapter's business; canvas groups are the ones an
 * adapter leaves out first when not all fit (see `isCanvasGroup`).
 */
export function resultButtons(jobId: string, request: GenerationRequest): ButtonSpec[][] {
  const single = request.count === 1;
  const canUpscale = upscaleFactor(request.width, request.height) !== undefined;
  const rows: ButtonSpec[][] = [];
  for (let imageIndex = 0; imageIndex < request.count; imageIndex++) {
    const n = imageIndex + 1;
    const row: ButtonSpec[] = [
      button({ kind: "vary", jobId, imageIndex, strength: "subtle" }, buttonLabels.varySubtle(n, single)),
      button({ kind: "vary", jobId, imageIndex, strength: "strong" }, buttonLabels.varyStrong(n, single)),
      button({ kind: "refine", jobId, imageIndex }, buttonLabels.refine(n, single)),
    ];
    if (canUpscale) row.push(button({ kind: "upscale", jobId, imageIndex }, buttonLabels.upscale(n, single)));
    rows.push(row);
    rows.push(
      BUTTON_ZOOM_FACTORS.map((factor) =>
        button({ kind: "zoom", jobId, imageIndex, factor }, buttonLabels.zoom(factor, n, single)),
      ),
      PAN_DIRECTIONS.map((direction) =>
        button({ kind: "pan", jobId, imageIndex, direction }, buttonLabels.pan(direction, n, single)),
      ),
    );
  }
  rows.push([
    button({ kind: "reroll", jobId }, buttonLabels.reroll, "primary"),
    button({ kind: "delete", jobId }, buttonLabels.delete, "danger"),
  ]);
  return rows;
}

/** A group of zoom and pan buttons only: what a platform short of room leaves out first. */
export function isCanvasGroup(group: readonly ButtonSpec[]): boolean {
  return group.length > 0 && group.every((spec) => spec.action.kind === "zoom" || spec.action.kind === "pan");
}

/** The cancel button shown while a job is queued or running. */
export function cancelButton(jobId: string): ButtonSpec {
  return button({ kind: "cancel", jobId }, buttonLabels.cancel, "danger");
}

function button(action: ButtonAction, label: string, style: ButtonSpec["style"] = "secondary"): ButtonSpec {
  return { id: encodeButton(action), action, label, style };
}
