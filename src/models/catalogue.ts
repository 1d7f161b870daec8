/**
 * The model catalogue: every SDXL base export under EASEL_MODELS_DIR is a model named by its
 * folder, EASEL_MODEL_DIR's folder is one too (and the default), EASEL_DEFAULT_MODEL picks the
 * default by name. Each model's defaults come from its easel.json (a preset, then overrides), else
 * from the deployment's EASEL_DEFAULT_* settings. With no model at all the demo model stays.
 */
import { readdir } from "node:fs/promises";
import { join, resolve } from "node:path";
import { type Config, modelNameOf, plainModel } from "../config.js";
import { ConfigError, ModelFolderError } from "../errors.js";
import { readModelFolder } from "../pipeline/model-folder.js";
import type { CatalogueModel, ModelCatalogue } from "../requests/models.js";
import { type ModelSettings, readModelSettings } from "./model-settings.js";
import { MODEL_PRESETS } from "./presets.js";

/** A folder under EASEL_MODELS_DIR that is not offered, and why (for the operator's log). */
export interface SkippedFolder {
  dir: string;
  reason: string;
}

export interface LoadedCatalogue {
  config: Config;
  skipped: SkippedFolder[];
}

/** A model's catalogue entry: its preset, then its easel.json's fields. */
export function catalogueModel(
  name: string,
  dir: string,
  settings: ModelSettings | undefined,
): CatalogueModel {
  const plain = plainModel(name, dir);
  if (!settings) return plain;
  const { preset: presetName, label, description, ...overrides } = settings;
  const preset = presetName ? MODEL_PRESETS[presetName] : undefined;
  const {
    label: presetLabel,
    description: presetDescription,
    ...presetSettings
  } = preset ?? {
    label: undefined,
    description: undefined,
  };
  return {
    name,
    dir,
    label: label ?? presetLabel ?? name,
    description: description ?? presetDescription ?? "",
    ...(presetName ? { preset: presetName } : {}),
    settings: { ...presetSettings, ...overrides },
  };
}

async function subfolders(dir: string): Promise<string[]> {
  try {
    const entries = await readdir(dir, { withFileTypes: true });
    return entries
      .filter((entry) => entry.isDirectory() && !entry.name.startsWith("."))
      .map((entry) => entry.name)
      .sort();
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return [];
    throw new ConfigError(`EASEL_MODELS_DIR: ${dir} cannot be read (${(error as Error).message}).`);
  }
}

/** Why a folder is not an SDXL base export, or undefined when it is one. */
async function notABaseExport(dir: string): Promise<string | undefined> {
  try {
    const folder = await readModelFolder(dir);
    return folder.kind === "base" ? undefined : "a refiner export (set EASEL_REFINER_DIR to use it)";
  } catch (error) {
    if (error instanceof ModelFolderError) return error.message;
    throw error;
  }
}

/**
 * The config with its catalogue read from disk: `models`, and `modelDir` / `demoModel` for the
 * default model. Throws a ConfigError for a bad easel.json, two folders with one name, or an
 * EASEL_DEFAULT_MODEL the catalogue does not hold.
 */
export async function withModelCatalogue(config: Config): Promise<LoadedCatalogue> {
  const models: CatalogueModel[] = [];
  const skipped: SkippedFolder[] = [];
  const add = async (name: string, dir: string) => {
    const same = models.find((model) => model.name.toLowerCase() === name.toLowerCase());
    if (same) {
      if (resolve(same.dir) === resolve(dir)) return;
      throw new ConfigError(
        `Two model folders are named "${name}": ${same.dir} and ${dir}; rename one (a model is named by its folder).`,
      );
    }
    models.push(catalogueModel(name, dir, await readModelSettings(dir)));
  };
  const explicitDir = config.demoModel ? undefined : config.modelDir;
  if (explicitDir) await add(modelNameOf(explicitDir), explicitDir);
  for (const name of await subfolders(config.modelsDir)) {
    const dir = join(config.modelsDir, name);
    if (explicitDir && resolve(dir) === resolve(explicitDir)) continue;
    const problem = await notABaseExport(dir);
    if (problem) skipped.push({ dir, reason: problem });
    else await add(name, dir);
  }
  if (models.length === 0) {
    if (
      config.defaultModel &&
      config.defaultModel.toLowerCase() !== config.models.defaultName.toLowerCase()
    ) {
      throw new ConfigError(
        `EASEL_DEFAULT_MODEL: "${config.defaultModel}" is not a model folder in ${config.modelsDir} (none was found).`,
      );
    }
    return { config, skipped };
  }
  models.sort((a, b) => a.name.localeCompare(b.name));
  const wanted = config.defaultModel ?? (explicitDir ? modelNameOf(explicitDir) : models[0]!.name);
  const chosen = models.find((model) => model.name.toLowerCase() === wanted.toLowerCase());
  if (!chosen) {
    throw new ConfigError(
      `EASEL_DEFAULT_MODEL: "${wanted}" is not in the catalogue (${models.map((model) => model.name).join(", ")}).`,
    );
  }
  const catalogue: ModelCatalogue = { models, defaultName: chosen.name };
  return { config: { ...config, models: catalogue, modelDir: chosen.dir, demoModel: false }, skipped };
}
