/**
 * `/imagine` input → GenerationRequest. Text flags and structured options (Discord's option
 * fields, a web form) are two ways to set the same options; setting one option both ways is an
 * error that names both, so nothing the user typed is silently ignored.
 */
import type { Config } from "../config.js";
import { InvalidInputError } from "../errors.js";
import { promptWithTriggers } from "../requests/loras.js";
import { defaultModelOf, modelNamed } from "../requests/models.js";
import type { GenerationRequest, Requester } from "../requests/request.js";
import type { ImageSize } from "./aspect.js";
import {
  flagIndex,
  type ImagineOption,
  imagineOptions,
  limitsOf,
  MAX_PROMPT_LENGTH,
  type OptionName,
} from "./options.js";
import { parseFlagText } from "./parse.js";
import { assertPromptAllowed, negativeWithSafety } from "./policy.js";
import { maxSeedFor, randomSeedFor } from "./seeds.js";
import { inputErrors } from "./texts.js";
import {
  type RawValue,
  readAspect,
  readBoolean,
  readInteger,
  readLoras,
  readModel,
  readNumber,
  readScheduler,
  readSeed,
  readSize,
  readText,
} from "./validate.js";

export interface ImagineInput {
  /** The prompt with any flags: Discord's `prompt` option, or Slack's whole command text. */
  text: string;
  /** Structured options by option name (not `prompt`); absent (undefined) entries are skipped. */
  options?: Record<string, string | number | boolean>;
}

/**
 * Draws a fresh 64-bit seed; values outside 0..2^64-1 are wrapped into it, and a draw too large
 * for the request's image count is lowered to the largest seed that fits.
 */
export type RandomSeed = () => bigint;

const HELP_WORDS = new Set(["help", "--help", "-h", "?"]);

/** `/imagine help` (or `--help`, `-h`, `?`) on its own asks for the help text instead of an image. */
export function isHelpRequest(input: ImagineInput): boolean {
  return HELP_WORDS.has(input.text.trim().toLowerCase());
}

interface GivenValue {
  raw: RawValue;
  /** How the user gave it, for messages: "--steps" or "the steps option". */
  source: string;
}

/** Parses and validates one `/imagine`; throws InvalidInputError with a user-facing message. */
export function parseImagine(
  input: ImagineInput,
  requester: Requester,
  config: Config,
  randomSeed: RandomSeed,
): GenerationRequest {
  const table = imagineOptions(config);
  const option = (name: OptionName): ImagineOption => table.find((entry) => entry.name === name)!;
  const given = new Map<OptionName, GivenValue>();
  const give = (target: ImagineOption, value: GivenValue): void => {
    const previous = given.get(target.name);
    if (previous) {
      throw new InvalidInputError(
        inputErrors.setTwice(target.label, previous.source, value.source),
        target.name,
      );
    }
    given.set(target.name, value);
  };

  /** Values of repeatable options (`--lora`), from the text and the structured option together. */
  const repeated: GivenValue[] = [];
  const text = parseFlagText(input.text, flagIndex(table));
  for (const use of text.flags) {
    const target = use.meaning.option;
    const switchedTo = use.meaning.sets;
    if (target.repeatable) {
      repeated.push({ raw: use.value ?? "", source: use.flag });
    } else if (switchedTo === undefined) {
      give(target, { raw: use.value ?? "", source: use.flag });
    } else {
      const value = use.value === undefined ? true : readBoolean(target, use.value);
      give(target, { raw: value === switchedTo, source: use.flag });
    }
  }
  for (const [name, raw] of Object.entries(input.options ?? {})) {
    if (raw === undefined || raw === null) continue;
    const target = table.find((entry) => entry.name === name && entry.name !== "prompt");
    if (!target) throw new InvalidInputError(inputErrors.unknownOption(name), name);
    if (target.repeatable) {
      repeated.push({ raw, source: `the ${name} option` });
      continue;
    }
    give(target, { raw, source: `the ${name} option` });
  }
  const read = <T>(name: OptionName, reader: (option: ImagineOption, raw: RawValue) => T): T | undefined => {
    const value = given.get(name);
    return value === undefined ? undefined : reader(option(name), value.raw);
  };

  // The model picks the defaults and limits of steps, guidance, scheduler and size.
  const modelName = read("model", readModel);
  const model = (modelName && modelNamed(config.models, modelName)) || defaultModelOf(config.models);
  const modelTable = imagineOptions(config, model);
  const loras = readLoras(
    option("lora"),
    repeated.map((value) => value.raw),
    config,
    model.name,
  );
  const { defaults } = limitsOf(config, model);
  const readForModel = <T>(
    name: OptionName,
    reader: (option: ImagineOption, raw: RawValue) => T,
  ): T | undefined => {
    const value = given.get(name);
    return value === undefined
      ? undefined
      : reader(modelTable.find((entry) => entry.name === name)!, value.raw);
  };

  const prompt = readText(option("prompt"), text.prompt);
  if (prompt.length === 0) {
    const negativeTookText = text.flags.some((use) => use.meaning.option.freeText && !use.quoted);
    throw new InvalidInputError(inputErrors.emptyPrompt(negativeTookText), "prompt");
  }
  assertPromptAllowed(prompt, config.policy);
  const encoded = Array.from(promptWithTriggers(prompt, loras)).length;
  if (encoded > MAX_PROMPT_LENGTH) {
    throw new InvalidInputError(inputErrors.triggersTooLong(encoded, MAX_PROMPT_LENGTH), "lora");
  }
  const userNegative = read("negative", readText);

  if (given.has("aspect") && given.has("size"))
    throw new InvalidInputError(inputErrors.aspectAndSize(), "size");
  const size: ImageSize = read("size", readSize) ??
    read("aspect", readAspect) ?? { width: defaults.width, height: defaults.height };

  const refinerOption = option("refiner");
  const refinerOn = read("refiner", readBoolean) ?? refinerOption.available;
  if (refinerOn && !refinerOption.available) {
    throw new InvalidInputError(inputErrors.refinerUnavailable(), "refiner");
  }

  const g = config.generation;
  const count = read("count", readInteger) ?? g.defaultCount;
  const givenSeed = read("seed", readSeed);
  if (givenSeed !== undefined && BigInt(givenSeed) > maxSeedFor(count)) {
    throw new InvalidInputError(
      inputErrors.seedTooLargeForCount(givenSeed, count, maxSeedFor(count)),
      "seed",
    );
  }
  // Zooms out the attached picture (the caller attaches it: commands/upload.ts).
  const zoom = read("zoom", readNumber);
  return {
    model: model.name,
    ...(loras.length > 0 ? { loras } : {}),
    prompt,
    negativePrompt: negativeWithSafety(userNegative, config.policy, requester.nsfwChannel),
    width: size.width,
    height: size.height,
    seed: givenSeed ?? randomSeedFor(randomSeed(), count),
    steps: readForModel("steps", readInteger) ?? defaults.steps,
    guidance: readForModel("guidance", readNumber) ?? defaults.guidance,
    scheduler: read("scheduler", readScheduler) ?? defaults.scheduler,
    ...(defaults.spacing ? { spacing: defaults.spacing } : {}),
    ...(defaults.prediction ? { prediction: defaults.prediction } : {}),
    count,
    refiner: refinerOn ? { enabled: true, switchAt: g.refinerSwitch } : { enabled: false },
    ...(zoom !== undefined ? { canvas: { kind: "zoom_out", factor: zoom } } : {}),
    requester,
  };
}
