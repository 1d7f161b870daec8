/**
 * The model catalogue as commands/ and queue/ both read it: each model's name, folder, label and
 * the defaults and limits its preset (or its easel.json) gives. Plain data; src/models builds it.
 */
import type { Prediction, SchedulerName, Spacing } from "../pipeline/types.js";

/** What a request runs with when it says nothing else. */
export interface ModelDefaults {
  steps: number;
  guidance: number;
  scheduler: SchedulerName;
  /** Replaces the folder's timestep_spacing (distilled models want "trailing"). */
  spacing?: Spacing;
  /** Replaces the folder's prediction_type (SDXL-Lightning's 1-step UNet gives the sample). */
  prediction?: Prediction;
  width: number;
  height: number;
}

/** A model's own settings (its preset, then its easel.json); what it leaves out, the deployment's. */
export interface ModelOverrides {
  steps?: number;
  guidance?: number;
  scheduler?: SchedulerName;
  spacing?: Spacing;
  prediction?: Prediction;
  width?: number;
  height?: number;
  maxSteps?: number;
}

/** The deployment's generation settings a model falls back on (config's `generation`). */
export interface GenerationDefaults {
  defaultSteps: number;
  maxSteps: number;
  defaultGuidance: number;
  maxGuidance: number;
  defaultScheduler: SchedulerName;
}

/** What a request on a model starts from and may ask for. */
export interface ModelLimits {
  defaults: ModelDefaults;
  /** Most steps a request may ask of this model (never above EASEL_MAX_STEPS). */
  maxSteps: number;
  /** Lowest guidance a request may give: 0 for models whose defaults run without guidance. */
  minGuidance: number;
}

/** SDXL's native size, for models that name none. */
const SDXL_SIDE = 1024;

/** A model's defaults and limits: its own settings within the deployment's, the deployment's for the rest. */
export function modelLimits(
  model: CatalogueModel,
  generation: GenerationDefaults,
  minGuidance: number,
): ModelLimits {
  const own = model.settings;
  const maxSteps = Math.min(own.maxSteps ?? generation.maxSteps, generation.maxSteps);
  const guidance = Math.min(own.guidance ?? generation.defaultGuidance, generation.maxGuidance);
  return {
    defaults: {
      steps: Math.min(own.steps ?? generation.defaultSteps, maxSteps),
      guidance,
      scheduler: own.scheduler ?? generation.defaultScheduler,
      ...(own.spacing ? { spacing: own.spacing } : {}),
      ...(own.prediction ? { prediction: own.prediction } : {}),
      width: own.width ?? SDXL_SIDE,
      height: own.height ?? SDXL_SIDE,
    },
    maxSteps,
    // A model whose defaults run without guidance (Turbo, Lightning) takes guidance 0 too.
    minGuidance: Math.min(minGuidance, guidance),
  };
}

export interface CatalogueModel {
  /** The folder's name: what `--model` takes and the job records. */
  name: string;
  dir: string;
  label: string;
  description: string;
  /** The built-in preset its easel.json names, if any. */
  preset?: string;
  settings: ModelOverrides;
}

export interface ModelCatalogue {
  /** Sorted by name; never empty. */
  models: readonly CatalogueModel[];
  /** Name of the model a request without `--model` runs on. */
  defaultName: string;
}

/** The model a name picks (names ignore case), or undefined. */
export function modelNamed(catalogue: ModelCatalogue, name: string): CatalogueModel | undefined {
  const wanted = name.trim().toLowerCase();
  return catalogue.models.find((model) => model.name.toLowerCase() === wanted);
}

export function defaultModelOf(catalogue: ModelCatalogue): CatalogueModel {
  return modelNamed(catalogue, catalogue.defaultName) ?? catalogue.models[0]!;
}

/** The model a request runs on: its own, or the default for requests made before models had names. */
export function modelOfRequest(
  catalogue: ModelCatalogue,
  name: string | undefined,
): CatalogueModel | undefined {
  return name === undefined ? defaultModelOf(catalogue) : modelNamed(catalogue, name);
}
