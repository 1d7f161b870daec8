/**
 * `easel doctor`: every check of a box, in the order an operator fixes things (Node, settings,
 * data dir, models, devices, memory, chat). Each check returns results; rendering is the CLI's.
 */
import { existsSync } from "node:fs";
import { totalmem } from "node:os";
import { accessSettingsOf } from "../commands/access.js";
import { type Config, type VulkanEnvironment, vulkanEnvironment } from "../config.js";
import { isEaselError } from "../errors.js";
import { webgpuAdapterOf } from "../pipeline/types.js";
import { checkChatSettings } from "./chat.js";
import { checkDataDir } from "./data-dir.js";
import { type CudaProbe, checkDevice } from "./devices.js";
import { type GpuQuery, queryGpus } from "./gpu-info.js";
import { checkLoras } from "./loras.js";
import { memoryPlanChecks, memoryPlanFor } from "./memory-plan.js";
import { checkModelFolder, type ModelCheckOptions } from "./model-checks.js";
import { checkModeration } from "./moderation.js";
import { checkNodeVersion, readEaselPackage } from "./node-version.js";
import { checkOperators } from "./operators.js";
import { checkRedis } from "./redis.js";
import { placedModelsOf } from "./start-checks.js";
import { type CheckResult, fail, ok, warn } from "./types.js";
import { checkListenHost } from "./web-host.js";
import { checkWebGpuDevice, type WebGpuProbe } from "./webgpu.js";

export { checkModelFolder, type ModelFolderReport } from "./model-checks.js";
export type { CheckResult, CheckStatus } from "./types.js";

export interface DoctorReport {
  /** False when any check failed. */
  ok: boolean;
  checks: CheckResult[];
}

export interface DoctorOptions {
  /** The settings, or the error that stopped them from loading. */
  config: Config | Error;
  /** Called with each result as soon as it is known (the CLI prints as it goes). */
  onResult?: (result: CheckResult) => void;
  nodeVersion?: string;
  probeCuda?: CudaProbe;
  probeWebGpu?: WebGpuProbe;
  /** The Vulkan loader's variables; absent = this process's. */
  vulkan?: VulkanEnvironment;
  queryGpus?: GpuQuery;
  totalMemory?: number;
  models?: ModelCheckOptions;
}

/** The settings checks `easel start` makes before it connects anything (the same function). */
function checkStartSettings(config: Config): CheckResult {
  try {
    accessSettingsOf(config);
  } catch (error) {
    return fail("settings", isEaselError(error) ? error.userMessage : String(error));
  }
  return ok("settings", "every setting parses (.env and the environment) and easel start accepts them");
}

export async function runDoctor(options: DoctorOptions): Promise<DoctorReport> {
  const checks: CheckResult[] = [];
  const add = (result: CheckResult) => {
    checks.push(result);
    options.onResult?.(result);
  };
  add(checkNodeVersion(options.nodeVersion ?? process.versions.node, readEaselPackage()?.engines?.node));

  const config = options.config;
  if (config instanceof Error) {
    const message = isEaselError(config) ? config.userMessage : config.message;
    add(fail("settings", `${message} (the remaining checks need valid settings)`));
    return { ok: false, checks };
  }
  add(checkStartSettings(config));
  add(await checkDataDir(config.dataDir));

  let weightBytes = 0;
  if (config.demoModel && !existsSync(config.modelDir)) {
    add(
      warn(
        "base/files",
        "EASEL_MODEL_DIR is not set: easel will write and use the demo model (tiny random weights, abstract pictures); `easel pull sdxl-base` fetches SDXL",
      ),
    );
  } else {
    if (config.demoModel) {
      add(
        warn(
          "base/demo",
          `EASEL_MODEL_DIR is not set: checking the demo model at ${config.modelDir} (abstract pictures)`,
        ),
      );
    }
    const base = await checkModelFolder(config.modelDir, "base", options.models);
    base.results.forEach(add);
    weightBytes += base.weightBytes;
  }
  if (config.refinerDir) {
    const refiner = await checkModelFolder(config.refinerDir, "refiner", options.models);
    refiner.results.forEach(add);
    weightBytes += refiner.weightBytes;
  }

  const gpus = config.devices.some((device) => device.startsWith("cuda:"))
    ? await (options.queryGpus ?? queryGpus)()
    : undefined;
  for (const device of config.devices) {
    if (webgpuAdapterOf(device) !== undefined) {
      const webgpu = await checkWebGpuDevice(device, {
        settings: config.ort.webgpu,
        vulkan: options.vulkan ?? vulkanEnvironment(),
        ...(options.probeWebGpu ? { probe: options.probeWebGpu } : {}),
      });
      webgpu.forEach(add);
    } else add(await checkDevice(device, { probe: options.probeCuda, gpus }));
  }
  if (weightBytes > 0) {
    // Operators (onnxruntime's com.microsoft ones) each model's device cannot run, by name.
    for (const result of await checkOperators(placedModelsOf(config))) add(result);
    // The memory plan: weights per component where they run, activations, each device's memory.
    const plan = await memoryPlanFor(config, {
      queryGpus: gpus !== undefined ? async () => gpus : options.queryGpus,
      totalMemory: options.totalMemory ?? totalmem(),
    });
    if (plan) memoryPlanChecks(plan).forEach(add);
  }
  for (const result of await checkLoras(config)) add(result);
  add(await checkModeration(config));
  for (const result of checkChatSettings(config)) add(result);
  add(await checkListenHost("EASEL_WEB_HOST", config.web.host, config.web.port));
  if (config.slack && !config.slack.appToken)
    add(await checkListenHost("SLACK_HOST", config.slack.host, config.slack.port));
  if (config.redisUrl) for (const result of await checkRedis(config.redisUrl)) add(result);
  return { ok: checks.every((check) => check.status !== "fail"), checks };
}
