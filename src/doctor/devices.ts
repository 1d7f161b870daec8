import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { driverTooOld, type GpuInfo, MIN_CUDA12_DRIVER } from "./gpu-info.js";
import { runProbe } from "./probe-process.js";
import { type CheckResult, fail, formatBytes, ok } from "./types.js";

export interface CudaProbeResult {
  ok: boolean;
  /** The error onnxruntime threw. */
  error?: string;
  /** What the probe process wrote on stderr (onnxruntime's log). */
  log: string;
}

export type CudaProbe = (deviceId: number) => Promise<CudaProbeResult>;

/** onnxruntime-node's folder of native libraries for this platform. */
export function onnxruntimeBinDir(): string {
  const require = createRequire(import.meta.url);
  const entry = require.resolve("onnxruntime-node");
  // <package>/dist/index.js → <package>/bin/napi-v6/<platform>/<arch>
  return join(dirname(dirname(entry)), "bin", "napi-v6", process.platform, process.arch);
}

export function cudaProviderLibrary(platform: NodeJS.Platform = process.platform): string {
  return platform === "win32" ? "onnxruntime_providers_cuda.dll" : "libonnxruntime_providers_cuda.so";
}

export function onnxruntimeVersion(): string {
  const require = createRequire(import.meta.url);
  try {
    const manifest = require("onnxruntime-node/package.json") as { version?: string };
    return manifest.version ?? "unknown";
  } catch {
    return "unknown";
  }
}

/** Runs src/doctor/cuda-probe in a child process (with this process's loader flags). */
export const probeCudaInChild: CudaProbe = async (deviceId) => {
  const answer = await runProbe("cuda", [String(deviceId)]);
  return { ok: answer.ok, ...(answer.error ? { error: answer.error } : {}), log: answer.log };
};

/** The first missing shared library a loader message names, e.g. "libcudnn.so.9". */
function missingLibrary(text: string, prefix: string): string | undefined {
  const match = new RegExp(
    `(${prefix}[\\w.+-]*\\.so[\\w.]*)(?::| )[^\\n]*(cannot open shared object|No such file)`,
  ).exec(text);
  return match?.[1];
}

/** Why the CUDA provider did not load, from the error and onnxruntime's log. */
export function diagnoseCudaFailure(text: string, deviceId: number): string {
  const cudnn = missingLibrary(text, "libcudnn");
  if (cudnn)
    return `cuDNN 9 is missing (${cudnn} cannot be loaded): install cuDNN 9 for CUDA 12, or use the Docker image`;
  const cublas = missingLibrary(text, "libcublas");
  if (cublas)
    return `cuBLAS of CUDA 12 is missing (${cublas} cannot be loaded): install the CUDA 12 runtime libraries`;
  const runtime = missingLibrary(text, "libcu");
  if (runtime && !runtime.startsWith("libcuda.")) {
    return `a CUDA 12 runtime library is missing (${runtime} cannot be loaded): install the CUDA 12 runtime`;
  }
  if (
    /libcuda\.so/.test(text) ||
    /CUDA driver version is insufficient|cudaErrorInsufficientDriver/i.test(text)
  ) {
    return /insufficient/i.test(text)
      ? `the NVIDIA driver is too old for CUDA 12 (needs ${MIN_CUDA12_DRIVER} or newer)`
      : "the NVIDIA driver (libcuda.so.1) is not visible: install the driver, or in Docker give the container the GPU (--gpus all / the compose GPU reservation)";
  }
  if (/no CUDA-capable device|invalid device ordinal|cudaErrorNoDevice|cudaErrorInvalidDevice/i.test(text)) {
    return `there is no CUDA device ${deviceId} (no CUDA-capable device, or fewer GPUs than that)`;
  }
  const shared = missingLibrary(text, "libonnxruntime_providers");
  if (shared) return `onnxruntime-node's ${shared} is missing: it was installed without its CUDA binaries`;
  const first = text.split("\n").find((line) => line.trim() !== "");
  return first ? first.trim() : "the CUDA provider did not load (no reason given)";
}

const NO_FALLBACK =
  "onnxruntime does not fall back to the CPU when a device's provider cannot load, so jobs on this device fail; set EASEL_DEVICES=cpu to run on the CPU (slow)";

export interface DeviceCheckOptions {
  probe?: CudaProbe;
  /** nvidia-smi's GPUs, undefined when it could not be read. */
  gpus?: GpuInfo[] | undefined;
  binDir?: string;
}

export async function checkDevice(device: string, options: DeviceCheckOptions = {}): Promise<CheckResult> {
  const name = `device ${device}`;
  const cuda = /^cuda:(\d+)$/.exec(device);
  if (!cuda) return ok(name, `CPU execution provider (onnxruntime-node ${onnxruntimeVersion()})`);
  const deviceId = Number(cuda[1]);
  const binDir = options.binDir ?? onnxruntimeBinDir();
  const library = join(binDir, cudaProviderLibrary());
  if (!existsSync(library)) {
    return fail(
      name,
      `no CUDA provider: onnxruntime-node was installed without its CUDA binaries (${cudaProviderLibrary()} is not in ${binDir}; the project .npmrc skips them): reinstall with ONNXRUNTIME_NODE_INSTALL=true npm ci (as the Dockerfile does), or use the Docker image. ${NO_FALLBACK}`,
      { library, present: false },
    );
  }
  const gpu = options.gpus?.find((info) => info.index === deviceId);
  if (gpu && driverTooOld(gpu.driver)) {
    return fail(
      name,
      `NVIDIA driver ${gpu.driver} is too old for CUDA 12 (needs ${MIN_CUDA12_DRIVER} or newer). ${NO_FALLBACK}`,
      { gpu },
    );
  }
  const result = await (options.probe ?? probeCudaInChild)(deviceId);
  if (result.ok) {
    const about = gpu ? ` (${gpu.name}, ${formatBytes(gpu.memoryBytes)}, driver ${gpu.driver})` : "";
    return ok(name, `CUDA provider loads on GPU ${deviceId}${about}`, { library, gpu });
  }
  const reason = diagnoseCudaFailure(`${result.log}\n${result.error ?? ""}`, deviceId);
  return fail(name, `CUDA provider does not load on GPU ${deviceId}: ${reason}. ${NO_FALLBACK}`, {
    library,
    error: result.error,
  });
}
