/**
 * The pipeline's public contract: what a caller asks for and what comes back. Plain data, so it
 * can cross a worker-thread boundary (seeds are bigint, which structured clone supports).
 */

export const SCHEDULER_NAMES = ["euler", "euler-a", "dpmpp-2m-karras", "ddim", "lcm"] as const;
export type SchedulerName = (typeof SCHEDULER_NAMES)[number];

/** diffusers' timestep_spacing values: distilled models want "trailing" (the schedule starts at T-1). */
export const TIMESTEP_SPACINGS = ["leading", "trailing", "linspace"] as const;
export type Spacing = (typeof TIMESTEP_SPACINGS)[number];

/** diffusers' prediction_type values: what the UNet's output is (SDXL-Lightning's 1-step UNet gives the sample). */
export const PREDICTION_TYPES = ["epsilon", "v_prediction", "sample"] as const;
export type Prediction = (typeof PREDICTION_TYPES)[number];

export interface VariationParams {
  /** Seed of the second noise that is blended in. */
  subseed: bigint;
  /** 0 = exactly the seed's noise, 1 = exactly the subseed's. */
  strength: number;
}

export interface RefinerParams {
  /** Fraction of the schedule the base runs before handing over (diffusers' denoising_end). */
  switchAt: number;
}

export interface SourceImageParams {
  /** Encoded PNG, JPEG or WebP. */
  image: Uint8Array;
  /** How much of the schedule to re-run, in (0, 1]. */
  strength: number;
  /** Resize factor applied before refining. */
  upscale: 1 | 1.5 | 2;
}

export const PAN_DIRECTIONS = ["left", "right", "up", "down"] as const;
export type PanDirection = (typeof PAN_DIRECTIONS)[number];

/** A rectangle in whole pixels. */
export interface Rect {
  x: number;
  y: number;
  width: number;
  height: number;
}

/** Zoom out, pan or repaint a region of a source image (see canvas/layout.ts for the geometry). */
export type CanvasAction =
  /** Keep the image's size, shrink the source by 1/factor into its centre (factor 1.0 – 2.0). */
  | { kind: "zoom_out"; factor: number }
  /** Extend the canvas in one direction; the new strip is painted. */
  | { kind: "pan"; direction: PanDirection }
  /** Encoded PNG/JPEG/WebP, white = repaint, any size (resized to the source's). */
  | { kind: "repaint"; mask: Uint8Array }
  /** Rectangles in the source image's pixels. */
  | { kind: "repaint"; rects: Rect[] };

export interface GenerateParams {
  prompt: string;
  /** Absent means "no negative prompt" (zeros for the base model), "" is encoded. */
  negativePrompt?: string;
  width: number;
  height: number;
  /** 64-bit unsigned; image i of a batch uses seed + i. */
  seed: bigint;
  steps: number;
  guidance: number;
  scheduler: SchedulerName;
  /**
   * Replaces the model's timestep_spacing, as diffusers' from_config(config, timestep_spacing=…)
   * does (Euler, Euler ancestral, DDIM; LCM picks its own timesteps and ignores it).
   */
  spacing?: Spacing;
  /** Replaces the model's prediction_type ("sample" for SDXL-Lightning's 1-step UNet). */
  prediction?: Prediction;
  /** Images in one request, 1-4, run as one UNet batch. */
  count: number;
  refiner?: RefinerParams;
  variation?: VariationParams;
  /** Refine / img2img an existing image instead of starting from noise. */
  source?: SourceImageParams;
  /**
   * Decode the final images with the tiny VAE (TAESDXL) instead of the model's VAE: a fraction of
   * the time, with softer detail. Needs a tiny VAE on the server (EASEL_TAESD_DIR).
   */
  draft?: boolean;
  /**
   * Zoom out, pan or repaint `source.image` (needs `source`, with upscale 1; `source.strength` is
   * how much of the schedule re-runs in the repainted area). The result's size comes from the
   * canvas layout, not from width/height. Runs the base model alone: `refiner` is ignored.
   */
  canvas?: CanvasAction;
}

export interface EncodedImage {
  mime: "image/png" | "image/webp" | "image/jpeg";
  data: Uint8Array;
  width: number;
  height: number;
}

export interface Progress {
  /** 1-based step just finished, counted over base and refiner together. */
  step: number;
  totalSteps: number;
  elapsedMs: number;
  stage: "base" | "refiner";
  /** A cheap latent-space preview of image 0, present every `previewEvery` steps. */
  preview?: EncodedImage;
}

export interface GenerateHooks {
  signal?: AbortSignal;
  onProgress?: (progress: Progress) => void;
  /** Deliver a preview every k steps; 0 or absent disables previews. */
  previewEvery?: number;
  /**
   * Called once the run no longer needs the device: every image's pixels exist and only their
   * encoding (on libuv's pool, not this thread's sessions) is left. The next job may start then.
   */
  onDeviceFree?: () => void;
}

export interface GeneratedImage extends EncodedImage {
  seed: bigint;
  /** Canvas actions: where the source image's pixels were placed in this image (the seam clients may show). */
  source?: Rect;
}

export interface GenerateTimings {
  totalMs: number;
  /** Time spent inside InferenceSession.run, summed over all sessions. */
  sessionMs: number;
  textEncodeMs: number;
  denoiseMs: number;
  vaeMs: number;
  encodeImageMs: number;
  /** Session time within each phase; the rest of a phase is the pipeline's own work. */
  sessionMsByPhase?: { textEncode: number; denoise: number; vae: number };
  /** Time spent building live previews (part of denoiseMs). */
  previewMs?: number;
  /**
   * UNet evaluations and the batch each one received: the image count, doubled when classifier-free
   * guidance runs (guidance above 1) for the unconditional rows.
   */
  unet?: { runs: number; batch: number };
}

export interface GenerateResult {
  images: GeneratedImage[];
  /** Final latents before the VAE, [count, 4, height/8, width/8]. */
  latents: Float32Array;
  timings: GenerateTimings;
}

/* Device names (settings, CLI, doctor, metrics) and the WebGPU provider's settings. */

/** Device names, as EASEL_DEVICES and --device take them. */
export const DEVICE_NAME = /^(cpu|cuda:\d+|webgpu(?::\d+)?)$/;

/** What a ConfigError says a device name may be. */
export const DEVICE_NAMES_HINT = '"cpu", "cuda:N" or "webgpu" ("webgpu:N")';

/** The adapter index of a WebGPU device name ("webgpu" is adapter 0), undefined for other devices. */
export function webgpuAdapterOf(device: string): number | undefined {
  const match = /^webgpu(?::(\d+))?$/.exec(device);
  return match ? Number(match[1] ?? "0") : undefined;
}

export const WEBGPU_LAYOUTS = ["NCHW", "NHWC"] as const;
export const WEBGPU_VALIDATION_MODES = ["disabled", "wgpuOnly", "basic", "full"] as const;

/** The WebGPU provider options users may need to set. */
export interface WebGpuSettings {
  /** Layout of layout-sensitive operators (Conv, pooling, resize) on the GPU. */
  layout: (typeof WEBGPU_LAYOUTS)[number];
  /** How much of WebGPU's validation runs; "disabled" can take the process down on a GPU error. */
  validation: (typeof WEBGPU_VALIDATION_MODES)[number];
}

/**
 * NHWC: on lavapipe the convolution fixture denoised 1.3–1.6× faster with it than with NCHW (README
 * "AMD and Intel GPUs"). "basic" validation: onnxruntime's default; on lavapipe neither wgpuOnly
 * nor disabled was measurably faster, and "disabled" turns a GPU error into a crash of the process.
 */
export const WEBGPU_DEFAULTS: WebGpuSettings = { layout: "NHWC", validation: "basic" };
