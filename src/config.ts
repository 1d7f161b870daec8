/**
 * All of easel's settings in one place. Every knob has a default and a line of documentation
 * (mirrored in config/.env.example). Nothing else in src/ reads process.env.
 */
import { z } from "zod";
import { MIN_GUIDANCE } from "./commands/options.js";
import { ConfigError } from "./errors.js";
import { SCHEDULER_NAMES } from "./pipeline/types.js";
import { LIMITS } from "./pipeline/validate.js";

const list = (value: string | undefined): string[] =>
  (value ?? "")
    .split(",")
    .map((item) => item.trim())
    .filter((item) => item.length > 0);

/** setTimeout fires at once for delays above 2^31 - 1 ms, so a job timeout must stay below that. */
const MAX_JOB_TIMEOUT_SECONDS = Math.floor((2 ** 31 - 1) / 1000);

/** A whole number within [min, max] (no upper bound when max is absent). */
const wholeFrom = (fallback: number, min: number, max?: number) => {
  const error =
    max === undefined
      ? `must be a whole number, at least ${min}`
      : `must be a whole number from ${min} to ${max}`;
  const schema = z.coerce.number({ error }).int({ error }).min(min, { error });
  return (max === undefined ? schema : schema.max(max, { error })).default(fallback);
};
/** A finite number within [min, max]. */
const numberFrom = (fallback: number, min: number, max: number) => {
  const error = `must be a number from ${min} to ${max}`;
  return z.coerce.number({ error }).min(min, { error }).max(max, { error }).default(fallback);
};
/** A finite number strictly between min and max (or strictly above min when max is absent). */
const numberBetween = (fallback: number, min: number, max?: number) => {
  const error =
    max === undefined
      ? `must be a number above ${min}`
      : `must be a number between ${min} and ${max}, both excluded`;
  const schema = z.coerce.number({ error }).gt(min, { error });
  return (max === undefined ? schema : schema.lt(max, { error })).default(fallback);
};
const boolFrom = (fallback: boolean) =>
  z
    .enum(["true", "false", "1", "0", "yes", "no", "on", "off"])
    .optional()
    .transform((value) => (value === undefined ? fallback : ["true", "1", "yes", "on"].includes(value)));

/**
 * One entry per environment variable: the source of truth for names, defaults, bounds and parsing.
 * Generation limits are bounded by what the pipeline accepts at all (its LIMITS); the count's bound
 * also keeps a result's buttons within Discord's 5 rows (one per image, one for re-roll).
 */
const envSchema = z.object({
  /** SDXL base ONNX export folder (model_index.json, unet/, vae_decoder/, ...). */
  EASEL_MODEL_DIR: z.string().default("models/tiny/base"),
  /** Optional SDXL refiner ONNX folder; empty disables the refiner. */
  EASEL_REFINER_DIR: z.string().default(""),
  /** A float32 (or fp16-fix) VAE decoder .onnx tried when the model's decoder overflows (empty = none). */
  EASEL_VAE_FALLBACK: z.string().default(""),
  /** Devices to run on, one worker each: "cpu" or "cuda:0,cuda:1" (`easel generate` uses the first). */
  EASEL_DEVICES: z.string().default("cpu"),
  /** Where the job store and pending images live. */
  EASEL_DATA_DIR: z.string().default("data"),
  /** Log level: fatal, error, warn, info, debug, trace. */
  EASEL_LOG_LEVEL: z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]).default("info"),

  /** Threads ONNX Runtime may use inside one operator (0 = its default; at least 0). */
  EASEL_ORT_INTRA_OP_THREADS: wholeFrom(0, 0),

  /** Denoising steps when a request gives none; 1 to EASEL_MAX_STEPS. */
  EASEL_DEFAULT_STEPS: wholeFrom(30, 1, LIMITS.maxSteps),
  /** Most denoising steps a request may ask for; 1 to the pipeline's 150. */
  EASEL_MAX_STEPS: wholeFrom(150, 1, LIMITS.maxSteps),
  /** Guidance (CFG) scale when a request gives none; 1 to EASEL_MAX_GUIDANCE. */
  EASEL_DEFAULT_GUIDANCE: numberFrom(5, MIN_GUIDANCE, LIMITS.maxGuidance),
  /** Highest guidance scale a request may ask for; 1 to the pipeline's 30. */
  EASEL_MAX_GUIDANCE: numberFrom(30, MIN_GUIDANCE, LIMITS.maxGuidance),
  /** Scheduler when a request names none. */
  EASEL_DEFAULT_SCHEDULER: z.enum(SCHEDULER_NAMES).default("euler"),
  /** Images per request when a request gives no count; 1 to EASEL_MAX_COUNT. */
  EASEL_DEFAULT_COUNT: wholeFrom(1, 1, LIMITS.maxCount),
  /** Most images one request may ask for; 1 to the pipeline's 4. */
  EASEL_MAX_COUNT: wholeFrom(4, 1, LIMITS.maxCount),
  /** Fraction of the schedule the base model runs before the refiner takes over, in (0, 1). */
  EASEL_REFINER_SWITCH: numberBetween(0.8, 0, 1),
  /** Send a live preview every k denoising steps (0 = never). */
  EASEL_PREVIEW_EVERY: wholeFrom(5, 0),

  /** Jobs one user may have queued or running at once (at least 1). */
  EASEL_MAX_JOBS_PER_USER: wholeFrom(3, 1),
  /** Jobs queued or running over all users before new ones are refused (at least 1). */
  EASEL_MAX_JOBS_TOTAL: wholeFrom(100, 1),
  /** A job running longer than this is failed and its device recycled; 1 s to ~24.8 days. */
  EASEL_JOB_TIMEOUT_SECONDS: wholeFrom(600, 1, MAX_JOB_TIMEOUT_SECONDS),
  /** Priority tiers: "user:123=2,role:456=1" (higher runs first; everyone else is 0; empty = none). */
  EASEL_PRIORITY: z.string().default(""),

  /** Comma-separated terms that make a prompt refused (empty = none). */
  EASEL_BLOCKED_TERMS: z.string().default(""),
  /** Negative prompt always added outside channels marked NSFW (empty = none). */
  EASEL_SAFETY_NEGATIVE: z.string().default("nsfw, nudity"),
  /** Who may press a result's buttons: the author only, or anyone in the channel. */
  EASEL_BUTTONS: z.enum(["author", "anyone"]).default("author"),
  /** Hours finished images stay on disk waiting to be posted (above 0). */
  EASEL_RETENTION_HOURS: numberBetween(24, 0),
  /** Accept a typed `!` as an ordinary character (open_clip); false = transformers' id 0 quirk. */
  EASEL_OPENCLIP_EXCLAMATION: boolFrom(true),
});

type SettingName = keyof typeof envSchema.shape;
/** Every environment variable easel reads (each documented in config/.env.example). */
export const SETTING_NAMES = Object.keys(envSchema.shape) as readonly SettingName[];
type Settings = z.infer<typeof envSchema>;
type NumericSettingName = { [K in SettingName]: Settings[K] extends number ? K : never }[SettingName];

/**
 * Text settings where an empty value is a value ("none"), not "use the default": a deployment can
 * switch the safety negative prompt off with `EASEL_SAFETY_NEGATIVE=`. Every other setting treats
 * unset and empty (or blank) alike and takes its default.
 */
const EMPTY_IS_A_VALUE: ReadonlySet<SettingName> = new Set<SettingName>([
  "EASEL_REFINER_DIR",
  "EASEL_VAE_FALLBACK",
  "EASEL_SAFETY_NEGATIVE",
  "EASEL_BLOCKED_TERMS",
  "EASEL_PRIORITY",
]);

/** A default may not lie above its maximum: requests left at the default would be refused. */
const DEFAULT_AT_MOST_MAX: readonly [NumericSettingName, NumericSettingName][] = [
  ["EASEL_DEFAULT_STEPS", "EASEL_MAX_STEPS"],
  ["EASEL_DEFAULT_GUIDANCE", "EASEL_MAX_GUIDANCE"],
  ["EASEL_DEFAULT_COUNT", "EASEL_MAX_COUNT"],
];

export interface PriorityRule {
  kind: "user" | "role";
  id: string;
  tier: number;
}

export interface Config {
  modelDir: string;
  refinerDir: string | undefined;
  vaeFallback: string | undefined;
  devices: string[];
  dataDir: string;
  logLevel: z.infer<typeof envSchema>["EASEL_LOG_LEVEL"];
  ort: { intraOpThreads: number };
  generation: {
    defaultSteps: number;
    maxSteps: number;
    defaultGuidance: number;
    maxGuidance: number;
    defaultScheduler: (typeof SCHEDULER_NAMES)[number];
    defaultCount: number;
    maxCount: number;
    refinerSwitch: number;
    previewEvery: number;
    openClipExclamation: boolean;
  };
  queue: {
    maxJobsPerUser: number;
    maxJobsTotal: number;
    jobTimeoutMs: number;
    priority: PriorityRule[];
  };
  policy: {
    blockedTerms: string[];
    safetyNegative: string;
  };
  buttons: "author" | "anyone";
  retentionHours: number;
}

function parsePriority(text: string): PriorityRule[] {
  return list(text).map((entry) => {
    const match = /^(user|role):([^=]+)=(-?\d+)$/.exec(entry);
    if (!match) throw new ConfigError(`EASEL_PRIORITY: "${entry}" is not of the form user:ID=N or role:ID=N`);
    return { kind: match[1] as "user" | "role", id: match[2]!, tier: Number(match[3]) };
  });
}

/** The settings easel reads from an environment-like record, empty values handled as documented. */
function settingsIn(env: Record<string, string | undefined>): Partial<Record<SettingName, string>> {
  const settings: Partial<Record<SettingName, string>> = {};
  for (const name of SETTING_NAMES) {
    const value = env[name];
    if (value === undefined) continue;
    if (EMPTY_IS_A_VALUE.has(name)) settings[name] = value;
    else if (value.trim() !== "") settings[name] = value.trim();
  }
  return settings;
}

/** Parse settings from an environment-like record (process.env by default). */
export function loadConfig(env: Record<string, string | undefined> = process.env): Config {
  const settings = settingsIn(env);
  const parsed = envSchema.safeParse(settings);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const name = String(issue.path[0]) as SettingName;
    throw new ConfigError(`${name}: ${issue.message}; got "${settings[name] ?? ""}".`);
  }
  const e = parsed.data;
  for (const [defaultName, maxName] of DEFAULT_AT_MOST_MAX) {
    if (e[defaultName] > e[maxName]) {
      throw new ConfigError(
        `${defaultName}: ${e[defaultName]} is above ${maxName} (${e[maxName]}); lower it or raise ${maxName}.`,
      );
    }
  }
  const devices = list(e.EASEL_DEVICES);
  for (const device of devices) {
    if (!/^(cpu|cuda:\d+)$/.test(device)) {
      throw new ConfigError(`EASEL_DEVICES: "${device}" is not "cpu" or "cuda:N"`);
    }
  }
  return {
    modelDir: e.EASEL_MODEL_DIR,
    refinerDir: e.EASEL_REFINER_DIR.trim() || undefined,
    vaeFallback: e.EASEL_VAE_FALLBACK.trim() || undefined,
    devices: devices.length > 0 ? devices : ["cpu"],
    dataDir: e.EASEL_DATA_DIR,
    logLevel: e.EASEL_LOG_LEVEL,
    ort: { intraOpThreads: e.EASEL_ORT_INTRA_OP_THREADS },
    generation: {
      defaultSteps: e.EASEL_DEFAULT_STEPS,
      maxSteps: e.EASEL_MAX_STEPS,
      defaultGuidance: e.EASEL_DEFAULT_GUIDANCE,
      maxGuidance: e.EASEL_MAX_GUIDANCE,
      defaultScheduler: e.EASEL_DEFAULT_SCHEDULER,
      defaultCount: e.EASEL_DEFAULT_COUNT,
      maxCount: e.EASEL_MAX_COUNT,
      refinerSwitch: e.EASEL_REFINER_SWITCH,
      previewEvery: e.EASEL_PREVIEW_EVERY,
      openClipExclamation: e.EASEL_OPENCLIP_EXCLAMATION,
    },
    queue: {
      maxJobsPerUser: e.EASEL_MAX_JOBS_PER_USER,
      maxJobsTotal: e.EASEL_MAX_JOBS_TOTAL,
      jobTimeoutMs: e.EASEL_JOB_TIMEOUT_SECONDS * 1000,
      priority: parsePriority(e.EASEL_PRIORITY),
    },
    policy: {
      blockedTerms: list(e.EASEL_BLOCKED_TERMS).map((term) => term.toLowerCase()),
      safetyNegative: e.EASEL_SAFETY_NEGATIVE,
    },
    buttons: e.EASEL_BUTTONS,
    retentionHours: e.EASEL_RETENTION_HOURS,
  };
}

/** Settings from `.env` (if present) and the process environment. */
export async function loadConfigFromEnvironment(): Promise<Config> {
  const dotenv = await import("dotenv");
  dotenv.config({ quiet: true });
  return loadConfig(process.env);
}
