/**
 * The LoRA catalogue: every `*.safetensors` file in EASEL_LORA_DIR is a LoRA named by its file name
 * (without the extension); an optional `<name>.json` beside it gives `trigger` (words added to the
 * prompt), `scale` (the default scale), `models` (catalogue model names it suits) and `label`.
 * A bad file is one ConfigError naming the file and the field.
 */

import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { z } from "zod";
import type { Config } from "../config.js";
import { ConfigError } from "../errors.js";
import { type CatalogueLora, LORA_SCALE_RANGE } from "../requests/loras.js";
import { parseSettingsFile } from "./settings-file.js";

const LORA_EXTENSION = ".safetensors";
/** Names users type: letters, digits and `._-` (no separators, so no path leaves the folder). */
const PLAIN_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

export const loraSettingsSchema = z.strictObject({
  trigger: z.string().trim().max(200).optional(),
  scale: z.number().min(LORA_SCALE_RANGE.min).max(LORA_SCALE_RANGE.max).optional(),
  models: z.array(z.string().trim().min(1).max(100)).min(1).optional(),
  label: z.string().trim().min(1).max(100).optional(),
});

export type LoraSettings = z.infer<typeof loraSettingsSchema>;

/** A LoRA's `<name>.json` as text → its settings, or a ConfigError naming `path` and the field. */
export function parseLoraSettings(text: string, path: string): LoraSettings {
  return parseSettingsFile(loraSettingsSchema, text, path);
}

/** A catalogue entry from a file name and its settings. */
export function catalogueLora(name: string, settings: LoraSettings | undefined): CatalogueLora {
  return {
    name,
    file: `${name}${LORA_EXTENSION}`,
    label: settings?.label ?? name,
    trigger: settings?.trigger ?? "",
    scale: settings?.scale ?? 1,
    ...(settings?.models ? { models: settings.models } : {}),
  };
}

async function settingsOf(dir: string, name: string): Promise<LoraSettings | undefined> {
  const path = join(dir, `${name}.json`);
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw new ConfigError(`${path}: cannot be read (${(error as Error).message}).`);
  }
  return parseLoraSettings(text, path);
}

/**
 * The LoRAs in `dir`, sorted by name; none when the folder does not exist. Throws a ConfigError
 * for a bad `<name>.json`, a file name users cannot type, two names differing only in case, or a
 * `models` entry the model catalogue (`modelNames`) does not hold.
 */
export async function readLoraCatalogue(
  dir: string,
  modelNames: readonly string[],
): Promise<CatalogueLora[]> {
  let files: string[];
  try {
    files = (await readdir(dir, { withFileTypes: true }))
      .filter((entry) => entry.isFile() && entry.name.toLowerCase().endsWith(LORA_EXTENSION))
      .map((entry) => entry.name)
      .sort();
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return [];
    throw new ConfigError(`EASEL_LORA_DIR: ${dir} cannot be read (${(error as Error).message}).`);
  }
  const loras: CatalogueLora[] = [];
  const known = new Set(modelNames.map((name) => name.toLowerCase()));
  for (const file of files) {
    const name = file.slice(0, -LORA_EXTENSION.length);
    if (!PLAIN_NAME.test(name) || file !== `${name}${LORA_EXTENSION}`) {
      throw new ConfigError(
        `${join(dir, file)}: a LoRA is named by its file name, which must be letters, digits, ".", "_" or "-" (at most 64) and end in ${LORA_EXTENSION}; rename it.`,
      );
    }
    if (loras.some((lora) => lora.name.toLowerCase() === name.toLowerCase())) {
      throw new ConfigError(
        `${join(dir, file)}: another LoRA has the same name in another case; rename one.`,
      );
    }
    const settings = await settingsOf(dir, name);
    const unknown = settings?.models?.find((model) => !known.has(model.toLowerCase()));
    if (unknown !== undefined) {
      throw new ConfigError(
        `${join(dir, `${name}.json`)}: field "models": "${unknown}" is not a model of the catalogue (${modelNames.join(", ")}).`,
      );
    }
    loras.push(catalogueLora(name, settings));
  }
  return loras;
}

/** The config with its LoRA catalogue read from EASEL_LORA_DIR (after the model catalogue). */
export async function withLoraCatalogue(config: Config): Promise<Config> {
  const names = config.models.models.map((model) => model.name);
  return { ...config, loras: await readLoraCatalogue(config.loraDir, names) };
}
