/**
 * The API's request bodies, validated with zod (the config's schema library). Unknown fields are
 * refused rather than ignored, so a typo in a field name is an error, not a silent default.
 */
import { z } from "zod";
import { MAX_IMAGE_INDEX } from "../../commands/buttons.js";
import { MAX_MASK_UPLOAD_BYTES } from "../../commands/canvas.js";
import { MAX_PROMPT_LENGTH } from "../../commands/options.js";
import { MAX_RECT_COORDINATE, MAX_REPAINT_RECTS, ZOOM_FACTORS } from "../../pipeline/canvas/index.js";
import { PAN_DIRECTIONS } from "../../pipeline/types.js";

/** Longest `text` accepted: a prompt, a negative prompt and every flag fit well within it. */
export const MAX_TEXT_LENGTH = 4000;

/** One LoRA of `options.lora`: `"name:scale"` (or `"name"`), or `{name, scale}`. */
const loraValue = z.union([
  z.string().max(100),
  z.strictObject({ name: z.string().min(1).max(100), scale: z.number().optional() }),
]);

const optionValue = z.union([
  z.string().max(MAX_TEXT_LENGTH),
  z.number(),
  z.boolean(),
  z.array(loraValue).max(16),
]);

type OptionValue = z.infer<typeof optionValue>;

/**
 * Options as the command reads them: a list (`lora: ["ink:0.8", {name: "clay", scale: 0.5}]`)
 * becomes the comma-separated text the option takes (`ink:0.8, clay:0.5`).
 */
export function plainOptions(
  options: Record<string, OptionValue>,
): Record<string, string | number | boolean> {
  return Object.fromEntries(
    Object.entries(options).map(([name, value]) => [
      name,
      Array.isArray(value)
        ? value
            .map((entry) =>
              typeof entry === "string"
                ? entry
                : `${entry.name}${entry.scale === undefined ? "" : `:${entry.scale}`}`,
            )
            .join(", ")
        : value,
    ]),
  );
}

export const imagineBody = z.strictObject({
  /** The prompt with any flags, as typed after `/imagine`. */
  text: z.string().max(MAX_TEXT_LENGTH),
  /** Structured options by name (aspect, seed, steps, …), as Discord's option fields. */
  options: z.record(z.string().max(32), optionValue).optional(),
});
export type ImagineBody = z.infer<typeof imagineBody>;

const imageIndex = z.number().int().min(0).max(MAX_IMAGE_INDEX).optional();
const coordinate = z.number().int().min(0).max(MAX_RECT_COORDINATE);
const rect = z.strictObject({
  x: coordinate,
  y: coordinate,
  width: coordinate.min(1),
  height: coordinate.min(1),
});

/** Longest `mask` accepted: the largest mask file a repaint takes, in base64, with room for a data: URL's head. */
export const MAX_MASK_TEXT_LENGTH = Math.ceil(MAX_MASK_UPLOAD_BYTES / 3) * 4 + 100;

export const actionBody = z.discriminatedUnion("action", [
  z.strictObject({ action: z.literal("reroll") }),
  z.strictObject({
    action: z.literal("vary"),
    index: imageIndex,
    strength: z.enum(["subtle", "strong"]).optional(),
  }),
  z.strictObject({ action: z.literal("upscale"), index: imageIndex }),
  z.strictObject({ action: z.literal("refine"), index: imageIndex }),
  z.strictObject({ action: z.literal("delete") }),
  z.strictObject({
    action: z.literal("zoom_out"),
    index: imageIndex,
    factor: z.number().min(ZOOM_FACTORS.min).max(ZOOM_FACTORS.max).optional(),
  }),
  z.strictObject({ action: z.literal("pan"), index: imageIndex, direction: z.enum(PAN_DIRECTIONS) }),
  z.strictObject({
    action: z.literal("repaint"),
    index: imageIndex,
    /** What to paint there; absent = the job's prompt. */
    prompt: z.string().min(1).max(MAX_PROMPT_LENGTH).optional(),
    /** A PNG, JPEG or WebP in base64 (a data: URL too), white = repaint; or else `rects`. */
    mask: z.string().min(1).max(MAX_MASK_TEXT_LENGTH).optional(),
    /** Rectangles to repaint, in the image's pixels; or else `mask`. */
    rects: z.array(rect).min(1).max(MAX_REPAINT_RECTS).optional(),
    /** How much of the schedule re-runs in the region, as refine's; absent = the default. */
    strength: z.number().gt(0).max(1).optional(),
  }),
]);
export type ActionBody = z.infer<typeof actionBody>;

export const sessionBody = z.strictObject({ token: z.string().min(1).max(1000) });

export const historyQuery = z.strictObject({
  limit: z.coerce.number().int().min(1).max(100).optional(),
});

/** A readable one-line summary of a validation failure: the field and what is wrong. */
export function describeIssues(error: z.ZodError): string {
  const issue = error.issues[0];
  if (!issue) return "The request body is not valid.";
  const where = issue.path.length > 0 ? `${issue.path.join(".")}: ` : "";
  return `${where}${issue.message}`;
}
