/**
 * Scheduler configuration, read from a diffusers `scheduler/scheduler_config.json` with diffusers'
 * `from_config` rules:
 * - each scheduler class takes only the keys of its own __init__ and uses its own defaults for the
 *   rest (e.g. DDIM takes clip_sample and set_alpha_to_one from an Euler json, and its default
 *   timestep_spacing is "leading" where the Euler family's is "linspace");
 * - keys listed in `_use_default_values` count as absent;
 * - the pipelines build DPM++ 2M Karras as DPMSolverMultistepScheduler.from_config(config,
 *   use_karras_sigmas=True, algorithm_type="dpmsolver++", solver_order=2).
 *
 * parseSchedulerConfig validates types and the values every class shares; resolveSchedulerConfig
 * applies one class's defaults and rejects what that class (or this implementation) cannot run.
 * Every rejection is a SchedulerConfigError naming the json key.
 */
import { ConfigError } from "../../errors.js";
import type { Prediction, SchedulerName, Spacing } from "../types.js";

export type BetaSchedule = "linear" | "scaled_linear" | "squaredcos_cap_v2";
export type TimestepSpacing = Spacing;
export type PredictionType = Prediction;
export type FinalSigmasType = "zero" | "sigma_min";
export type SolverType = "midpoint" | "heun";

/** A scheduler_config.json key that is missing, malformed or unsupported. */
export class SchedulerConfigError extends ConfigError {
  readonly key: string;

  constructor(key: string, problem: string) {
    super(`Scheduler config "${key}": ${problem}`);
    this.key = key;
  }
}

/**
 * The json's keys, typed. A key left undefined was absent (or listed in `_use_default_values`), so
 * each scheduler applies its own default for it.
 */
export interface SchedulerConfig {
  readonly className: string | undefined;
  readonly numTrainTimesteps?: number;
  readonly betaStart?: number;
  readonly betaEnd?: number;
  readonly betaSchedule?: BetaSchedule;
  readonly trainedBetas?: readonly number[] | null;
  readonly predictionType?: PredictionType | "original_sample";
  readonly timestepSpacing?: TimestepSpacing;
  readonly stepsOffset?: number;
  readonly rescaleBetasZeroSnr?: boolean;
  readonly interpolationType?: string;
  readonly useKarrasSigmas?: boolean;
  readonly useExponentialSigmas?: boolean;
  readonly useBetaSigmas?: boolean;
  readonly useLuLambdas?: boolean;
  readonly useFlowSigmas?: boolean;
  readonly sigmaMin?: number | null;
  readonly sigmaMax?: number | null;
  readonly timestepType?: string;
  readonly finalSigmasType?: FinalSigmasType;
  readonly solverType?: string;
  readonly lowerOrderFinal?: boolean;
  readonly eulerAtFinal?: boolean;
  readonly thresholding?: boolean;
  readonly varianceType?: string | null;
  readonly clipSample?: boolean;
  readonly clipSampleRange?: number;
  readonly setAlphaToOne?: boolean;
  readonly originalInferenceSteps?: number;
  readonly timestepScaling?: number;
}

type Kind = "int" | "number" | "bool" | "string" | "numberOrNull" | "stringOrNull" | "numberListOrNull";

interface KeySpec {
  readonly json: string;
  readonly field: keyof Omit<SchedulerConfig, "className">;
  readonly kind: Kind;
  readonly allowed?: readonly string[];
}

/** Every key this implementation reads; other keys are ignored, as from_config ignores them. */
const KEYS: readonly KeySpec[] = [
  { json: "num_train_timesteps", field: "numTrainTimesteps", kind: "int" },
  { json: "beta_start", field: "betaStart", kind: "number" },
  { json: "beta_end", field: "betaEnd", kind: "number" },
  {
    json: "beta_schedule",
    field: "betaSchedule",
    kind: "string",
    allowed: ["linear", "scaled_linear", "squaredcos_cap_v2"],
  },
  { json: "trained_betas", field: "trainedBetas", kind: "numberListOrNull" },
  {
    json: "prediction_type",
    field: "predictionType",
    kind: "string",
    allowed: ["epsilon", "v_prediction", "sample", "original_sample"],
  },
  {
    json: "timestep_spacing",
    field: "timestepSpacing",
    kind: "string",
    allowed: ["leading", "trailing", "linspace"],
  },
  { json: "steps_offset", field: "stepsOffset", kind: "int" },
  { json: "rescale_betas_zero_snr", field: "rescaleBetasZeroSnr", kind: "bool" },
  { json: "interpolation_type", field: "interpolationType", kind: "string" },
  { json: "use_karras_sigmas", field: "useKarrasSigmas", kind: "bool" },
  { json: "use_exponential_sigmas", field: "useExponentialSigmas", kind: "bool" },
  { json: "use_beta_sigmas", field: "useBetaSigmas", kind: "bool" },
  { json: "use_lu_lambdas", field: "useLuLambdas", kind: "bool" },
  { json: "use_flow_sigmas", field: "useFlowSigmas", kind: "bool" },
  { json: "sigma_min", field: "sigmaMin", kind: "numberOrNull" },
  { json: "sigma_max", field: "sigmaMax", kind: "numberOrNull" },
  { json: "timestep_type", field: "timestepType", kind: "string" },
  { json: "final_sigmas_type", field: "finalSigmasType", kind: "string", allowed: ["zero", "sigma_min"] },
  { json: "solver_type", field: "solverType", kind: "string" },
  { json: "lower_order_final", field: "lowerOrderFinal", kind: "bool" },
  { json: "euler_at_final", field: "eulerAtFinal", kind: "bool" },
  { json: "thresholding", field: "thresholding", kind: "bool" },
  { json: "variance_type", field: "varianceType", kind: "stringOrNull" },
  { json: "clip_sample", field: "clipSample", kind: "bool" },
  { json: "clip_sample_range", field: "clipSampleRange", kind: "number" },
  { json: "set_alpha_to_one", field: "setAlphaToOne", kind: "bool" },
  { json: "original_inference_steps", field: "originalInferenceSteps", kind: "int" },
  { json: "timestep_scaling", field: "timestepScaling", kind: "number" },
];

function describe(value: unknown): string {
  return typeof value === "string" ? `"${value}"` : (JSON.stringify(value) ?? String(value));
}

function readValue(spec: KeySpec, value: unknown): unknown {
  const fail = (expected: string): never => {
    throw new SchedulerConfigError(spec.json, `expected ${expected}, got ${describe(value)}.`);
  };
  const finite = (v: unknown): v is number => typeof v === "number" && Number.isFinite(v);
  switch (spec.kind) {
    case "int":
      return Number.isSafeInteger(value) ? value : fail("an integer");
    case "number":
      return finite(value) ? value : fail("a finite number");
    case "bool":
      return typeof value === "boolean" ? value : fail("true or false");
    case "numberOrNull":
      return value === null || finite(value) ? value : fail("a number or null");
    case "stringOrNull":
      return value === null || typeof value === "string" ? value : fail("a string or null");
    case "numberListOrNull":
      if (value === null) return null;
      return Array.isArray(value) && value.every(finite) ? value : fail("a list of numbers or null");
    case "string":
      if (typeof value !== "string") return fail("a string");
      if (spec.allowed && !spec.allowed.includes(value)) {
        throw new SchedulerConfigError(
          spec.json,
          `${describe(value)} is not supported (use ${spec.allowed.join(", ")}).`,
        );
      }
      return value;
  }
}

/** Validates a parsed scheduler_config.json object. */
export function parseSchedulerConfig(json: unknown): SchedulerConfig {
  if (typeof json !== "object" || json === null || Array.isArray(json)) {
    throw new SchedulerConfigError("(root)", "the scheduler config must be a JSON object.");
  }
  const source = json as Record<string, unknown>;
  const defaulted = source["_use_default_values"];
  const skip = new Set(Array.isArray(defaulted) ? defaulted.filter((k) => typeof k === "string") : []);
  const className = source["_class_name"];
  const config: Record<string, unknown> = {
    className: typeof className === "string" ? className : undefined,
  };
  for (const spec of KEYS) {
    if (!(spec.json in source) || skip.has(spec.json)) continue;
    config[spec.field] = readValue(spec, source[spec.json]);
  }
  const parsed = config as unknown as SchedulerConfig;
  checkRanges(parsed);
  return parsed;
}

function checkRanges(config: SchedulerConfig): void {
  const T = config.numTrainTimesteps;
  if (T !== undefined && (T < 2 || T > 100_000)) {
    throw new SchedulerConfigError("num_train_timesteps", `must be between 2 and 100000, got ${T}.`);
  }
  if (config.stepsOffset !== undefined && config.stepsOffset < 0) {
    throw new SchedulerConfigError("steps_offset", `must not be negative, got ${config.stepsOffset}.`);
  }
  for (const [key, beta] of [
    ["beta_start", config.betaStart],
    ["beta_end", config.betaEnd],
  ] as const) {
    if (beta !== undefined && (beta < 0 || beta >= 1)) {
      throw new SchedulerConfigError(key, `must be in [0, 1), got ${beta}.`);
    }
  }
  const trained = config.trainedBetas;
  if (trained) {
    if (trained.some((b) => b < 0 || b >= 1))
      throw new SchedulerConfigError("trained_betas", "every beta must be in [0, 1).");
    if (trained.length !== (T ?? 1000)) {
      throw new SchedulerConfigError(
        "trained_betas",
        `has ${trained.length} values but num_train_timesteps is ${T ?? 1000}.`,
      );
    }
  }
  const original = config.originalInferenceSteps;
  if (original !== undefined && (original < 1 || original > (T ?? 1000))) {
    throw new SchedulerConfigError(
      "original_inference_steps",
      `must be between 1 and num_train_timesteps (${T ?? 1000}), got ${original}.`,
    );
  }
  if (config.timestepScaling !== undefined && config.timestepScaling <= 0) {
    throw new SchedulerConfigError("timestep_scaling", `must be positive, got ${config.timestepScaling}.`);
  }
  for (const [key, sigma] of [
    ["sigma_min", config.sigmaMin],
    ["sigma_max", config.sigmaMax],
  ] as const) {
    if (typeof sigma === "number" && sigma <= 0)
      throw new SchedulerConfigError(key, `must be positive, got ${sigma}.`);
  }
}

/** What a request or a model's preset may replace in the folder's config. */
export interface SchedulerOverrides {
  spacing?: TimestepSpacing;
  prediction?: PredictionType;
}

/**
 * The config with these keys replaced, as diffusers' from_config(config, timestep_spacing=…,
 * prediction_type=…) builds a scheduler (e.g. SDXL-Lightning: trailing, and "sample" at 1 step).
 */
export function withOverrides(config: SchedulerConfig, overrides: SchedulerOverrides): SchedulerConfig {
  return {
    ...config,
    ...(overrides.spacing !== undefined ? { timestepSpacing: overrides.spacing } : {}),
    ...(overrides.prediction !== undefined ? { predictionType: overrides.prediction } : {}),
  };
}

/** One class's effective settings: every field set, defaults applied, overrides forced. */
export interface ResolvedSchedulerConfig {
  readonly numTrainTimesteps: number;
  readonly betaStart: number;
  readonly betaEnd: number;
  readonly betaSchedule: BetaSchedule;
  readonly trainedBetas: readonly number[] | null;
  readonly predictionType: PredictionType;
  readonly timestepSpacing: TimestepSpacing;
  readonly stepsOffset: number;
  readonly rescaleBetasZeroSnr: boolean;
  /** Euler (always true for DPM++ 2M Karras). */
  readonly useKarrasSigmas: boolean;
  /** Karras range overrides; null = the training schedule's ends. */
  readonly sigmaMin: number | null;
  readonly sigmaMax: number | null;
  /** Euler and DPM: the sigma appended after the last step. */
  readonly finalSigmasType: FinalSigmasType;
  /** DPM. */
  readonly solverType: SolverType;
  readonly lowerOrderFinal: boolean;
  readonly eulerAtFinal: boolean;
  /** DDIM. */
  readonly clipSample: boolean;
  readonly clipSampleRange: number;
  readonly setAlphaToOne: boolean;
  /** LCM: the distillation schedule's length its timesteps are picked from, and c_skip/c_out's timestep factor. */
  readonly originalInferenceSteps: number;
  readonly timestepScaling: number;
}

/** The __init__ defaults of Euler, Euler ancestral, DPM-Solver and DDIM (diffusers' values). */
const COMMON_DEFAULTS = {
  numTrainTimesteps: 1000,
  betaStart: 0.0001,
  betaEnd: 0.02,
  betaSchedule: "linear" as BetaSchedule,
  trainedBetas: null,
  stepsOffset: 0,
  rescaleBetasZeroSnr: false,
};

function reject(key: string, problem: string): never {
  throw new SchedulerConfigError(key, problem);
}

/** Applies one class's from_config rules to a parsed config. */
export function resolveSchedulerConfig(
  name: SchedulerName,
  config: SchedulerConfig,
): ResolvedSchedulerConfig {
  const common = {
    numTrainTimesteps: config.numTrainTimesteps ?? COMMON_DEFAULTS.numTrainTimesteps,
    betaStart: config.betaStart ?? COMMON_DEFAULTS.betaStart,
    betaEnd: config.betaEnd ?? COMMON_DEFAULTS.betaEnd,
    betaSchedule: config.betaSchedule ?? COMMON_DEFAULTS.betaSchedule,
    trainedBetas: config.trainedBetas ?? COMMON_DEFAULTS.trainedBetas,
    stepsOffset: config.stepsOffset ?? COMMON_DEFAULTS.stepsOffset,
    rescaleBetasZeroSnr: config.rescaleBetasZeroSnr ?? COMMON_DEFAULTS.rescaleBetasZeroSnr,
  };
  const neutral = {
    useKarrasSigmas: false,
    sigmaMin: null,
    sigmaMax: null,
    finalSigmasType: "zero" as FinalSigmasType,
    solverType: "midpoint" as SolverType,
    lowerOrderFinal: true,
    eulerAtFinal: false,
    clipSample: false,
    clipSampleRange: 1,
    setAlphaToOne: false,
    originalInferenceSteps: 50,
    timestepScaling: 10,
  };
  const prediction = config.predictionType ?? "epsilon";

  switch (name) {
    case "euler": {
      if ((config.interpolationType ?? "linear") !== "linear") {
        reject(
          "interpolation_type",
          `${describe(config.interpolationType)} is not supported (use "linear").`,
        );
      }
      if (config.useExponentialSigmas)
        reject("use_exponential_sigmas", "exponential sigmas are not supported.");
      if (config.useBetaSigmas) reject("use_beta_sigmas", "beta sigmas are not supported.");
      const timestepType = config.timestepType ?? "discrete";
      if (timestepType !== "discrete" && timestepType !== "continuous") {
        reject("timestep_type", `${describe(timestepType)} is not supported (use "discrete").`);
      }
      if (timestepType === "continuous" && prediction === "v_prediction") {
        reject("timestep_type", 'continuous timesteps with v_prediction are not supported (use "discrete").');
      }
      return {
        ...common,
        ...neutral,
        predictionType: prediction === "original_sample" ? "sample" : prediction,
        timestepSpacing: config.timestepSpacing ?? "linspace",
        useKarrasSigmas: config.useKarrasSigmas ?? false,
        sigmaMin: config.sigmaMin ?? null,
        sigmaMax: config.sigmaMax ?? null,
        finalSigmasType: config.finalSigmasType ?? "zero",
      };
    }
    case "euler-a":
      if (prediction === "sample" || prediction === "original_sample") {
        reject(
          "prediction_type",
          `${describe(prediction)} is not supported by Euler ancestral (use epsilon or v_prediction).`,
        );
      }
      return {
        ...common,
        ...neutral,
        predictionType: prediction,
        timestepSpacing: config.timestepSpacing ?? "linspace",
      };
    case "dpmpp-2m-karras": {
      if (prediction === "original_sample") {
        reject("prediction_type", '"original_sample" is not supported by DPM-Solver (use "sample").');
      }
      if (config.thresholding) reject("thresholding", "dynamic thresholding is not supported.");
      if (config.varianceType === "learned" || config.varianceType === "learned_range") {
        reject(
          "variance_type",
          `${describe(config.varianceType)} (a model that predicts variance) is not supported.`,
        );
      }
      if (config.useFlowSigmas) reject("use_flow_sigmas", "flow-matching sigmas are not supported.");
      // from_config forces use_karras_sigmas=True, and diffusers allows one sigma family only.
      if (config.useExponentialSigmas)
        reject("use_exponential_sigmas", "cannot be combined with Karras sigmas.");
      if (config.useBetaSigmas) reject("use_beta_sigmas", "cannot be combined with Karras sigmas.");
      const solver = config.solverType ?? "midpoint";
      // diffusers maps the UniPC solver names onto midpoint.
      const solverType: SolverType | undefined =
        solver === "heun"
          ? "heun"
          : ["midpoint", "logrho", "bh1", "bh2"].includes(solver)
            ? "midpoint"
            : undefined;
      if (solverType === undefined)
        reject("solver_type", `${describe(solver)} is not supported (use midpoint or heun).`);
      return {
        ...common,
        ...neutral,
        predictionType: prediction,
        timestepSpacing: config.timestepSpacing ?? "linspace",
        useKarrasSigmas: true,
        // Not DPM __init__ arguments, but from_config keeps them as hidden config entries and the
        // Karras conversion reads them when present.
        sigmaMin: config.sigmaMin ?? null,
        sigmaMax: config.sigmaMax ?? null,
        finalSigmasType: config.finalSigmasType ?? "zero",
        solverType,
        lowerOrderFinal: config.lowerOrderFinal ?? true,
        eulerAtFinal: config.eulerAtFinal ?? false,
      };
    }
    case "ddim":
      if (prediction === "original_sample") {
        reject("prediction_type", '"original_sample" is not supported by DDIM (use "sample").');
      }
      if (config.thresholding) reject("thresholding", "dynamic thresholding is not supported.");
      return {
        ...common,
        ...neutral,
        predictionType: prediction,
        timestepSpacing: config.timestepSpacing ?? "leading",
        clipSample: config.clipSample ?? true,
        clipSampleRange: config.clipSampleRange ?? 1,
        setAlphaToOne: config.setAlphaToOne ?? true,
      };
    case "lcm":
      if (prediction === "original_sample") {
        reject("prediction_type", '"original_sample" is not supported by LCM (use "sample").');
      }
      if (config.thresholding) reject("thresholding", "dynamic thresholding is not supported.");
      if ((config.originalInferenceSteps ?? 50) > common.numTrainTimesteps) {
        reject(
          "original_inference_steps",
          `${config.originalInferenceSteps} is more than num_train_timesteps (${common.numTrainTimesteps}).`,
        );
      }
      // LCMScheduler's own __init__ defaults differ from the other classes' (SD's betas, no clipping).
      return {
        ...common,
        ...neutral,
        betaStart: config.betaStart ?? 0.00085,
        betaEnd: config.betaEnd ?? 0.012,
        betaSchedule: config.betaSchedule ?? "scaled_linear",
        predictionType: prediction,
        // Stored as diffusers stores it; LCM's set_timesteps reads neither spacing nor steps_offset.
        timestepSpacing: config.timestepSpacing ?? "leading",
        clipSample: config.clipSample ?? false,
        clipSampleRange: config.clipSampleRange ?? 1,
        setAlphaToOne: config.setAlphaToOne ?? true,
        originalInferenceSteps: config.originalInferenceSteps ?? 50,
        timestepScaling: config.timestepScaling ?? 10,
      };
  }
}

/** SDXL base 1.0's scheduler/scheduler_config.json. */
export const SDXL_SCHEDULER_CONFIG_JSON = {
  _class_name: "EulerDiscreteScheduler",
  _diffusers_version: "0.22.0.dev0",
  beta_end: 0.012,
  beta_schedule: "scaled_linear",
  beta_start: 0.00085,
  clip_sample: false,
  interpolation_type: "linear",
  num_train_timesteps: 1000,
  prediction_type: "epsilon",
  sample_max_value: 1.0,
  set_alpha_to_one: false,
  skip_prk_steps: true,
  steps_offset: 1,
  timestep_spacing: "leading",
  trained_betas: null,
  use_karras_sigmas: false,
} as const;

export const SDXL_SCHEDULER_CONFIG: SchedulerConfig = parseSchedulerConfig(SDXL_SCHEDULER_CONFIG_JSON);
