/**
 * The memory plan: what each device will hold — every model component's weights where it runs
 * (per component, in its stored dtype), the activations' peak at the largest size and image
 * count a request may ask for, and the provider's own overhead — against the device's memory
 * (nvidia-smi, the OS, or EASEL_DEVICE_MEMORY). `easel doctor` prints it with a verdict per
 * device; `easel start` refuses a plan that cannot fit, with the same sentence.
 */
import { existsSync } from "node:fs";
import { totalmem } from "node:os";
import { join } from "node:path";
import type { Config } from "../config.js";
import { ConfigError } from "../errors.js";
import { readModelWeights } from "../pipeline/onnx/parameters.js";
import { type GpuInfo, type GpuQuery, queryGpus } from "./gpu-info.js";
import { type CheckResult, fail, formatBytes, ok, warn } from "./types.js";

/**
 * Activation peaks, measured on the CPU provider with the full-size SDXL fixtures (SDXL 1.0's
 * architecture, `bench/convert.ts --unet-only`): the peak RSS of one session run (the kernel's
 * peak mark reset after loading) minus the RSS after loading, float32, at 256² and 512², fitted
 * exactly as bytes = linear · P + quadratic · P² per image, P being latent pixels (width/8 ·
 * height/8); the quadratic term is self-attention's score matrices, which the plain export
 * materialises. Measured: UNet (batch 2) 54.6 MB at 256², 314.9 MB at 512²; VAE decoder 253.5 MB
 * and 1069.7 MB. At 1024² the fit gives 2.80 GB (UNet, CFG) + 5.17 GB (VAE) = 7.42 GiB, against
 * 7.95 GiB measured earlier for a whole 1024² run (README, "Real-size measurements").
 */
export const ACTIVATIONS = {
  /** Per UNet batch item (a CFG image is two). */
  unet: { linear: 22_762, quadratic: 3.828 },
  /** One image (the pipeline decodes images one at a time). */
  vaeDecoder: { linear: 243_043, quadratic: 4.423 },
  /** Both text encoders together (77-token chunks): small and size-independent; an allowance. */
  textEncoders: 256 * 1024 ** 2,
} as const;

/**
 * SDXL base's UNet parameter count: the coefficients above are its activations. A UNet with
 * fewer parameters (a tiny test model) gets activations scaled down by the ratio; the refiner
 * (2.3B, narrower levels) is planned a little above its own.
 */
export const SDXL_UNET_PARAMETERS = 2_567_463_684;

/**
 * Float16 weights on the CPU provider: its kernels are float32, so onnxruntime folds the Casts in
 * front of them into float32 copies. Measured with the full-size UNet (bench/convert.ts): 4.78 GiB
 * of float16 weights took 11.15–11.79 GiB of RSS after load (the float32 model: 9.70 GiB), up to
 * 2.47× their bytes. Their activations are float32 too (measured equal at 512²).
 */
export const CPU_FLOAT16_RESIDENT_FACTOR = 2.47;

/** A CUDA provider's own memory: the CUDA context, cuBLAS and cuDNN workspaces (an allowance). */
export const CUDA_OVERHEAD_BYTES = 1024 ** 3;
/** The largest image a request may ask for: SDXL's 1-megapixel buckets top out at 1024×1024. */
export const PLAN_SIZE = { width: 1024, height: 1024 } as const;

export interface ComponentWeights {
  /** "base" or "refiner". */
  model: string;
  component: string;
  bytes: number;
  parameters: number;
  /** The dominant float type of its weights ("float16", "float32"). */
  dtype: string;
}

export interface DeviceHolding extends ComponentWeights {
  /** How many copies (the CPU holds one per device worker whose encoders it runs). */
  copies: number;
  /** Bytes one copy takes in the device's memory once loaded. */
  residentBytes: number;
}

export interface DevicePlan {
  device: string;
  holds: DeviceHolding[];
  weightBytes: number;
  activationBytes: number;
  overheadBytes: number;
  neededBytes: number;
  /** Undefined when the device's memory cannot be read (set EASEL_DEVICE_MEMORY). */
  availableBytes: number | undefined;
  memorySource: "nvidia-smi" | "EASEL_DEVICE_MEMORY" | "the OS" | undefined;
  /**
   * true: fits; false: cannot fit (start refuses); "maybe": the weights fit but the activation
   * estimate does not (a GPU, whose activations were measured on the CPU provider, an upper bound:
   * doctor warns, start logs it); undefined: the device's memory cannot be read.
   */
  fits: boolean | "maybe" | undefined;
  /** The sentence `easel doctor` prints and `easel start` refuses with. */
  verdict: string;
}

export interface MemoryPlan {
  devices: DevicePlan[];
  size: { width: number; height: number };
  maxCount: number;
}

const COMPONENTS = ["text_encoder", "text_encoder_2", "unet", "vae_decoder", "vae_encoder"] as const;
const isEncoder = (component: string) => component.startsWith("text_encoder");

/** Weights per component of one model folder (components without a model.onnx are skipped). */
export async function readFolderWeights(dir: string, model: string): Promise<ComponentWeights[]> {
  const out: ComponentWeights[] = [];
  for (const component of COMPONENTS) {
    const path = join(dir, component, "model.onnx");
    if (!existsSync(path)) continue;
    const weights = await readModelWeights(path);
    const dtype = Object.entries(weights.parametersByType).sort((a, b) => b[1] - a[1])[0]?.[0] ?? "float32";
    out.push({ model, component, bytes: weights.bytes, parameters: weights.parameters, dtype });
  }
  return out;
}

const valueBytes = (dtype: string) => (dtype === "float16" || dtype === "bfloat16" ? 2 : 4);

/** Activation peak of one device's sessions (their arenas keep their peaks, so they add up). */
export function activationBytes(
  holds: readonly ComponentWeights[],
  size: { width: number; height: number },
  count: number,
  device = "cuda:0",
): number {
  // A GPU keeps float16 activations; the CPU provider computes float16 models in float32.
  const bytesPerValue = (dtype: string) => (device === "cpu" ? 4 : valueBytes(dtype));
  const p = (size.width / 8) * (size.height / 8);
  let total = 0;
  // Base and refiner each have their own sessions, whose arenas each keep their peak.
  const unets = holds.filter((h) => h.component === "unet");
  const largest = Math.max(0, ...unets.map((u) => u.parameters));
  const scale = unets.length > 0 ? Math.min(1, largest / SDXL_UNET_PARAMETERS) : 1;
  for (const unet of unets) {
    const perItem = ACTIVATIONS.unet.linear * p + ACTIVATIONS.unet.quadratic * p * p;
    total += (scale * perItem * 2 * count * bytesPerValue(unet.dtype)) / 4;
  }
  for (const vae of holds.filter((h) => h.component === "vae_decoder")) {
    const perImage = ACTIVATIONS.vaeDecoder.linear * p + ACTIVATIONS.vaeDecoder.quadratic * p * p;
    total += (scale * perImage * bytesPerValue(vae.dtype)) / 4;
  }
  if (holds.some((h) => isEncoder(h.component))) total += scale * ACTIVATIONS.textEncoders;
  return Math.round(total);
}

export interface PlanInput {
  /** Components of the base (and refiner) folders. */
  weights: ComponentWeights[];
  devices: readonly string[];
  textEncoderDevice: string | undefined;
  maxCount: number;
  /** Memory of a device and where the figure comes from; undefined when unknown. */
  memoryOf: (device: string) => { bytes: number; source: DevicePlan["memorySource"] } | undefined;
  size?: { width: number; height: number };
}

const GB = (bytes: number) => formatBytes(bytes);

function advice(plan: Omit<DevicePlan, "verdict" | "fits">, input: PlanInput): string[] {
  const size = input.size ?? PLAN_SIZE;
  const tips: string[] = [];
  const unet = plan.holds.find((h) => h.component === "unet");
  if (unet && unet.dtype === "float32")
    tips.push("convert the model to float16 (`easel convert --dtype float16 <in> <out>`)");
  if (plan.device !== "cpu" && plan.holds.some((h) => isEncoder(h.component))) {
    tips.push("move the text encoders off the GPU (EASEL_TEXT_ENCODER_DEVICE=cpu)");
  }
  if (input.maxCount > 1 && plan.availableBytes !== undefined) {
    let fitting = 0;
    for (let count = input.maxCount - 1; count >= 1; count--) {
      const need =
        plan.weightBytes + plan.overheadBytes + activationBytes(plan.holds, size, count, plan.device);
      if (need <= plan.availableBytes) {
        fitting = count;
        break;
      }
    }
    tips.push(fitting > 0 ? `lower EASEL_MAX_COUNT to ${fitting}` : "lower EASEL_MAX_COUNT");
  }
  if (tips.length === 0) tips.push("use a device with more memory");
  return tips;
}

function joinOr(items: readonly string[]): string {
  return items.length <= 1 ? (items[0] ?? "") : `${items.slice(0, -1).join(", ")} or ${items.at(-1)}`;
}

/** The plan for every device the settings use (the text encoders' CPU included). Pure. */
export function planMemory(input: PlanInput): MemoryPlan {
  const size = input.size ?? PLAN_SIZE;
  const deviceNames = [...input.devices];
  if (input.textEncoderDevice && !deviceNames.includes(input.textEncoderDevice))
    deviceNames.push(input.textEncoderDevice);
  const devices = deviceNames.map((device): DevicePlan => {
    // This device's own worker (when it is one), with the encoders unless they run elsewhere…
    const own = input.devices.includes(device)
      ? input.weights.filter(
          (w) => !isEncoder(w.component) || !input.textEncoderDevice || input.textEncoderDevice === device,
        )
      : [];
    // …and the encoders of the other workers whose EASEL_TEXT_ENCODER_DEVICE this is (one copy each).
    const guests = input.textEncoderDevice === device ? input.devices.filter((d) => d !== device).length : 0;
    const resident = (w: ComponentWeights) =>
      device === "cpu" && w.dtype === "float16" ? Math.round(w.bytes * CPU_FLOAT16_RESIDENT_FACTOR) : w.bytes;
    const holds: DeviceHolding[] = own.map((w) => ({
      ...w,
      copies: isEncoder(w.component) ? 1 + guests : 1,
      residentBytes: resident(w),
    }));
    if (!input.devices.includes(device)) {
      for (const w of input.weights.filter((w) => isEncoder(w.component))) {
        holds.push({ ...w, copies: guests, residentBytes: resident(w) });
      }
    }
    const weightBytes = holds.reduce((sum, h) => sum + h.residentBytes * h.copies, 0);
    const activation = activationBytes(own, size, input.maxCount, device) + guests * ACTIVATIONS.textEncoders;
    const overheadBytes = device.startsWith("cuda:") ? CUDA_OVERHEAD_BYTES : 0;
    const neededBytes = weightBytes + activation + overheadBytes;
    const memory = input.memoryOf(device);
    const base = {
      device,
      holds,
      weightBytes,
      activationBytes: activation,
      overheadBytes,
      neededBytes,
      availableBytes: memory?.bytes,
      memorySource: memory?.source,
    };
    const what =
      `${device} needs ${GB(neededBytes)} (weights ${GB(weightBytes)}, activations ${GB(activation)} at ` +
      `${size.width}×${size.height} with ${input.maxCount} image${input.maxCount === 1 ? "" : "s"}` +
      `${overheadBytes ? `, CUDA ${GB(overheadBytes)}` : ""})`;
    if (!memory) {
      return {
        ...base,
        fits: undefined,
        verdict: `${what}; its memory cannot be read: set EASEL_DEVICE_MEMORY (e.g. ${device}=12GiB)`,
      };
    }
    if (neededBytes <= memory.bytes) {
      return { ...base, fits: true, verdict: `${what}; it has ${GB(memory.bytes)} (${memory.source}): fits` };
    }
    // A GPU's activation figures are the CPU provider's (attention materialised in float32 scores):
    // an upper bound, so only weights that cannot fit are a sure refusal there.
    if (device !== "cpu" && weightBytes + overheadBytes <= memory.bytes) {
      return {
        ...base,
        fits: "maybe",
        verdict:
          `${what} but has ${GB(memory.bytes)} (${memory.source}): the weights fit, the activation estimate ` +
          `(measured on the CPU provider, an upper bound for GPUs) does not; if jobs run out of memory, ${joinOr(advice(base, input))}`,
      };
    }
    return {
      ...base,
      fits: false,
      verdict: `${what} but has ${GB(memory.bytes)} (${memory.source}): it does not fit; ${joinOr(advice(base, input))}`,
    };
  });
  return { devices, size, maxCount: input.maxCount };
}

/** One line per component, for doctor's details and the README's table. */
export function describeHoldings(plan: DevicePlan): string {
  return plan.holds
    .map(
      (h) =>
        `${h.model}/${h.component} ${GB(h.residentBytes * h.copies)} ${h.dtype}${h.copies > 1 ? ` ×${h.copies}` : ""}`,
    )
    .join(", ");
}

export interface PlanSources {
  queryGpus?: GpuQuery;
  totalMemory?: number;
}

/** The plan for the configured models and devices; undefined when no model folder is there yet. */
export async function memoryPlanFor(
  config: Config,
  sources: PlanSources = {},
): Promise<MemoryPlan | undefined> {
  if (!existsSync(join(config.modelDir, "model_index.json"))) return undefined;
  const weights = await readFolderWeights(config.modelDir, "base");
  if (config.refinerDir && existsSync(config.refinerDir)) {
    weights.push(...(await readFolderWeights(config.refinerDir, "refiner")));
  }
  if (config.vaeFallback && existsSync(config.vaeFallback)) {
    // Loaded beside the model's own decoder on every device; it runs only in place of it.
    const fallback = await readModelWeights(config.vaeFallback);
    const dtype = Object.entries(fallback.parametersByType).sort((x, y) => y[1] - x[1])[0]?.[0] ?? "float32";
    weights.push({
      model: "fallback",
      component: "vae_fallback",
      bytes: fallback.bytes,
      parameters: fallback.parameters,
      dtype,
    });
  }
  const usesCuda = [...config.devices, config.textEncoderDevice ?? ""].some((d) => d.startsWith("cuda:"));
  const needsSmi =
    usesCuda && [...config.devices].some((d) => d.startsWith("cuda:") && !(d in config.deviceMemory));
  const gpus: GpuInfo[] | undefined = needsSmi ? await (sources.queryGpus ?? queryGpus)() : undefined;
  const total = sources.totalMemory ?? totalmem();
  return planMemory({
    weights,
    devices: config.devices,
    textEncoderDevice: config.textEncoderDevice,
    maxCount: config.generation.maxCount,
    memoryOf: (device) => {
      const configured = config.deviceMemory[device];
      if (configured !== undefined) return { bytes: configured, source: "EASEL_DEVICE_MEMORY" };
      if (device === "cpu") return { bytes: total, source: "the OS" };
      const index = Number(/^cuda:(\d+)$/.exec(device)?.[1]);
      const gpu = gpus?.find((g) => g.index === index);
      return gpu ? { bytes: gpu.memoryBytes, source: "nvidia-smi" } : undefined;
    },
  });
}

/** doctor's lines: one per device. */
export function memoryPlanChecks(plan: MemoryPlan): CheckResult[] {
  return plan.devices.map((device) => {
    const details = {
      holds: device.holds,
      weightBytes: device.weightBytes,
      activationBytes: device.activationBytes,
      overheadBytes: device.overheadBytes,
      neededBytes: device.neededBytes,
      availableBytes: device.availableBytes,
      memorySource: device.memorySource,
      components: describeHoldings(device),
    };
    const name = `memory ${device.device}`;
    const line = `${device.verdict} [${describeHoldings(device)}]`;
    if (device.fits === false) return fail(name, line, details);
    if (device.fits === undefined || device.fits === "maybe") return warn(name, line, details);
    return ok(name, line, details);
  });
}

/** Thrown by `easel start` for a plan that cannot fit; the message is doctor's sentence. */
export class MemoryPlanError extends ConfigError {}

/**
 * Throws MemoryPlanError when a device's plan cannot fit (unknown memory passes); returns the
 * verdicts of devices that may not fit, for the caller to log.
 */
export async function assertMemoryPlanFits(config: Config, sources: PlanSources = {}): Promise<string[]> {
  const plan = await memoryPlanFor(config, sources);
  const failing = plan?.devices.filter((d) => d.fits === false) ?? [];
  if (failing.length > 0) throw new MemoryPlanError(failing.map((d) => d.verdict).join("\n"));
  return plan?.devices.filter((d) => d.fits === "maybe").map((d) => d.verdict) ?? [];
}
