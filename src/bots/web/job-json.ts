/**
 * A job's view (from the chat service) as the API's JSON. The service decides texts and buttons;
 * this only changes their form: image refs become URLs, a preview becomes a data URL, and each
 * button becomes the API call that presses it.
 */
import { Buffer } from "node:buffer";
import type { ButtonAction, ButtonSpec } from "../../commands/buttons.js";
import type { JobSettings, JobView } from "../../commands/chat.js";
import type { ImageDisplay, ViewImage } from "../../commands/moderated-images.js";
import type { Rect } from "../../pipeline/types.js";
import {
  IMAGE_EXTENSIONS,
  type ImageModeration,
  type ImageRef,
  type JobStatus,
} from "../../requests/jobs.js";
import type { ActionBody } from "./schemas.js";

export interface ImageJson {
  /**
   * What everyone may load: the image, or for a spoilered or blurred one (output moderation) its
   * blurred copy; absent for a withheld one.
   */
  url?: string;
  /** How the image is shown (`plain`, `spoiler`, `blur`, `withheld`). */
  display: ImageDisplay;
  /** Not plain: the original's URL, served to whoever may see it (its requester, the admins). */
  original?: string;
  index: number;
  seed: string;
  width: number;
  height: number;
  /** Zoom out, pan, repaint: where the source image's pixels were placed in this one (the seam). */
  source?: Rect;
  /**
   * What output moderation decided for the image (absent = moderation was off when it was made):
   * its unsafe score, the classifier's top class, whether it was flagged and what is done with it.
   */
  moderation?: ImageModerationJson;
}

export interface ImageModerationJson {
  flagged: boolean;
  score: number;
  label: string;
  action: ImageModeration["action"];
  /** A withheld image an admin released, and when (milliseconds since the epoch). */
  released?: { byUserId: string; at: number };
}

function moderationJson(moderation: ImageModeration): ImageModerationJson {
  const { flagged, score, label, action, released } = moderation;
  return { flagged, score, label, action, ...(released ? { released: { ...released } } : {}) };
}

/** A button as the page shows it, and what pressing it calls. */
export interface ButtonJson {
  label: string;
  style: "primary" | "secondary" | "danger";
  /**
   * `cancel`: `DELETE /api/v1/jobs/{id}`; otherwise `POST /api/v1/jobs/{id}/actions` with `action`
   * (`delete` removes a finished result: the page asks for a confirmation first).
   */
  press:
    | { kind: "cancel" }
    | { kind: "action"; action: ActionBody }
    /** `show`: load `url` (the original of image `index`) in place of its blurred copy. */
    | { kind: "show"; index: number; url: string };
}

export interface JobJson {
  id: string;
  status: JobStatus;
  /** The status line, or the caption of a result (`**bold**` and `code` spans). */
  text: string;
  /** The catalogue name of the model it runs on. */
  model?: string;
  /** The LoRAs merged into the model for it, by catalogue name; absent = none. */
  loras?: Array<{ name: string; scale: number }>;
  /** The effective settings: the request's, else its model's defaults, else the deployment's. */
  settings?: JobSettings;
  position?: number;
  step?: number;
  total?: number;
  /** Running: the latest live preview as a data: URL. */
  preview?: string;
  images: ImageJson[];
  /** Done: the prompt and the settings that reproduce it (not on a deleted result). */
  caption?: string;
  /** Done, then deleted by its author or an admin: no images, no buttons; `text` says by whom. */
  deleted?: { byAuthor: boolean };
  /** Done: a note for the requester (images the content filter withheld). */
  notice?: string;
  /** Failed: what went wrong, for the user. */
  error?: { code: "job_failed"; message: string };
  buttons: ButtonJson[][];
  final: boolean;
}

/** `<jobId>-<index>.<ext>`: the only file names the image route serves, besides blurred copies. */
export const IMAGE_FILE = /^([A-Za-z0-9_-]{1,64})-(0|[1-9]\d?)\.(png|webp|jpg)$/;
/** `<jobId>-<index>-blurred.jpg`: a moderated image's blurred copy. */
export const BLURRED_FILE = /^([A-Za-z0-9_-]{1,64})-(0|[1-9]\d?)-blurred\.jpg$/;

export function imageUrl(image: Pick<ImageRef, "id" | "mime">): string {
  return `/api/v1/images/${image.id}.${IMAGE_EXTENSIONS[image.mime]}`;
}

/** The API call a button stands for. */
function pressOf(action: Exclude<ButtonAction, { kind: "show" }>): ButtonJson["press"] {
  switch (action.kind) {
    case "cancel":
      return { kind: "cancel" };
    case "reroll":
    case "delete":
      return { kind: "action", action: { action: action.kind } };
    case "vary":
      return {
        kind: "action",
        action: { action: "vary", index: action.imageIndex, strength: action.strength },
      };
    case "refine":
    case "upscale":
      return { kind: "action", action: { action: action.kind, index: action.imageIndex } };
    case "zoom":
      return {
        kind: "action",
        action: { action: "zoom_out", index: action.imageIndex, factor: action.factor },
      };
    case "pan":
      return {
        kind: "action",
        action: { action: "pan", index: action.imageIndex, direction: action.direction },
      };
  }
}

export function blurredUrl(image: Pick<ImageRef, "id">): string {
  return `/api/v1/images/${image.id}-blurred.jpg`;
}

function imageJson(image: ViewImage): ImageJson {
  const { display } = image;
  const hidden = display === "spoiler" || display === "blur";
  return {
    ...(display === "withheld" ? {} : { url: hidden ? blurredUrl(image) : imageUrl(image) }),
    display,
    ...(display === "plain" ? {} : { original: imageUrl(image) }),
    index: image.index,
    seed: image.seed,
    width: image.width,
    height: image.height,
    ...(image.source ? { source: { ...image.source } } : {}),
    ...(image.moderation ? { moderation: moderationJson(image.moderation) } : {}),
  };
}

function buttonJson(spec: ButtonSpec, images: readonly ViewImage[]): ButtonJson {
  const { action } = spec;
  if (action.kind === "show") {
    const image = images.find((each) => each.index === action.imageIndex);
    const url = image ? imageUrl(image) : `/api/v1/images/${action.jobId}-${action.imageIndex}.png`;
    return { label: spec.label, style: spec.style, press: { kind: "show", index: action.imageIndex, url } };
  }
  return { label: spec.label, style: spec.style, press: pressOf(action) };
}

export function jobJson(view: JobView): JobJson {
  const json: JobJson = {
    id: view.jobId,
    status: view.state,
    text: view.text,
    ...(view.model !== undefined ? { model: view.model } : {}),
    ...(view.loras ? { loras: view.loras.map((lora) => ({ ...lora })) } : {}),
    ...(view.settings ? { settings: { ...view.settings } } : {}),
    images: view.images.filter((image) => !image.deleted).map(imageJson),
    buttons: view.buttons
      .map((row) => row.map((button) => buttonJson(button, view.images)))
      .filter((row) => row.length > 0),
    final: view.final,
  };
  if (view.position !== undefined) json.position = view.position;
  if (view.step !== undefined) json.step = view.step;
  if (view.total !== undefined) json.total = view.total;
  if (view.preview && view.state === "running") {
    json.preview = `data:${view.preview.mime};base64,${Buffer.from(view.preview.data).toString("base64")}`;
  }
  if (view.notice) json.notice = view.notice;
  if (view.deleted) json.deleted = { byAuthor: view.deleted.byAuthor };
  else if (view.state === "done") json.caption = view.text;
  if (view.state === "failed") json.error = { code: "job_failed", message: view.text };
  return json;
}
