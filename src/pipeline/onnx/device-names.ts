/**
 * Device names (settings, CLI, doctor, metrics) and the WebGPU provider's settings: plain data, so
 * that config can validate them without loading onnxruntime.
 */

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
 * NHWC: on lavapipe the fixture UNet ran faster with it than with NCHW (see README), and it is what
 * onnxruntime's own WebGPU tuning targets. "basic" validation: onnxruntime's default; "disabled"
 * turns a GPU error into a crash of the whole process.
 */
export const WEBGPU_DEFAULTS: WebGpuSettings = { layout: "NHWC", validation: "basic" };
