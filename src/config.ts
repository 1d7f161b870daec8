/**
 * All of easel's settings in one place. Every knob has a default and a line of documentation
 * (mirrored in config/.env.example). Nothing else in src/ reads process.env.
 */
import { z } from "zod";
import { ConfigError } from "./errors.js";
import { SCHEDULER_NAMES } from "./pipeline/types.js";

const list = (value: string | undefined): string[] =>
  (value ?? "")
    .split(",")
    .map((item) => item.trim())
    .filter((item) => item.length > 0);

const intFrom = (fallback: number) => z.coerce.number().int().default(fallback);
const numberFrom = (fallback: number) => z.coerce.number().default(fallback);
const boolFrom = (fallback: boolean) =>
  z
    .enum(["true", "false", "1", "0", "yes", "no", "on", "off"])
    .optional()
    .transform((value) => (value === undefined ? fallback : ["true", "1", "yes", "on"].includes(value)));

/** One entry per environment variable: the source of truth for names, defaults and parsing. */
const envSchema = z.object({
  /** SDXL base ONNX export folder (model_index.json, unet/, vae_decoder/, ...). */
  EASEL_MODEL_DIR: z.string().default("models/tiny/base"),
  /** Optional SDXL refiner ONNX folder; empty disables the refiner. */
  EASEL_REFINER_DIR: z.string().default(""),
  /** A float32 (or fp16-fix) VAE decoder .onnx tried when the model's decoder overflows (empty = none). */
  EASEL_VAE_FALLBACK: z.string().default(""),
  /** Devices to run on, one worker each: "cpu" or "cuda:0,cuda:1". */
  EASEL_DEVICES: z.string().default("cpu"),
  /** Where the job store and pending images live. */
  EASEL_DATA_DIR: z.string().default("data"),
  /** Log level: fatal, error, warn, info, debug, trace. */
  EASEL_LOG_LEVEL: z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]).default("info"),

  /** Threads ONNX Runtime may use inside one operator (0 = its default). */
  EASEL_ORT_INTRA_OP_THREADS: intFrom(0),

  EASEL_DEFAULT_STEPS: intFrom(30),
  EASEL_MAX_STEPS: intFrom(150),
  EASEL_DEFAULT_GUIDANCE: numberFrom(5),
  EASEL_MAX_GUIDANCE: numberFrom(30),
  EASEL_DEFAULT_SCHEDULER: z.enum(SCHEDULER_NAMES).default("euler"),
  EASEL_DEFAULT_COUNT: intFrom(1),
  EASEL_MAX_COUNT: intFrom(4),
  /** Fraction of the schedule the base model runs before the refiner takes over. */
  EASEL_REFINER_SWITCH: numberFrom(0.8),
  /** Send a live preview every k denoising steps (0 = never). */
  EASEL_PREVIEW_EVERY: intFrom(5),

  /** Jobs one user may have queued or running at once. */
  EASEL_MAX_JOBS_PER_USER: intFrom(3),
  /** Jobs queued or running over all users before new ones are refused. */
  EASEL_MAX_JOBS_TOTAL: intFrom(100),
  /** A job running longer than this is failed and its device recycled. */
  EASEL_JOB_TIMEOUT_SECONDS: intFrom(600),
  /** Priority tiers: "user:123=2,role:456=1" (higher runs first; everyone else is 0). */
  EASEL_PRIORITY: z.string().default(""),

  /** Comma-separated terms that make a prompt refused. */
  EASEL_BLOCKED_TERMS: z.string().default(""),
  /** Negative prompt always added outside channels marked NSFW (empty = none). */
  EASEL_SAFETY_NEGATIVE: z.string().default("nsfw, nudity"),
  /** Who may press a result's buttons: the author only, or anyone in the channel. */
  EASEL_BUTTONS: z.enum(["author", "anyone"]).default("author"),
  /** Hours finished images stay on disk waiting to be posted. */
  EASEL_RETENTION_HOURS: numberFrom(24),
  /** Accept a typed `!` as an ordinary character (open_clip); false = transformers' id 0 quirk. */
  EASEL_OPENCLIP_EXCLAMATION: boolFrom(true),
});

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

/** Parse settings from an environment-like record (process.env by default). */
export function loadConfig(env: Record<string, string | undefined> = process.env): Config {
  const parsed = envSchema.safeParse(
    Object.fromEntries(
      Object.entries(env).filter(([key, value]) => key.startsWith("EASEL_") && value !== ""),
    ),
  );
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new ConfigError(`${String(issue.path[0])}: ${issue.message}`);
  }
  const e = parsed.data;
  const devices = list(e.EASEL_DEVICES);
  for (const device of devices) {
    if (!/^(cpu|cuda:\d+)$/.test(device)) {
      throw new ConfigError(`EASEL_DEVICES: "${device}" is not "cpu" or "cuda:N"`);
    }
  }
  return {
    modelDir: e.EASEL_MODEL_DIR,
    refinerDir: e.EASEL_REFINER_DIR || undefined,
    vaeFallback: e.EASEL_VAE_FALLBACK || undefined,
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
