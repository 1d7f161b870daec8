/**
 * What the Vulkan side of a WebGPU device looks like from here: is the loader (libvulkan.so.1) on
 * the library path, which drivers (ICD manifests) would it load, and — where `vulkaninfo` is
 * installed — each adapter with the features Dawn needs. onnxruntime-node exposes no adapter
 * information itself, so this is what the doctor can name.
 */
import { execFile } from "node:child_process";
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { basename, join } from "node:path";
import type { VulkanEnvironment } from "../config.js";

/** Where Debian, Ubuntu, Fedora and Arch put the loader, after LD_LIBRARY_PATH. */
const LIBRARY_DIRS = [
  "/lib/x86_64-linux-gnu",
  "/usr/lib/x86_64-linux-gnu",
  "/lib/aarch64-linux-gnu",
  "/usr/lib/aarch64-linux-gnu",
  "/usr/lib64",
  "/lib64",
  "/usr/lib",
  "/lib",
  "/usr/local/lib",
];

export const VULKAN_LOADER = "libvulkan.so.1";

/** The path of libvulkan.so.1 the dynamic loader would find first, or undefined. */
export function findVulkanLoader(
  env: VulkanEnvironment,
  dirs: readonly string[] = LIBRARY_DIRS,
): string | undefined {
  const searched = [...(env.libraryPath ?? "").split(":").filter((dir) => dir !== ""), ...dirs];
  return searched.map((dir) => join(dir, VULKAN_LOADER)).find((path) => existsSync(path));
}

export interface VulkanDriver {
  /** The manifest (.json) that names the driver. */
  manifest: string;
  /** The driver library it names, e.g. libvulkan_radeon.so; undefined when unreadable. */
  library?: string;
  apiVersion?: string;
  /** Why the manifest could not be read. */
  problem?: string;
}

/** The ICD manifest folders the Vulkan loader searches when VK_DRIVER_FILES / VK_ICD_FILENAMES are unset. */
export function icdDirs(env: VulkanEnvironment): string[] {
  const data = (env.xdgDataDirs || "/usr/local/share:/usr/share").split(":").filter((dir) => dir !== "");
  return ["/etc/vulkan/icd.d", ...data.map((dir) => join(dir, "vulkan", "icd.d"))];
}

function manifestsIn(path: string): string[] {
  try {
    if (statSync(path).isDirectory()) {
      return readdirSync(path)
        .filter((name) => name.endsWith(".json"))
        .sort()
        .map((name) => join(path, name));
    }
    return [path];
  } catch {
    return [];
  }
}

/** The drivers the loader would consider: VK_DRIVER_FILES (or the older VK_ICD_FILENAMES) or the standard folders. */
export function listVulkanDrivers(env: VulkanEnvironment): { drivers: VulkanDriver[]; from: string } {
  if (env.driverFiles) {
    const drivers = env.driverFiles
      .split(":")
      .filter((path) => path !== "")
      .flatMap((path): VulkanDriver[] =>
        existsSync(path)
          ? manifestsIn(path).map(readManifest)
          : [{ manifest: path, problem: "does not exist" }],
      );
    return { drivers, from: "VK_DRIVER_FILES" };
  }
  const dirs = icdDirs(env);
  return { drivers: dirs.flatMap(manifestsIn).map(readManifest), from: dirs.join(", ") };
}

function readManifest(manifest: string): VulkanDriver {
  try {
    const parsed = JSON.parse(readFileSync(manifest, "utf8")) as {
      ICD?: { library_path?: string; api_version?: string };
    };
    return {
      manifest,
      ...(parsed.ICD?.library_path ? { library: basename(parsed.ICD.library_path) } : {}),
      ...(parsed.ICD?.api_version ? { apiVersion: parsed.ICD.api_version } : {}),
    };
  } catch (error) {
    return {
      manifest,
      problem: `cannot be read (${error instanceof Error ? error.message : String(error)})`,
    };
  }
}

/** One Vulkan adapter as vulkaninfo shows it, with what Dawn needs of it. */
export interface VulkanAdapter {
  index: number;
  name: string;
  /** The PCI vendor's name (AMD, Intel, NVIDIA, Mesa for software drivers), or its id in hex. */
  vendor?: string;
  driverInfo?: string;
  apiVersion?: string;
  /** VkPhysicalDeviceLimits.maxStorageBufferRange: the largest storage buffer a shader may bind. */
  maxStorageBufferRange?: number;
  /** VkPhysicalDeviceMaintenance3Properties.maxMemoryAllocationSize: the largest single buffer. */
  maxMemoryAllocationSize?: number;
  /** Features Dawn requires that this adapter lacks (empty: WebGPU can use it). */
  missingFeatures: string[];
}

const VENDORS: Record<number, string> = {
  4098: "AMD",
  4318: "NVIDIA",
  32902: "Intel",
  5045: "ARM",
  20803: "Qualcomm",
  4112: "Imagination",
  65541: "Mesa",
};

const DYNAMIC_INDEXING = [
  "shaderUniformBufferArrayDynamicIndexing",
  "shaderSampledImageArrayDynamicIndexing",
  "shaderStorageBufferArrayDynamicIndexing",
  "shaderStorageImageArrayDynamicIndexing",
];

/** The adapters in `vulkaninfo`'s full output (one "GPUn:" section each). */
export function parseVulkaninfo(text: string): VulkanAdapter[] {
  const sections = text.split(/^GPU(\d+):\s*$/m);
  const adapters: VulkanAdapter[] = [];
  for (let i = 1; i + 1 < sections.length; i += 2) {
    const body = sections[i + 1]!;
    const value = (key: string): string | undefined =>
      new RegExp(`^\\s*${key}\\s*=\\s*(.+?)\\s*$`, "m").exec(body)?.[1];
    const flag = (key: string): boolean | undefined => {
      const found = value(key);
      return found === undefined ? undefined : found === "true";
    };
    const number = (key: string): number | undefined => {
      const found = value(key);
      return found === undefined ? undefined : Number(found.split(" ")[0]);
    };
    const missingFeatures: string[] = [];
    if (flag("robustBufferAccess") === false) missingFeatures.push("robustBufferAccess");
    const bc = flag("textureCompressionBC");
    const mobile = flag("textureCompressionETC2") === true && flag("textureCompressionASTC_LDR") === true;
    if (bc === false && !mobile) missingFeatures.push("textureCompressionBC (or ETC2 + ASTC)");
    for (const feature of DYNAMIC_INDEXING) if (flag(feature) === false) missingFeatures.push(feature);
    const storage = number("maxStorageBufferRange");
    const allocation = number("maxMemoryAllocationSize");
    const driverInfo = value("driverInfo");
    const vendorId = Number.parseInt(value("vendorID") ?? "", 16);
    const vendor = Number.isNaN(vendorId) ? undefined : (VENDORS[vendorId] ?? `0x${vendorId.toString(16)}`);
    const apiVersion = value("apiVersion")?.split(" ")[0];
    adapters.push({
      index: Number(sections[i]),
      name: value("deviceName") ?? `GPU${sections[i]}`,
      ...(vendor ? { vendor } : {}),
      ...(driverInfo ? { driverInfo } : {}),
      ...(apiVersion ? { apiVersion } : {}),
      ...(storage !== undefined && Number.isFinite(storage) ? { maxStorageBufferRange: storage } : {}),
      ...(allocation !== undefined && Number.isFinite(allocation)
        ? { maxMemoryAllocationSize: allocation }
        : {}),
      missingFeatures,
    });
  }
  return adapters;
}

/** vulkaninfo's adapters, or undefined where vulkaninfo is not installed or fails. */
export function readVulkanAdapters(): Promise<VulkanAdapter[] | undefined> {
  return new Promise((resolve) => {
    execFile("vulkaninfo", [], { timeout: 30_000, maxBuffer: 16 * 1024 * 1024 }, (error, stdout) => {
      if (error && !stdout) {
        resolve(undefined);
        return;
      }
      const adapters = parseVulkaninfo(stdout);
      resolve(adapters.length > 0 ? adapters : undefined);
    });
  });
}
