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

export interface CatalogueModel {
  /** The folder's name: what `--model` takes and the job records. */
  name: string;
  dir: string;
  label: string;
  description: string;
  /** The built-in preset its easel.json names, if any. */
  preset?: string;
  defaults: ModelDefaults;
  /** Most steps a request may ask of this model (never above EASEL_MAX_STEPS). */
  maxSteps: number;
  /** Lowest guidance a request may give: 0 for models whose defaults run without guidance. */
  minGuidance: number;
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
export function modelOfRequest(catalogue: ModelCatalogue, name: string | undefined): CatalogueModel | undefined {
  return name === undefined ? defaultModelOf(catalogue) : modelNamed(catalogue, name);
}
