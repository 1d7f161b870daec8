import type { VulkanEnvironment } from "../config.js";
import { isEaselError } from "../errors.js";
import { checkExecutionProvider } from "../pipeline/onnx/session.js";
import { WEBGPU_DEFAULTS, type WebGpuSettings } from "../pipeline/types.js";
import { onnxruntimeVersion } from "./devices.js";
import { runProbe } from "./probe-process.js";
import { type CheckResult, fail, formatBytes, ok, warn } from "./types.js";
import {
  findVulkanLoader,
  listVulkanDrivers,
  readVulkanAdapters,
  VULKAN_LOADER,
  type VulkanAdapter,
  type VulkanDriver,
} from "./vulkan.js";

export interface WebGpuProbeResult {
  ok: boolean;
  error?: string;
  /** Milliseconds to create the session and run the probe graph. */
  ms?: number;
  /** What the probe wrote on stderr: the Vulkan loader's and Dawn's warnings. */
  log: string;
}

export type WebGpuProbe = (settings: WebGpuSettings) => Promise<WebGpuProbeResult>;

/** Runs src/doctor/webgpu-probe in a child process (with this process's loader flags). */
export const probeWebGpuInChild: WebGpuProbe = async (settings) => {
  const { ok, error, ms, log } = await runProbe("webgpu", [settings.layout, settings.validation]);
  return { ok, ...(error ? { error } : {}), ...(typeof ms === "number" ? { ms } : {}), log };
};

export interface WebGpuCheckOptions {
  settings?: WebGpuSettings;
  /** The Vulkan loader's variables (config's vulkanEnvironment()). */
  vulkan: VulkanEnvironment;
  probe?: WebGpuProbe;
  /** vulkaninfo's adapters; undefined = not readable. Absent = run vulkaninfo. */
  adapters?: () => Promise<VulkanAdapter[] | undefined>;
  /** Folders searched for libvulkan.so.1 after LD_LIBRARY_PATH (tests). */
  libraryDirs?: readonly string[];
}

const NO_FALLBACK =
  "onnxruntime does not fall back to the CPU when a device's provider cannot load, so jobs on this device fail; set EASEL_DEVICES=cpu to run on the CPU (slow)";

const DAWN_NEEDS =
  "robustBufferAccess, BC (or ETC2 + ASTC) textures and shader*ArrayDynamicIndexing; Mesa 22's lavapipe lacks the last, Mesa 25 has them";

function describeAdapter(adapter: VulkanAdapter): string {
  const limits = [
    adapter.maxMemoryAllocationSize !== undefined
      ? `largest buffer ${formatBytes(adapter.maxMemoryAllocationSize)}`
      : undefined,
    adapter.maxStorageBufferRange !== undefined
      ? `storage binding ${formatBytes(adapter.maxStorageBufferRange)}`
      : undefined,
  ].filter((part) => part !== undefined);
  const driver = adapter.driverInfo ? `, ${adapter.driverInfo}` : "";
  const vendor = adapter.vendor ? `${adapter.vendor} ` : "";
  return `GPU${adapter.index} ${vendor}${adapter.name}${driver}${limits.length > 0 ? ` (${limits.join(", ")})` : ""}`;
}

/**
 * Why Dawn found no adapter, in one line: no loader, no driver, or the drivers' missing features
 * (from vulkaninfo, when it could be read).
 */
export function diagnoseWebGpuFailure(
  text: string,
  facts: { loader: string | undefined; drivers: VulkanDriver[]; adapters: VulkanAdapter[] | undefined },
): string {
  if (!facts.loader || /Couldn't load Vulkan|libvulkan\.so\.1: cannot open/i.test(text)) {
    return `the Vulkan loader (${VULKAN_LOADER}) is missing: install libvulkan1 (Debian/Ubuntu) or vulkan-loader`;
  }
  const usable = facts.drivers.filter((driver) => driver.problem === undefined);
  if (usable.length === 0 || /Found no drivers|VK_ERROR_INCOMPATIBLE_DRIVER/i.test(text)) {
    return "no Vulkan driver is installed or visible: install Mesa's drivers (mesa-vulkan-drivers: radv for AMD, anv for Intel) or NVIDIA's, or in Docker pass /dev/dri (AMD/Intel) or the GPU with graphics capability (NVIDIA)";
  }
  if (/No supported adapters|Failed to get a WebGPU adapter/i.test(text)) {
    const lacking = (facts.adapters ?? []).filter((adapter) => adapter.missingFeatures.length > 0);
    if (lacking.length > 0) {
      return `no adapter offers what WebGPU needs: ${lacking
        .map(
          (adapter) =>
            `${adapter.name}${adapter.driverInfo ? ` (${adapter.driverInfo})` : ""} lacks ${adapter.missingFeatures.join(", ")}`,
        )
        .join("; ")}: update the driver (Debian 12: Mesa 25 from bookworm-backports)`;
    }
    return `the Vulkan drivers offer no adapter WebGPU supports: a driver lacks a feature Dawn needs (${DAWN_NEEDS}); install vulkan-tools so that the doctor can name it`;
  }
  const first = text.split("\n").find((line) => line.trim() !== "");
  return first ? first.trim() : "the WebGPU provider did not start (no reason given)";
}

/** The checks of one WebGPU device, in the order an operator fixes them. */
export async function checkWebGpuDevice(device: string, options: WebGpuCheckOptions): Promise<CheckResult[]> {
  const name = `device ${device}`;
  const results: CheckResult[] = [];
  try {
    checkExecutionProvider(device);
  } catch (error) {
    return [fail(name, `${isEaselError(error) ? error.message : String(error)} ${NO_FALLBACK}`)];
  }
  const loader = findVulkanLoader(options.vulkan, options.libraryDirs);
  results.push(
    loader
      ? ok("vulkan loader", `${VULKAN_LOADER} at ${loader}`, { path: loader })
      : fail(
          "vulkan loader",
          `${VULKAN_LOADER} is not on the library path: install libvulkan1 (Debian/Ubuntu) or vulkan-loader`,
        ),
  );
  const { drivers, from } = listVulkanDrivers(options.vulkan);
  const usable = drivers.filter((driver) => driver.problem === undefined);
  const driverList = drivers
    .map(
      (driver) =>
        `${driver.library ?? driver.manifest}${driver.problem ? ` (${driver.manifest} ${driver.problem})` : ""}`,
    )
    .join(", ");
  results.push(
    usable.length > 0
      ? ok("vulkan drivers", `${driverList} (from ${from})`, { drivers })
      : fail(
          "vulkan drivers",
          drivers.length > 0
            ? `no readable driver manifest: ${driverList}`
            : `no driver manifest in ${from}: install mesa-vulkan-drivers (AMD, Intel) or NVIDIA's driver`,
          { drivers },
        ),
  );
  const adapters = await (options.adapters ?? readVulkanAdapters)();
  results.push(
    adapters === undefined
      ? warn(
          "webgpu adapters",
          "vulkaninfo (vulkan-tools) is not installed or lists no adapter, and onnxruntime-node does not expose the WebGPU adapter's vendor, name or limits (maxBufferSize, maxStorageBufferBindingSize): only the probe below says whether one works",
        )
      : adapters.some((adapter) => adapter.missingFeatures.length === 0)
        ? ok("webgpu adapters", adapters.map(describeAdapter).join("; "), { adapters })
        : warn(
            "webgpu adapters",
            `${adapters.map((adapter) => `${describeAdapter(adapter)} lacks ${adapter.missingFeatures.join(", ")}`).join("; ")}`,
            { adapters },
          ),
  );
  const settings = options.settings ?? WEBGPU_DEFAULTS;
  const probe = await (options.probe ?? probeWebGpuInChild)(settings);
  if (probe.ok) {
    results.push(
      ok(
        name,
        `WebGPU provider (onnxruntime-node ${onnxruntimeVersion()}) created a session and ran a MatMul on the GPU in ${probe.ms ?? "?"} ms (layout ${settings.layout}, validation ${settings.validation})`,
        { settings, ms: probe.ms },
      ),
    );
  } else {
    const reason = diagnoseWebGpuFailure(`${probe.log}\n${probe.error ?? ""}`, { loader, drivers, adapters });
    results.push(
      fail(name, `WebGPU provider does not start: ${reason}. ${NO_FALLBACK}`, { error: probe.error }),
    );
  }
  return results;
}
