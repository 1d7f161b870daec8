/**
 * The one definition of `/imagine`'s options. Discord's option JSON, Slack's flag syntax, the help
 * text and the parser are all derived from this table, so a new option is added here only.
 */
import type { Config } from "../config.js";
import { ZOOM_FACTORS } from "../pipeline/canvas/index.js";
import { SCHEDULER_NAMES, type SchedulerName } from "../pipeline/types.js";
import { LIMITS } from "../pipeline/validate.js";
import { MIN_GUIDANCE } from "../requests/limits.js";
import { LORA_SCALE_RANGE } from "../requests/loras.js";
import { type CatalogueModel, defaultModelOf, type ModelLimits, modelLimits } from "../requests/models.js";
import { SDXL_BUCKETS } from "./aspect.js";

export type OptionName =
  | "prompt"
  | "model"
  | "lora"
  | "negative"
  | "aspect"
  | "size"
  | "refiner"
  | "seed"
  | "steps"
  | "guidance"
  | "scheduler"
  | "count"
  | "zoom";

export type OptionKind = "string" | "integer" | "number" | "boolean" | "choice";

export interface OptionChoice {
  /** What users see. */
  name: string;
  /** What the command receives. */
  value: string;
}

export interface ImagineOption {
  /** Structured option name (Discord option, web form field). */
  name: OptionName;
  /** How messages refer to the option, e.g. "Steps". */
  label: string;
  kind: OptionKind;
  /** One line, at most 100 characters (Discord's limit). */
  description: string;
  required: boolean;
  /** False when this deployment cannot honour the option (the refiner without a refiner model). */
  available: boolean;
  /** Flag names without the leading `--`; the first is the one shown in help. Booleans: these set true. */
  flags: readonly string[];
  /** Boolean options: flags that set false. */
  offFlags?: readonly string[];
  /** The flag may be given several times (`--lora a --lora b`); each use adds a value. */
  repeatable?: boolean;
  /** An unquoted value runs to the next flag instead of ending at the first space (`--no fog, rain`). */
  freeText?: boolean;
  /** Suggested values; for "choice" the accepted ones (aspect also takes any W:H in text). */
  choices?: readonly OptionChoice[];
  min?: number;
  max?: number;
  maxLength?: number;
  /** The value used when the option is not given, for display. */
  defaultValue?: string | number | boolean;
  /** A typical use, shown in help and in "needs a value" errors. */
  example: string;
  /** Stands for the value in usage lines, e.g. "W:H"; ranges and choices are derived instead. */
  placeholder?: string;
}

/** Longest prompt or negative prompt accepted, in characters (CLIP reads only ~77 tokens anyway). */
export const MAX_PROMPT_LENGTH = 1000;
export { MIN_GUIDANCE };

export const SCHEDULER_LABELS: Record<SchedulerName, string> = {
  euler: "Euler",
  "euler-a": "Euler ancestral",
  "dpmpp-2m-karras": "DPM++ 2M Karras",
  ddim: "DDIM",
  lcm: "LCM",
};

/** A model's defaults and limits in this deployment. */
export function limitsOf(config: Config, model: CatalogueModel): ModelLimits {
  return modelLimits(model, config.generation, MIN_GUIDANCE);
}

/** Discord lists at most 25 choices; a longer catalogue is offered by autocompletion. */
export const MAX_LISTED_CHOICES = 25;

/**
 * The option table for a deployment; limits and defaults come from its config and model. Without
 * `model`, defaults are the default model's and limits the loosest over the catalogue (what a
 * platform's option definition may accept before the model is known); with one, that model's.
 */
export function imagineOptions(config: Config, model?: CatalogueModel): readonly ImagineOption[] {
  const g = config.generation;
  const catalogue = config.models.models;
  const own = limitsOf(config, model ?? defaultModelOf(config.models));
  const { defaults } = own;
  const every = model ? [own] : catalogue.map((entry) => limitsOf(config, entry));
  const maxSteps = Math.max(...every.map((entry) => entry.maxSteps));
  const minGuidance = Math.min(...every.map((entry) => entry.minGuidance));
  const refinerAvailable = config.refinerDir !== undefined;
  const size = `${LIMITS.minSide}-${LIMITS.maxSide}`;
  return [
    {
      name: "prompt",
      label: "Prompt",
      kind: "string",
      description: "What to draw; flags like --ar 16:9 --seed 7 work here too",
      required: true,
      available: true,
      flags: [],
      maxLength: MAX_PROMPT_LENGTH,
      example: "a lighthouse at dusk",
    },
    {
      name: "model",
      label: "Model",
      kind: "choice",
      description: `Which model draws it (default ${config.models.defaultName})`,
      required: false,
      available: catalogue.length > 1,
      flags: ["model"],
      choices: catalogue.map((entry) => ({
        name: (entry.label === entry.name ? entry.name : `${entry.label} (${entry.name})`).slice(0, 100),
        value: entry.name,
      })),
      defaultValue: config.models.defaultName,
      example: `--model ${catalogue.find((entry) => entry.name !== config.models.defaultName)?.name ?? config.models.defaultName}`,
    },
    {
      name: "lora",
      label: "LoRA",
      kind: "string",
      description: `LoRA as NAME or NAME:SCALE (scale ${LORA_SCALE_RANGE.min} to ${LORA_SCALE_RANGE.max}); up to ${config.maxLoras}, comma-separated`,
      required: false,
      available: config.maxLoras > 0 && config.loras.length > 0,
      flags: ["lora"],
      repeatable: true,
      // Suggestions (Discord autocompletes them); any NAME:SCALE is typed freely.
      choices: config.loras.map((lora) => ({
        name: (lora.label === lora.name ? lora.name : `${lora.label} (${lora.name})`).slice(0, 100),
        value: lora.name,
      })),
      maxLength: 200,
      example: `--lora ${config.loras[0]?.name ?? "NAME"}:0.8`,
      placeholder: "NAME[:SCALE]",
    },
    {
      name: "negative",
      label: "Negative prompt",
      kind: "string",
      description: "What to keep out of the image",
      required: false,
      available: true,
      flags: ["no", "neg", "negative"],
      freeText: true,
      maxLength: MAX_PROMPT_LENGTH,
      example: '--no "fog, rain"',
      placeholder: "text",
    },
    {
      name: "aspect",
      label: "Aspect ratio",
      kind: "choice",
      description: "Width:height, mapped to the nearest SDXL size (default 1:1)",
      required: false,
      available: true,
      flags: ["ar", "aspect"],
      choices: SDXL_BUCKETS.map((bucket) => ({
        name: `${bucket.ratio} (${bucket.width}x${bucket.height})`,
        value: bucket.ratio,
      })),
      defaultValue: "1:1",
      example: "--ar 16:9",
      placeholder: "W:H",
    },
    {
      name: "size",
      label: "Size",
      kind: "string",
      description: `Exact WIDTHxHEIGHT instead of an aspect ratio; multiples of ${LIMITS.sideMultiple} within ${size}`,
      required: false,
      available: true,
      flags: ["size"],
      maxLength: 11,
      example: "--size 1152x896",
      placeholder: "WxH",
    },
    {
      name: "refiner",
      label: "Refiner",
      kind: "boolean",
      description: `Finish with the SDXL refiner (default ${refinerAvailable ? "on" : "off"})`,
      required: false,
      available: refinerAvailable,
      flags: ["refiner"],
      offFlags: ["no-refiner"],
      defaultValue: refinerAvailable,
      example: "--refiner",
    },
    {
      name: "seed",
      label: "Seed",
      kind: "string", // 64-bit: beyond what a JSON number (and Discord's integer option) can hold
      description: "Whole number from 0 to 2^64-1; the same seed and settings give the same image",
      required: false,
      available: true,
      flags: ["seed"],
      maxLength: String(LIMITS.maxSeed).length,
      example: "--seed 7",
      placeholder: "N",
    },
    {
      name: "steps",
      label: "Steps",
      kind: "integer",
      description: `Denoising steps, 1-${maxSteps} (default ${defaults.steps})`,
      required: false,
      available: true,
      flags: ["steps"],
      min: 1,
      max: maxSteps,
      defaultValue: defaults.steps,
      example: `--steps ${defaults.steps}`,
    },
    {
      name: "guidance",
      label: "Guidance",
      kind: "number",
      description: `How closely to follow the prompt (CFG), ${minGuidance}-${g.maxGuidance} (default ${defaults.guidance})`,
      required: false,
      available: true,
      flags: ["cfg", "guidance"],
      min: minGuidance,
      max: g.maxGuidance,
      defaultValue: defaults.guidance,
      example: "--cfg 7.5",
    },
    {
      name: "scheduler",
      label: "Scheduler",
      kind: "choice",
      description: `Sampling method (default ${defaults.scheduler})`,
      required: false,
      available: true,
      flags: ["sampler", "scheduler"],
      choices: SCHEDULER_NAMES.map((value) => ({ name: SCHEDULER_LABELS[value], value })),
      defaultValue: defaults.scheduler,
      example: "--sampler dpmpp-2m-karras",
    },
    {
      name: "count",
      label: "Count",
      kind: "integer",
      description: `Images to make, 1-${g.maxCount} (default ${g.defaultCount})`,
      required: false,
      available: true,
      flags: ["n", "count"],
      min: 1,
      max: g.maxCount,
      defaultValue: g.defaultCount,
      example: "--n 4",
    },
    {
      name: "zoom",
      label: "Zoom",
      kind: "number",
      description: `Zoom out an attached picture: shrink it by ${ZOOM_FACTORS.min}-${ZOOM_FACTORS.max} and paint around it`,
      required: false,
      available: true,
      flags: ["zoom"],
      min: ZOOM_FACTORS.min,
      max: ZOOM_FACTORS.max,
      example: "--zoom 1.5",
    },
  ];
}

/** What a typed flag means: which option, and for booleans which value it sets. */
export interface FlagMeaning {
  option: ImagineOption;
  /** Set for boolean switches (`--refiner` true, `--no-refiner` false). */
  sets?: boolean;
}

/** Flag name (lower case, no dashes) to its meaning, for every option in the table. */
export function flagIndex(options: readonly ImagineOption[]): ReadonlyMap<string, FlagMeaning> {
  const index = new Map<string, FlagMeaning>();
  for (const option of options) {
    for (const flag of option.flags)
      index.set(flag, option.kind === "boolean" ? { option, sets: true } : { option });
    for (const flag of option.offFlags ?? []) index.set(flag, { option, sets: false });
  }
  return index;
}

/** One model as the API and the page list it. */
export interface ModelListing {
  name: string;
  label: string;
  description: string;
  /** Requests without a model run on it. */
  default: boolean;
  defaults: { steps: number; guidance: number; scheduler: SchedulerName; width: number; height: number };
  maxSteps: number;
  minGuidance: number;
}

/** The catalogue as users may pick from it, default model first. */
export function modelListing(config: Config): ModelListing[] {
  const listed = config.models.models.map((model): ModelListing => {
    const { defaults, maxSteps, minGuidance } = limitsOf(config, model);
    const { steps, guidance, scheduler, width, height } = defaults;
    return {
      name: model.name,
      label: model.label,
      description: model.description,
      default: model.name === config.models.defaultName,
      defaults: { steps, guidance, scheduler, width, height },
      maxSteps,
      minGuidance,
    };
  });
  return [...listed.filter((model) => model.default), ...listed.filter((model) => !model.default)];
}

/** One LoRA as the API and the page list it. */
export interface LoraListing {
  name: string;
  label: string;
  trigger: string;
  /** The scale used when none is given. */
  scale: number;
  /** The models it suits; absent = every model. */
  models?: readonly string[];
}

/** The LoRA catalogue as users may pick from it. */
export function loraListing(config: Config): LoraListing[] {
  return config.loras.map(({ name, label, trigger, scale, models }) => ({
    name,
    label,
    trigger,
    scale,
    ...(models ? { models } : {}),
  }));
}
