/**
 * A job's view as a Discord message: the service's text, its buttons as action rows, and files —
 * the live preview while running, the finished images when done. Pure mapping plus image fetching;
 * sending is job-message.ts's business.
 */
import {
  type APIActionRowComponent,
  type APIButtonComponentWithCustomId,
  ButtonStyle,
  ComponentType,
  MessageFlags,
  type RawFile,
} from "discord.js";
import { type ButtonSpec, isCanvasGroup } from "../../commands/buttons.js";
import type { JobView } from "../../commands/chat.js";
import type { EncodedImage } from "../../pipeline/types.js";
import { IMAGE_EXTENSIONS } from "../../requests/jobs.js";
import { attachmentBaseName, blurredAttachmentName, fitImage, spoilerName } from "./images.js";
import { discordTexts } from "./texts.js";

/** Discord's limits on a message. */
export const MESSAGE_LIMITS = { content: 2000, rows: 5, buttonsPerRow: 5, label: 80 } as const;

export interface MessageBody {
  content: string;
  components: APIActionRowComponent<APIButtonComponentWithCustomId>[];
  /** The files this message keeps: exactly the uploaded ones (an edit drops older attachments). */
  attachments: Array<{ id: number; filename: string }>;
  allowed_mentions: { parse: []; users?: string[] };
  flags?: number;
}

export interface MessageDraft {
  body: MessageBody;
  files: RawFile[];
}

const STYLES: Record<ButtonSpec["style"], ButtonStyle.Primary | ButtonStyle.Secondary | ButtonStyle.Danger> =
  {
    primary: ButtonStyle.Primary,
    secondary: ButtonStyle.Secondary,
    danger: ButtonStyle.Danger,
  };

function chunks<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

/**
 * The service's button groups laid out in Discord's grid of 5 rows of 5: a row per group while
 * they fit. Otherwise the canvas groups (zoom out, pan) go first: a single image's result keeps
 * them (its 4 rows fit), a batch's does not (a row per image and the job's row already fill 5 rows
 * for 4 images), as Midjourney offers zoom and pan on one image only. Should the rest still not
 * fit, every button in order, 5 a row, keeping the last group (the job's own buttons: re-roll,
 * delete) whole and leaving out the image buttons that do not fit.
 */
export function buttonGrid(groups: readonly ButtonSpec[][]): ButtonSpec[][] {
  const { rows: maxRows, buttonsPerRow: perRow } = MESSAGE_LIMITS;
  const all = groups.filter((group) => group.length > 0);
  const whole = all.flatMap((group) => chunks(group, perRow));
  if (whole.length <= maxRows) return whole;
  const nonEmpty = all.filter((group) => !isCanvasGroup(group));
  const rows = nonEmpty.flatMap((group) => chunks(group, perRow));
  if (rows.length <= maxRows) return rows;
  const last = chunks(nonEmpty.at(-1) ?? [], perRow).slice(0, maxRows);
  const room = (maxRows - last.length) * perRow;
  return [...chunks(nonEmpty.slice(0, -1).flat().slice(0, room), perRow), ...last];
}

export function actionRows(groups: readonly ButtonSpec[][]): MessageBody["components"] {
  return buttonGrid(groups).map((row) => ({
    type: ComponentType.ActionRow,
    components: row.slice(0, MESSAGE_LIMITS.buttonsPerRow).map((button) => ({
      type: ComponentType.Button,
      style: STYLES[button.style],
      label: button.label.slice(0, MESSAGE_LIMITS.label),
      custom_id: button.id,
    })),
  }));
}

function clip(text: string): string {
  return text.length <= MESSAGE_LIMITS.content ? text : `${text.slice(0, MESSAGE_LIMITS.content - 1)}…`;
}

export interface RenderOptions {
  /** A finished image's bytes (undefined once swept). */
  image(imageId: string): Promise<EncodedImage | undefined>;
  /** A blurred image's blurred copy (undefined once swept). */
  blurredImage(imageId: string): Promise<EncodedImage | undefined>;
  /** Largest file Discord accepts here, in bytes. */
  attachmentSizeLimit: number;
  /** Discord user id to mention (and notify) at the top of the message. */
  mention?: string;
}

/** The message for a view. Only the user named in `mention` can be pinged; nothing else is. */
export async function renderView(view: JobView, options: RenderOptions): Promise<MessageDraft> {
  const lines = [view.text];
  const files: RawFile[] = [];
  if (view.state === "done") {
    const formats = new Set<string>();
    for (const ref of view.images) {
      // Moderation: a withheld image is not posted; a blurred one is posted as its blurred copy
      // (its requester gets the original from the Show button); a spoiler is Discord's own.
      if (ref.display === "withheld") continue;
      const blurred = ref.display === "blur";
      const image = blurred ? await options.blurredImage(ref.id) : await options.image(ref.id);
      if (!image) continue;
      const name = blurred ? blurredAttachmentName(ref) : attachmentBaseName(ref);
      const fitted = await fitImage(image, name, options.attachmentSizeLimit);
      if (fitted.reencoded && !blurred)
        formats.add(fitted.file.contentType === "image/webp" ? "WebP" : "JPEG");
      const fileName = ref.display === "spoiler" ? spoilerName(fitted.file.name) : fitted.file.name;
      files.push({ name: fileName, data: fitted.file.data, contentType: fitted.file.contentType });
    }
    if (formats.size > 0) lines.push(discordTexts.reencoded([...formats]));
  } else if (view.preview && !view.final) {
    const ext = IMAGE_EXTENSIONS[view.preview.mime];
    files.push({ name: `preview.${ext}`, data: view.preview.data, contentType: view.preview.mime });
  }
  const mention = options.mention ? `<@${options.mention}> ` : "";
  return {
    body: {
      content: clip(mention + lines.join("\n")),
      components: actionRows(discordButtons(view)),
      attachments: files.map((file, id) => ({ id, filename: file.name })),
      allowed_mentions: options.mention ? { parse: [], users: [options.mention] } : { parse: [] },
    },
    files,
  };
}

/**
 * The view's buttons as Discord needs them: a spoilered image is revealed by a click on the
 * spoiler itself, so its "show" button is left out.
 */
function discordButtons(view: JobView): ButtonSpec[][] {
  const spoilers = new Set(
    view.images.filter((image) => image.display === "spoiler").map((image) => image.index),
  );
  if (spoilers.size === 0) return view.buttons;
  return view.buttons.map((group) =>
    group.filter((button) => !(button.action.kind === "show" && spoilers.has(button.action.imageIndex))),
  );
}

/** A text-only message (private answers, notes). */
export function textMessage(text: string, flags?: number): MessageDraft {
  return {
    body: {
      content: clip(text),
      components: [],
      attachments: [],
      allowed_mentions: { parse: [] },
      ...(flags !== undefined ? { flags } : {}),
    },
    files: [],
  };
}

/**
 * A message carrying one image, fitted to the upload limit like a result's images: ephemeral by
 * default, so only the asker sees it (a "show" press, `/easel show`); with `flags` undefined, a
 * public one (a released image posted in its channel, a deferred answer's edit).
 */
export async function imageMessage(
  text: string,
  original: { image: { jobId: string; index: number }; bytes: EncodedImage },
  attachmentSizeLimit: number,
  flags: number | undefined = MessageFlags.Ephemeral,
): Promise<MessageDraft> {
  const fitted = await fitImage(original.bytes, attachmentBaseName(original.image), attachmentSizeLimit);
  const draft = textMessage(text, flags);
  draft.files = [{ name: fitted.file.name, data: fitted.file.data, contentType: fitted.file.contentType }];
  draft.body.attachments = [{ id: 0, filename: fitted.file.name }];
  return draft;
}
