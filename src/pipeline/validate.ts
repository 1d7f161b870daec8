/**
 * The pipeline's own limits on a request, checked before any work starts. The chat commands
 * apply stricter, configurable limits on top; these are what the models can do at all.
 */
import { InvalidInputError, isEaselError } from "../errors.js";
import { validateCanvas } from "./canvas/validate-canvas.js";
import { parsePromptWeights } from "./tokenizer/prompt-weights.js";
import { type GenerateParams, PREDICTION_TYPES, SCHEDULER_NAMES, TIMESTEP_SPACINGS } from "./types.js";

export const LIMITS = {
  minSide: 512,
  maxSide: 2048,
  /** Each side a multiple of this (the VAE's 8x downsampling). */
  sideMultiple: 8,
  maxSteps: 150,
  maxGuidance: 30,
  maxCount: 4,
  maxSeed: (1n << 64n) - 1n,
  /** Longest prompt, in characters (code points): the chat's limit, for every entry point. */
  maxPromptLength: 1000,
  /**
   * Longest negative prompt: the user's (at most maxPromptLength) plus room for the safety
   * negative prompt the operator adds to it.
   */
  maxNegativePromptLength: 2000,
  /** Resize factors a source image may be upscaled by before refining. */
  upscaleFactors: [1, 1.5, 2],
} as const;

function requireFinite(value: number, field: string, label: string): void {
  if (typeof value !== "number" || !Number.isFinite(value)) {
    throw new InvalidInputError(`${label} must be a number; got ${String(value)}.`, field);
  }
}

function requireRange(value: number, min: number, max: number, field: string, label: string): void {
  requireFinite(value, field, label);
  if (value < min || value > max) {
    throw new InvalidInputError(`${label} must be between ${min} and ${max}; got ${value}.`, field);
  }
}

function requireInteger(value: number, min: number, max: number, field: string, label: string): void {
  requireRange(value, min, max, field, label);
  if (!Number.isInteger(value))
    throw new InvalidInputError(`${label} must be a whole number; got ${value}.`, field);
}

export function validateSize(width: number, height: number): void {
  for (const [value, field] of [
    [width, "width"],
    [height, "height"],
  ] as const) {
    requireInteger(value, LIMITS.minSide, LIMITS.maxSide, field, field === "width" ? "Width" : "Height");
    if (value % LIMITS.sideMultiple !== 0)
      throw new InvalidInputError(
        `${field === "width" ? "Width" : "Height"} must be a multiple of ${LIMITS.sideMultiple}; got ${value}.`,
        field,
      );
  }
}

export function validateSeed(seed: bigint, field = "seed"): void {
  if (typeof seed !== "bigint" || seed < 0n || seed > LIMITS.maxSeed) {
    throw new InvalidInputError(`Seeds are whole numbers from 0 to ${LIMITS.maxSeed}.`, field);
  }
}

/**
 * Characters that show nothing: white space, control characters and the default-ignorables
 * (zero-width space and joiners, BOM, soft hyphen, variation selectors, Hangul fillers).
 */
const INVISIBLE = /[\s\p{Cc}\p{Default_Ignorable_Code_Point}]/gu;

/** Whether `text` shows nothing at all: empty, or only invisible characters. */
export function isBlankText(text: string): boolean {
  return text.replace(INVISIBLE, "") === "";
}

/**
 * Refuses a prompt longer than `max` characters (code points). The CLI checks its flags with this
 * before any model loads: a huge argument can crash the native model loading.
 */
export function checkPromptLength(text: string, max: number, field: string, label: string): void {
  const length = Array.from(text).length;
  if (length > max) {
    throw new InvalidInputError(`The ${label} is ${length} characters; the limit is ${max}.`, field);
  }
}

/** The emphasis syntax's bounds (prompt-weights.ts), reported for `field`. */
function checkEmphasis(text: string, field: string): void {
  try {
    parsePromptWeights(text);
  } catch (error) {
    if (!isEaselError(error)) throw error;
    const where = field === "prompt" ? "" : " (in the negative prompt)";
    throw new InvalidInputError(`${error.userMessage}${where}`, field);
  }
}

export function validateGenerateParams(params: GenerateParams): void {
  if (typeof params.prompt !== "string" || isBlankText(params.prompt)) {
    throw new InvalidInputError("The prompt is empty: describe the image you want.", "prompt");
  }
  checkPromptLength(params.prompt, LIMITS.maxPromptLength, "prompt", "prompt");
  checkEmphasis(params.prompt, "prompt");
  if (params.negativePrompt !== undefined) {
    checkPromptLength(params.negativePrompt, LIMITS.maxNegativePromptLength, "negative", "negative prompt");
    checkEmphasis(params.negativePrompt, "negative");
  }
  validateSize(params.width, params.height);
  requireInteger(params.steps, 1, LIMITS.maxSteps, "steps", "Steps");
  requireRange(params.guidance, 0, LIMITS.maxGuidance, "guidance", "Guidance");
  requireInteger(params.count, 1, LIMITS.maxCount, "count", "The image count");
  if (!SCHEDULER_NAMES.includes(params.scheduler)) {
    throw new InvalidInputError(
      `Unknown scheduler "${String(params.scheduler)}"; choose one of ${SCHEDULER_NAMES.join(", ")}.`,
      "scheduler",
    );
  }
  if (params.spacing !== undefined && !TIMESTEP_SPACINGS.includes(params.spacing)) {
    throw new InvalidInputError(
      `Unknown timestep spacing "${String(params.spacing)}"; choose one of ${TIMESTEP_SPACINGS.join(", ")}.`,
      "spacing",
    );
  }
  if (params.prediction !== undefined && !PREDICTION_TYPES.includes(params.prediction)) {
    throw new InvalidInputError(
      `Unknown prediction type "${String(params.prediction)}"; choose one of ${PREDICTION_TYPES.join(", ")}.`,
      "prediction",
    );
  }
  if (params.prediction === "sample" && params.scheduler === "euler-a") {
    // diffusers' EulerAncestralDiscreteScheduler has no "sample" branch.
    throw new InvalidInputError(
      "Euler ancestral cannot sample a model that predicts the image; use euler, ddim, dpmpp-2m-karras or lcm.",
      "prediction",
    );
  }
  validateSeed(params.seed);
  if (params.seed + BigInt(params.count - 1) > LIMITS.maxSeed) {
    throw new InvalidInputError(
      "The seed is too large for this many images (image i uses seed + i).",
      "seed",
    );
  }
  if (params.refiner) {
    requireFinite(params.refiner.switchAt, "refiner", "The refiner switch point");
    if (params.refiner.switchAt <= 0 || params.refiner.switchAt >= 1) {
      throw new InvalidInputError(
        `The refiner switch point must be between 0 and 1 (exclusive); got ${params.refiner.switchAt}.`,
        "refiner",
      );
    }
  }
  if (params.variation) {
    validateSeed(params.variation.subseed, "subseed");
    requireRange(params.variation.strength, 0, 1, "variation", "Variation strength");
  }
  if (params.source) {
    requireFinite(params.source.strength, "strength", "Strength");
    if (params.source.strength <= 0 || params.source.strength > 1) {
      throw new InvalidInputError(
        `Strength must be above 0 and at most 1; got ${params.source.strength}.`,
        "strength",
      );
    }
    if (!LIMITS.upscaleFactors.includes(params.source.upscale)) {
      throw new InvalidInputError(`Upscale must be 1, 1.5 or 2; got ${params.source.upscale}.`, "upscale");
    }
  }
  validateCanvas(params);
}
