/**
 * A model folder's optional `easel.json`: `{"preset": "sdxl-turbo"}` picks built-in defaults and
 * `steps`, `guidance`, `scheduler`, `spacing`, `width`, `height`, `maxSteps`, `label`,
 * `description` override them. A bad file is one ConfigError naming the file and the field.
 */

import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { z } from "zod";
import { ConfigError } from "../errors.js";
import { PREDICTION_TYPES, SCHEDULER_NAMES, TIMESTEP_SPACINGS } from "../pipeline/types.js";
import { LIMITS } from "../pipeline/validate.js";
import { MODEL_PRESETS, PRESET_NAMES, type PresetName } from "./presets.js";
import { parseSettingsFile } from "./settings-file.js";

export const MODEL_SETTINGS_FILE = "easel.json";

const side = z
  .number()
  .int()
  .min(LIMITS.minSide)
  .max(LIMITS.maxSide)
  .refine((value) => value % LIMITS.sideMultiple === 0, {
    message: `must be a multiple of ${LIMITS.sideMultiple}`,
  });

export const modelSettingsSchema = z.strictObject({
  preset: z.enum(PRESET_NAMES).optional(),
  label: z.string().trim().min(1).max(100).optional(),
  description: z.string().trim().min(1).max(100).optional(),
  steps: z.number().int().min(1).max(LIMITS.maxSteps).optional(),
  maxSteps: z.number().int().min(1).max(LIMITS.maxSteps).optional(),
  guidance: z.number().min(0).max(LIMITS.maxGuidance).optional(),
  scheduler: z.enum(SCHEDULER_NAMES).optional(),
  spacing: z.enum(TIMESTEP_SPACINGS).optional(),
  prediction: z.enum(PREDICTION_TYPES).optional(),
  width: side.optional(),
  height: side.optional(),
});

export type ModelSettings = z.infer<typeof modelSettingsSchema>;

/** A model's easel.json as text → its settings, or a ConfigError naming `path` and the field. */
export function parseModelSettings(text: string, path: string): ModelSettings {
  const settings = parseSettingsFile(modelSettingsSchema, text, path);
  const preset = settings.preset ? MODEL_PRESETS[settings.preset] : undefined;
  const steps = settings.steps ?? preset?.steps;
  const maxSteps = settings.maxSteps ?? preset?.maxSteps;
  if (steps !== undefined && maxSteps !== undefined && steps > maxSteps) {
    throw new ConfigError(`${path}: field "steps": ${steps} is above maxSteps (${maxSteps}).`);
  }
  return settings;
}

/** The folder's easel.json, or undefined when it has none. */
export async function readModelSettings(dir: string): Promise<ModelSettings | undefined> {
  const path = join(dir, MODEL_SETTINGS_FILE);
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw new ConfigError(`${path}: cannot be read (${(error as Error).message}).`);
  }
  return parseModelSettings(text, path);
}

/**
 * Writes `{"preset": …}` as the folder's easel.json unless it has one (an operator's own settings
 * are kept). Returns whether it wrote the file.
 */
export async function writePresetSettings(dir: string, preset: PresetName): Promise<boolean> {
  const path = join(dir, MODEL_SETTINGS_FILE);
  try {
    await writeFile(path, `${JSON.stringify({ preset }, null, 2)}\n`, { flag: "wx" });
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "EEXIST") return false;
    throw error;
  }
}
