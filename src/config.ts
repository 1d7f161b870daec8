/**
 * All of easel's settings in one place. Every knob has a default and a line of documentation
 * (mirrored in config/.env.example). Nothing else in src/ reads process.env.
 */
import { basename, join, resolve } from "node:path";
import { z } from "zod";
import { ConfigError } from "./errors.js";
import {
  DEVICE_NAME,
  DEVICE_NAMES_HINT,
  SCHEDULER_NAMES,
  WEBGPU_DEFAULTS,
  WEBGPU_LAYOUTS,
  WEBGPU_VALIDATION_MODES,
  type WebGpuSettings,
  webgpuAdapterOf,
} from "./pipeline/types.js";
import { LIMITS } from "./pipeline/validate.js";
import { MIN_GUIDANCE } from "./requests/limits.js";
import type { CatalogueLora } from "./requests/loras.js";
import type { CatalogueModel, ModelCatalogue } from "./requests/models.js";
import type { RoleId, UserId } from "./requests/request.js";

const list = (value: string | undefined): string[] =>
  (value ?? "")
    .split(",")
    .map((item) => item.trim())
    .filter((item) => item.length > 0);

/** EASEL_MODERATION: off, or what a flagged image becomes (the `ImageModeration.action` it gets). */
export const MODERATION_MODES = ["off", "spoiler", "blur", "withhold"] as const;
export type ModerationMode = (typeof MODERATION_MODES)[number];

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
/** An http(s) URL. */
const httpUrl = (fallback: string) =>
  z.url({ protocol: /^https?$/, error: "must be an http:// or https:// URL" }).default(fallback);
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
  /**
   * SDXL base ONNX export folder (model_index.json, unet/, vae_decoder/, ...). Unset: the demo model,
   * tiny random SDXL-shaped models written under the data dir on first start (abstract pictures).
   */
  EASEL_MODEL_DIR: z.string().default(""),
  /** The model catalogue: every SDXL export in a subfolder is a model named by its folder (`--model NAME`). */
  EASEL_MODELS_DIR: z.string().default("models"),
  /** The catalogue's model a request without --model runs on (empty = EASEL_MODEL_DIR's, else the first by name). */
  EASEL_DEFAULT_MODEL: z.string().default(""),
  /** Models one device keeps loaded at once; past it, the least recently used is unloaded (at least 1). */
  EASEL_MODELS_PER_DEVICE: wholeFrom(1, 1, 64),
  /** LoRA catalogue: `*.safetensors` files named by file name (`--lora NAME[:SCALE]`), each with an optional `<name>.json`. */
  EASEL_LORA_DIR: z.string().default("loras"),
  /** LoRAs one request may use at once (0 turns `--lora` off). */
  EASEL_MAX_LORAS: wholeFrom(3, 0, 16),
  /** Optional SDXL refiner ONNX folder; empty disables the refiner. */
  EASEL_REFINER_DIR: z.string().default(""),
  /** A float32 (or fp16-fix) VAE decoder .onnx tried when the model's decoder overflows (empty = none). */
  EASEL_VAE_FALLBACK: z.string().default(""),
  /** A TAESDXL decoder folder (`easel pull taesdxl`) for decoded previews and drafts (empty = none). */
  EASEL_TAESD_DIR: z.string().default(""),
  /** Previews through the tiny VAE: auto (on for GPU devices, off on the CPU), on or off. */
  EASEL_TAESD_PREVIEWS: z.enum(["auto", "on", "off"]).default("auto"),
  /** Devices to run on, one worker each: "cpu", "cuda:0,cuda:1" or "webgpu" (`easel generate` uses the first). */
  EASEL_DEVICES: z.string().default("cpu"),
  /** Where the CLIP text encoders run: empty = on each device itself; "cpu" frees their GPU memory. */
  EASEL_TEXT_ENCODER_DEVICE: z.string().default(""),
  /** Memory of devices easel cannot read (nvidia-smi missing): "cuda:0=12GiB,cpu=32GiB"; empty = read it. */
  EASEL_DEVICE_MEMORY: z.string().default(""),
  /** Where the job store and pending images live. */
  EASEL_DATA_DIR: z.string().default("data"),
  /** Log level: fatal, error, warn, info, debug, trace. */
  EASEL_LOG_LEVEL: z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]).default("info"),
  /** Whether info-level log lines may hold prompt text (debug lines always may). */
  EASEL_LOG_PROMPTS: boolFrom(false),

  /** Threads ONNX Runtime may use inside one operator (0 = its default; at least 0). */
  EASEL_ORT_INTRA_OP_THREADS: wholeFrom(0, 0),
  /** Layout of the WebGPU provider's layout-sensitive operators: NHWC or NCHW. */
  EASEL_WEBGPU_LAYOUT: z.enum(WEBGPU_LAYOUTS).default(WEBGPU_DEFAULTS.layout),
  /** WebGPU validation: disabled (a GPU error crashes the process), wgpuOnly, basic or full (debugging). */
  EASEL_WEBGPU_VALIDATION: z.enum(WEBGPU_VALIDATION_MODES).default(WEBGPU_DEFAULTS.validation),

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
  /** Priority tiers: "discord:123=2,discord-role:456=1,slack:T1:U2=1" (higher first; others 0; empty = none). */
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

  /** Output moderation: off, or what a flagged image becomes (spoiler, blur, withhold until an admin releases it). */
  EASEL_MODERATION: z.enum(MODERATION_MODES).default("off"),
  /** Unsafe score (Porn + Hentai + Sexy, 0 to 1) from which an image is flagged: 0 flags all, 1 none. */
  EASEL_MODERATION_THRESHOLD: numberFrom(0.5, 0, 1),
  /** on: moderate channels marked NSFW too; off: images made there are exempt. */
  EASEL_MODERATION_NSFW_CHANNELS: z.enum(["on", "off"]).default("off"),
  /** The classifier: MobileNetV2Mid, MobileNetV2, InceptionV3 (shipped with nsfwjs) or a TensorFlow.js model folder. */
  EASEL_MODERATION_MODEL: z.string().default("MobileNetV2Mid"),

  /** Discord bot token; the Discord adapter runs when it is set. */
  DISCORD_TOKEN: z.string().default(""),
  /** Discord application id (empty: taken from the gateway's READY event). */
  DISCORD_APPLICATION_ID: z.string().default(""),
  /** Register the commands in this guild only (instant updates); empty = globally. */
  DISCORD_GUILD_ID: z.string().default(""),
  /** Discord's REST base; the gateway is found through GET /gateway/bot there. */
  DISCORD_API_URL: httpUrl("https://discord.com/api"),

  /** Slack bot token (xoxb-…); the Slack adapter runs when it is set. */
  SLACK_BOT_TOKEN: z.string().default(""),
  /** Slack signing secret: verifies HTTP-mode requests (required without SLACK_APP_TOKEN). */
  SLACK_SIGNING_SECRET: z.string().default(""),
  /** Slack app-level token (xapp-…): set = Socket Mode, unset = HTTP mode on SLACK_HOST:SLACK_PORT. */
  SLACK_APP_TOKEN: z.string().default(""),
  /** Port of Slack's HTTP mode (Bolt's /slack/events). */
  SLACK_PORT: wholeFrom(3000, 0, 65535),
  /** Host Slack's HTTP mode listens on. */
  SLACK_HOST: z.string().default("127.0.0.1"),
  /** Slack Web API base. */
  SLACK_API_URL: httpUrl("https://slack.com/api/"),

  /** The local web chat and /api/v1: auto (when no chat token is set), on, or off. */
  EASEL_WEB: z.enum(["auto", "on", "off"]).default("auto"),
  /** Host the HTTP server listens on (/healthz and /metrics are always served there). */
  EASEL_WEB_HOST: z.string().default("127.0.0.1"),
  /** Port of the HTTP server (0 = any free port). */
  EASEL_WEB_PORT: wholeFrom(8080, 0, 65535),
  /** Bearer token for the web chat and /api/v1; required when EASEL_WEB_HOST is not loopback. */
  EASEL_WEB_TOKEN: z.string().default(""),
  /** Seconds a client has to send a request's headers and body; a slower one is answered 408 and closed. */
  EASEL_WEB_REQUEST_TIMEOUT_SECONDS: wholeFrom(30, 1, 3600),
  /** Connections the HTTP server holds at once (event streams included); further ones are closed at once. */
  EASEL_WEB_MAX_CONNECTIONS: wholeFrom(256, 1, 65535),

  /** Redis URL: set = the BullMQ backend (npm start is the gateway, `easel worker` runs devices). */
  EASEL_REDIS_URL: z.string().default(""),

  /** Where the bot may answer: discord:<guild>, discord:<guild>/<channel>, slack:<team>/<channel> (empty = everywhere). */
  EASEL_ALLOWED_CHANNELS: z.string().default(""),
  /** Admins: platform-qualified users (discord:123, slack:T1:U2, web:…, cli:…) and roles (discord-role:456). */
  EASEL_ADMINS: z.string().default(""),
  /** Images one user may make per UTC day (0 = no quota; admins exempt). */
  EASEL_QUOTA_PER_DAY: wholeFrom(0, 0),
  /** Seconds between one user's requests (0 = none; admins exempt). */
  EASEL_COOLDOWN_SECONDS: wholeFrom(0, 0),
  /** Days the audit trail (who asked what, admin actions) is kept; never shorter than the retention. */
  EASEL_AUDIT_DAYS: wholeFrom(30, 1),

  /** Hugging Face Hub for `easel pull`. */
  HF_ENDPOINT: httpUrl("https://huggingface.co"),
  /** Hugging Face access token (sent to the Hub only, never to a redirect's host). */
  HF_TOKEN: z.string().default(""),
  /** Seconds one Hub metadata request (a revision, one page of a file listing) may take in `easel pull`. */
  EASEL_HUB_TIMEOUT_SECONDS: wholeFrom(30, 1, 3600),
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
  "EASEL_TAESD_DIR",
  "EASEL_SAFETY_NEGATIVE",
  "EASEL_BLOCKED_TERMS",
  "EASEL_PRIORITY",
  "EASEL_ALLOWED_CHANNELS",
  "EASEL_ADMINS",
]);

/** A default may not lie above its maximum: requests left at the default would be refused. */
const DEFAULT_AT_MOST_MAX: readonly [NumericSettingName, NumericSettingName][] = [
  ["EASEL_DEFAULT_STEPS", "EASEL_MAX_STEPS"],
  ["EASEL_DEFAULT_GUIDANCE", "EASEL_MAX_GUIDANCE"],
  ["EASEL_DEFAULT_COUNT", "EASEL_MAX_COUNT"],
];

export type PriorityRule =
  | { kind: "user"; id: UserId; tier: number }
  | { kind: "role"; id: RoleId; tier: number };

export interface ModerationConfig {
  /** EASEL_MODERATION: what happens to a flagged image; "off" classifies nothing. */
  mode: ModerationMode;
  /** EASEL_MODERATION_THRESHOLD: an image whose unsafe score is at least this is flagged (1 flags none). */
  threshold: number;
  /** EASEL_MODERATION_NSFW_CHANNELS: also act on images made in channels marked NSFW (else they are exempt). */
  nsfwChannels: boolean;
  /**
   * EASEL_MODERATION_MODEL: a built-in classifier's name (src/moderation/settings.ts), or the folder
   * of a TensorFlow.js model (`model.json` and its weight files) with nsfwjs' five classes.
   */
  model: string;
}

export interface DiscordConfig {
  token: string;
  applicationId: string | undefined;
  guildId: string | undefined;
  apiUrl: string;
}

export interface SlackConfig {
  botToken: string;
  signingSecret: string | undefined;
  /** Set: Socket Mode; unset: HTTP mode on host:port. */
  appToken: string | undefined;
  host: string;
  port: number;
  apiUrl: string;
}

export interface WebConfig {
  mode: "auto" | "on" | "off";
  /** Whether the chat page and /api/v1 are served (on, or auto with no chat token). */
  chat: boolean;
  host: string;
  port: number;
  token: string | undefined;
  /** Time a client has to send a request's headers and body. */
  requestTimeoutMs: number;
  /** Connections held at once; further ones are closed as they arrive. */
  maxConnections: number;
}

export interface Config {
  /** The default model's folder; the demo model's folder when no model is configured. */
  modelDir: string;
  /** EASEL_MODELS_DIR: where the catalogue's model folders are. */
  modelsDir: string;
  /** EASEL_DEFAULT_MODEL: the default model's name, when set. */
  defaultModel: string | undefined;
  /** EASEL_MODELS_PER_DEVICE: models one device keeps loaded. */
  modelsPerDevice: number;
  /**
   * The models requests may pick. loadConfig gives the one model of modelDir; src/models'
   * `withModelCatalogue` fills it from EASEL_MODELS_DIR at start.
   */
  models: ModelCatalogue;
  /** EASEL_LORA_DIR: where the LoRA catalogue's files are. */
  loraDir: string;
  /** EASEL_MAX_LORAS: LoRAs one request may use. */
  maxLoras: number;
  /**
   * The LoRAs requests may pick. loadConfig gives none; src/models' `withLoraCatalogue` fills it
   * from EASEL_LORA_DIR at start.
   */
  loras: readonly CatalogueLora[];
  /** EASEL_MODEL_DIR was unset: modelDir is the demo model, written on first start. */
  demoModel: boolean;
  refinerDir: string | undefined;
  vaeFallback: string | undefined;
  /** The tiny VAE (TAESDXL): its folder (undefined = none) and whether previews use it. */
  taesd: { dir: string | undefined; previews: "auto" | "on" | "off" };
  devices: string[];
  /** EASEL_TEXT_ENCODER_DEVICE: where the text encoders run; undefined = each device itself. */
  textEncoderDevice: string | undefined;
  /** EASEL_DEVICE_MEMORY: bytes per device name, overriding what nvidia-smi or the OS say. */
  deviceMemory: Record<string, number>;
  /** EASEL_DEVICES was set: with EASEL_REDIS_URL, the gateway then runs these devices too. */
  devicesExplicit: boolean;
  dataDir: string;
  logLevel: z.infer<typeof envSchema>["EASEL_LOG_LEVEL"];
  logPrompts: boolean;
  ort: { intraOpThreads: number; webgpu: WebGpuSettings };
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
  /** Output moderation (src/moderation): classify each image before it is posted. */
  moderation: ModerationConfig;
  retentionHours: number;
  /** Set when DISCORD_TOKEN is. */
  discord: DiscordConfig | undefined;
  /** Set when SLACK_BOT_TOKEN is. */
  slack: SlackConfig | undefined;
  web: WebConfig;
  /** Set: the BullMQ backend on this Redis. */
  redisUrl: string | undefined;
  access: {
    /** Platform-qualified places (discord:<guild>, discord:<guild>/<channel>, slack:<team>/<channel>); empty = everywhere. */
    allowedChannels: string[];
    /** Platform-qualified user ids and roles (discord-role:<id>). */
    admins: string[];
    quotaPerDay: number;
    cooldownSeconds: number;
    auditDays: number;
  };
  hub: { endpoint: string; token: string | undefined; timeoutMs: number };
}

/** The catalogue name of the demo model. */
export const DEMO_MODEL_NAME = "demo";

/** A model folder's catalogue name: the folder's own name. */
export const modelNameOf = (dir: string): string => basename(resolve(dir));

/** A catalogue entry for a folder without easel.json: the deployment's defaults, SDXL's 1024². */
export function plainModel(name: string, dir: string): CatalogueModel {
  return { name, dir, label: name, description: "", settings: {} };
}

/** Where the demo model is written when EASEL_MODEL_DIR is unset. */
export const demoModelDir = (dataDir: string): string => join(dataDir, "demo-model", "base");

/** 127.0.0.0/8, ::1 and localhost: the only hosts served without a token. */
export function isLoopbackHost(host: string): boolean {
  const bare = host.replace(/^\[|\]$/g, "").toLowerCase();
  return bare === "localhost" || bare === "::1" || /^127(\.\d{1,3}){3}$/.test(bare);
}

/**
 * `discord:123=2,discord-role:456=1,slack:T1:U2=1`: a platform-qualified user id or a Discord role,
 * then its tier (higher runs first).
 */
function parsePriority(text: string): PriorityRule[] {
  return list(text).map((entry) => {
    const match = /^((discord|slack|web|cli|discord-role):[^=\s]+)=(-?\d+)$/.exec(entry);
    if (!match) {
      throw new ConfigError(
        `EASEL_PRIORITY: "${entry}" is not of the form discord:USER=N, discord-role:ROLE=N, slack:TEAM:USER=N, web:ID=N or cli:NAME=N`,
      );
    }
    const id = match[1]!;
    return match[2] === "discord-role"
      ? { kind: "role", id: id as RoleId, tier: Number(match[3]) }
      : { kind: "user", id: id as UserId, tier: Number(match[3]) };
  });
}

const MEMORY_UNITS: Record<string, number> = {
  B: 1,
  KB: 1e3,
  MB: 1e6,
  GB: 1e9,
  TB: 1e12,
  KIB: 1024,
  MIB: 1024 ** 2,
  GIB: 1024 ** 3,
  TIB: 1024 ** 4,
};

/** `cuda:0=12GiB,cpu=32GB`: memory per device (GiB/MiB are powers of 1024, GB/MB of 1000). */
export function parseDeviceMemory(text: string): Record<string, number> {
  const memory: Record<string, number> = {};
  for (const entry of list(text)) {
    const match = /^(cpu|cuda:\d+|webgpu(?::\d+)?)=(\d+(?:\.\d+)?)\s*([KMGT]i?B|B)$/i.exec(entry);
    const unit = match ? MEMORY_UNITS[match[3]!.toUpperCase()] : undefined;
    if (!match || unit === undefined || !(Number(match[2]) > 0)) {
      throw new ConfigError(
        `EASEL_DEVICE_MEMORY: "${entry}" is not of the form cuda:N=12GiB or cpu=32GB (a device, =, a size with B, kB, MB, GB, MiB or GiB)`,
      );
    }
    memory[match[1]!] = Math.round(Number(match[2]) * unit);
  }
  return memory;
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

/**
 * WebGPU sessions must all run in one worker: onnxruntime can crash when two WebGPU sessions run
 * at once in one process, and each device's worker runs its sessions one after another.
 */
function checkOneWebGpuWorker(devices: string[], textEncoderDevice: string | undefined): void {
  const webgpu = devices.filter((device) => webgpuAdapterOf(device) !== undefined);
  if (webgpu.length > 1) {
    throw new ConfigError(
      `EASEL_DEVICES: ${webgpu.join(" and ")} would run WebGPU sessions at once in one process, which onnxruntime does not support; list one webgpu device`,
    );
  }
  if (textEncoderDevice && webgpuAdapterOf(textEncoderDevice) !== undefined) {
    const others = devices.filter((device) => device !== textEncoderDevice);
    if (others.length > 0) {
      throw new ConfigError(
        `EASEL_TEXT_ENCODER_DEVICE: ${textEncoderDevice} would run text encoders for ${others.join(", ")} at the same time as its own jobs, which onnxruntime does not support on WebGPU; use cpu, or run only on ${textEncoderDevice}`,
      );
    }
  }
}

/** The Vulkan loader's own variables (not easel settings), for the doctor's WebGPU check. */
export interface VulkanEnvironment {
  /** VK_DRIVER_FILES, or the older VK_ICD_FILENAMES: the driver manifests the loader is limited to. */
  driverFiles?: string;
  /** LD_LIBRARY_PATH: searched for libvulkan.so.1 before the system folders. */
  libraryPath?: string;
  /** XDG_DATA_DIRS: where the loader looks for vulkan/icd.d. */
  xdgDataDirs?: string;
}

export function vulkanEnvironment(env: Record<string, string | undefined> = process.env): VulkanEnvironment {
  const driverFiles = env.VK_DRIVER_FILES || env.VK_ICD_FILENAMES;
  return {
    ...(driverFiles ? { driverFiles } : {}),
    ...(env.LD_LIBRARY_PATH ? { libraryPath: env.LD_LIBRARY_PATH } : {}),
    ...(env.XDG_DATA_DIRS ? { xdgDataDirs: env.XDG_DATA_DIRS } : {}),
  };
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
    if (!DEVICE_NAME.test(device)) {
      throw new ConfigError(`EASEL_DEVICES: "${device}" is not ${DEVICE_NAMES_HINT}`);
    }
  }
  const textEncoderDevice = e.EASEL_TEXT_ENCODER_DEVICE.trim() || undefined;
  if (textEncoderDevice && !DEVICE_NAME.test(textEncoderDevice)) {
    throw new ConfigError(`EASEL_TEXT_ENCODER_DEVICE: "${textEncoderDevice}" is not ${DEVICE_NAMES_HINT}`);
  }
  checkOneWebGpuWorker(devices, textEncoderDevice);
  const text = (value: string): string | undefined => value.trim() || undefined;
  const discord: DiscordConfig | undefined = text(e.DISCORD_TOKEN)
    ? {
        token: e.DISCORD_TOKEN,
        applicationId: text(e.DISCORD_APPLICATION_ID),
        guildId: text(e.DISCORD_GUILD_ID),
        apiUrl: e.DISCORD_API_URL.replace(/\/+$/, ""),
      }
    : undefined;
  const slack: SlackConfig | undefined = text(e.SLACK_BOT_TOKEN)
    ? {
        botToken: e.SLACK_BOT_TOKEN,
        signingSecret: text(e.SLACK_SIGNING_SECRET),
        appToken: text(e.SLACK_APP_TOKEN),
        host: e.SLACK_HOST,
        port: e.SLACK_PORT,
        apiUrl: e.SLACK_API_URL.endsWith("/") ? e.SLACK_API_URL : `${e.SLACK_API_URL}/`,
      }
    : undefined;
  if (slack && !slack.appToken && !slack.signingSecret) {
    throw new ConfigError(
      "SLACK_SIGNING_SECRET: required in HTTP mode (no SLACK_APP_TOKEN), so that every request from Slack is verified.",
    );
  }
  const web: WebConfig = {
    mode: e.EASEL_WEB,
    chat: e.EASEL_WEB === "on" || (e.EASEL_WEB === "auto" && !discord && !slack),
    host: e.EASEL_WEB_HOST,
    port: e.EASEL_WEB_PORT,
    token: text(e.EASEL_WEB_TOKEN),
    requestTimeoutMs: e.EASEL_WEB_REQUEST_TIMEOUT_SECONDS * 1000,
    maxConnections: e.EASEL_WEB_MAX_CONNECTIONS,
  };
  if (web.chat && !web.token && !isLoopbackHost(web.host)) {
    throw new ConfigError(
      `EASEL_WEB_TOKEN: required to serve the web chat and API on ${web.host}, which is not a loopback address; set a token or EASEL_WEB_HOST=127.0.0.1.`,
    );
  }
  const dataDir = e.EASEL_DATA_DIR;
  const modelDir = text(e.EASEL_MODEL_DIR);
  const onlyModel = plainModel(
    modelDir ? modelNameOf(modelDir) : DEMO_MODEL_NAME,
    modelDir ?? demoModelDir(dataDir),
  );
  return {
    modelDir: onlyModel.dir,
    modelsDir: e.EASEL_MODELS_DIR,
    defaultModel: text(e.EASEL_DEFAULT_MODEL),
    modelsPerDevice: e.EASEL_MODELS_PER_DEVICE,
    models: { models: [onlyModel], defaultName: onlyModel.name },
    loraDir: e.EASEL_LORA_DIR,
    maxLoras: e.EASEL_MAX_LORAS,
    loras: [],
    demoModel: modelDir === undefined,
    refinerDir: e.EASEL_REFINER_DIR.trim() || undefined,
    vaeFallback: e.EASEL_VAE_FALLBACK.trim() || undefined,
    taesd: { dir: e.EASEL_TAESD_DIR.trim() || undefined, previews: e.EASEL_TAESD_PREVIEWS },
    devices: devices.length > 0 ? devices : ["cpu"],
    textEncoderDevice,
    deviceMemory: parseDeviceMemory(e.EASEL_DEVICE_MEMORY),
    devicesExplicit: settings.EASEL_DEVICES !== undefined,
    dataDir,
    logLevel: e.EASEL_LOG_LEVEL,
    logPrompts: e.EASEL_LOG_PROMPTS,
    ort: {
      intraOpThreads: e.EASEL_ORT_INTRA_OP_THREADS,
      webgpu: { layout: e.EASEL_WEBGPU_LAYOUT, validation: e.EASEL_WEBGPU_VALIDATION },
    },
    generation: {
      defaultSteps: e.EASEL_DEFAULT_STEPS,
      maxSteps: e.EASEL_MAX_STEPS,
      defaultGuidance: e.EASEL_DEFAULT_GUIDANCE,
      maxGuidance: e.EASEL_MAX_GUIDANCE,
      defaultScheduler: e.EASEL_DEFAULT_SCHEDULER,
      defaultCount: e.EASEL_DEFAULT_COUNT,
      maxCount: e.EASEL_MAX_COUNT,
      refinerSwitch: e.EASEL_REFINER_SWITCH,
      // Previews are pictures no classifier has seen: with moderation on, the devices make none.
      previewEvery: e.EASEL_MODERATION === "off" ? e.EASEL_PREVIEW_EVERY : 0,
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
    moderation: {
      mode: e.EASEL_MODERATION,
      threshold: e.EASEL_MODERATION_THRESHOLD,
      nsfwChannels: e.EASEL_MODERATION_NSFW_CHANNELS === "on",
      model: e.EASEL_MODERATION_MODEL,
    },
    retentionHours: e.EASEL_RETENTION_HOURS,
    discord,
    slack,
    web,
    redisUrl: text(e.EASEL_REDIS_URL),
    access: {
      allowedChannels: list(e.EASEL_ALLOWED_CHANNELS),
      admins: list(e.EASEL_ADMINS),
      quotaPerDay: e.EASEL_QUOTA_PER_DAY,
      cooldownSeconds: e.EASEL_COOLDOWN_SECONDS,
      auditDays: e.EASEL_AUDIT_DAYS,
    },
    hub: {
      endpoint: e.HF_ENDPOINT.replace(/\/+$/, ""),
      token: text(e.HF_TOKEN),
      timeoutMs: e.EASEL_HUB_TIMEOUT_SECONDS * 1000,
    },
  };
}

/** Settings from `.env` (if present) and the process environment. */
export async function loadConfigFromEnvironment(): Promise<Config> {
  const dotenv = await import("dotenv");
  dotenv.config({ quiet: true });
  return loadConfig(process.env);
}
