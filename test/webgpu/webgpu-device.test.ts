/**
 * The webgpu device's names and settings, its provider options, the rule that keeps WebGPU
 * sessions in one worker, and the doctor's reading of the Vulkan side: loader, drivers,
 * vulkaninfo's adapters, and the one-line reason when none works.
 */
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { loadConfig, vulkanEnvironment } from "../../src/config.js";
import { findVulkanLoader, listVulkanDrivers, parseVulkaninfo } from "../../src/doctor/vulkan.js";
import { diagnoseWebGpuFailure } from "../../src/doctor/webgpu.js";
import { ConfigError, DeviceFailureError } from "../../src/errors.js";
import {
  checkExecutionProvider,
  ExecutionProviderError,
  executionProviders,
} from "../../src/pipeline/onnx/session.js";
import { runCli } from "../helpers/cli.js";
import { fixtureModels } from "../helpers/fixtures.js";

describe("webgpu device names and settings", () => {
  it("accepts webgpu and webgpu:N beside cpu and cuda:N, and names them in the error", () => {
    assert.deepEqual(loadConfig({ EASEL_DEVICES: "webgpu" }).devices, ["webgpu"]);
    assert.deepEqual(loadConfig({ EASEL_DEVICES: "cuda:0,webgpu:1" }).devices, ["cuda:0", "webgpu:1"]);
    assert.equal(
      loadConfig({ EASEL_TEXT_ENCODER_DEVICE: "webgpu", EASEL_DEVICES: "webgpu" }).textEncoderDevice,
      "webgpu",
    );
    assert.throws(
      () => loadConfig({ EASEL_DEVICES: "vulkan" }),
      (error: unknown) => error instanceof ConfigError && /"cpu", "cuda:N" or "webgpu"/.test(error.message),
    );
    assert.throws(() => loadConfig({ EASEL_DEVICES: "webgpu:x" }), ConfigError);
  });

  it("keeps every WebGPU session in one worker: one webgpu device, text encoders only on their own device", () => {
    assert.throws(
      () => loadConfig({ EASEL_DEVICES: "webgpu,webgpu:1" }),
      (error: unknown) => error instanceof ConfigError && /one webgpu device/.test(error.message),
    );
    assert.throws(
      () => loadConfig({ EASEL_DEVICES: "cpu,webgpu", EASEL_TEXT_ENCODER_DEVICE: "webgpu" }),
      (error: unknown) => error instanceof ConfigError && /EASEL_TEXT_ENCODER_DEVICE/.test(error.message),
    );
    assert.deepEqual(loadConfig({ EASEL_DEVICES: "cpu,webgpu", EASEL_TEXT_ENCODER_DEVICE: "cpu" }).devices, [
      "cpu",
      "webgpu",
    ]);
  });

  it("takes a webgpu device's memory from EASEL_DEVICE_MEMORY, since it cannot be read", () => {
    assert.deepEqual(loadConfig({ EASEL_DEVICE_MEMORY: "webgpu=16GiB,cpu=32GB" }).deviceMemory, {
      webgpu: 16 * 1024 ** 3,
      cpu: 32e9,
    });
  });

  it("reads the layout and validation mode, defaulting to NHWC and basic, and refuses others", () => {
    assert.deepEqual(loadConfig({}).ort.webgpu, { layout: "NHWC", validation: "basic" });
    assert.deepEqual(
      loadConfig({ EASEL_WEBGPU_LAYOUT: "NCHW", EASEL_WEBGPU_VALIDATION: "wgpuOnly" }).ort.webgpu,
      { layout: "NCHW", validation: "wgpuOnly" },
    );
    assert.throws(() => loadConfig({ EASEL_WEBGPU_LAYOUT: "nhwc" }), /EASEL_WEBGPU_LAYOUT/);
    assert.throws(() => loadConfig({ EASEL_WEBGPU_VALIDATION: "none" }), /EASEL_WEBGPU_VALIDATION/);
  });

  it("gives onnxruntime the WebGPU provider with those options, then the CPU for what it lacks", () => {
    assert.deepEqual(executionProviders("webgpu", { layout: "NCHW", validation: "full" }), [
      { name: "webgpu", preferredLayout: "NCHW", validationMode: "full" },
      "cpu",
    ]);
    assert.deepEqual(executionProviders("webgpu:0"), [
      { name: "webgpu", preferredLayout: "NHWC", validationMode: "basic" },
      "cpu",
    ]);
    assert.deepEqual(executionProviders("cpu"), ["cpu"]);
  });

  it("refuses an adapter other than the first as that device's error, saying how to choose the GPU", () => {
    checkExecutionProvider("webgpu");
    checkExecutionProvider("webgpu:0");
    assert.throws(
      () => checkExecutionProvider("webgpu:1"),
      (error: unknown) =>
        error instanceof ExecutionProviderError &&
        error instanceof DeviceFailureError &&
        error.device === "webgpu:1" &&
        /VK_DRIVER_FILES/.test(error.message) &&
        !/VK_DRIVER_FILES/.test(error.userMessage),
    );
  });

  it("takes --device webgpu on the CLI and refuses an unknown device before loading anything", async () => {
    const run = await runCli([
      "generate",
      "--prompt",
      "x",
      "--device",
      "opencl",
      "--out",
      join(tmpdir(), "never.png"),
    ]);
    assert.notEqual(run.code, 0);
    assert.match(run.stderr, /--device must be "cpu", "cuda:N" or "webgpu" \("webgpu:N"\)/);
  });
});

/** vulkaninfo's layout, trimmed to the lines the doctor reads. */
function vulkaninfoText(
  gpus: { name: string; vendor?: string; driver: string; dynamicIndexing: boolean; bc: boolean }[],
): string {
  return gpus
    .map(
      (gpu, index) => `GPU${index}:
VkPhysicalDeviceProperties:
	apiVersion        = 1.3.230 (4206822)
	vendorID          = ${gpu.vendor ?? "0x10005"}
	deviceName        = ${gpu.name}
VkPhysicalDeviceLimits:
	maxStorageBufferRange                           = 134217728
VkPhysicalDeviceDriverProperties:
	driverInfo      = ${gpu.driver}
VkPhysicalDeviceMaintenance3Properties:
	maxMemoryAllocationSize = 0x80000000
VkPhysicalDeviceFeatures:
	robustBufferAccess                      = true
	textureCompressionETC2                  = false
	textureCompressionASTC_LDR              = false
	textureCompressionBC                    = ${gpu.bc}
	shaderUniformBufferArrayDynamicIndexing = true
	shaderSampledImageArrayDynamicIndexing  = ${gpu.dynamicIndexing}
	shaderStorageBufferArrayDynamicIndexing = true
	shaderStorageImageArrayDynamicIndexing  = ${gpu.dynamicIndexing}
`,
    )
    .join("\n");
}

describe("the doctor's view of Vulkan", () => {
  it("reads each adapter's name, driver, buffer limits and the features Dawn needs that it lacks", () => {
    const adapters = parseVulkaninfo(
      vulkaninfoText([
        { name: "llvmpipe (LLVM 15.0.6, 256 bits)", driver: "Mesa 22.3.6", dynamicIndexing: false, bc: true },
        {
          name: "AMD Radeon RX 7600 (RADV NAVI33)",
          vendor: "0x1002",
          driver: "Mesa 25.0.7",
          dynamicIndexing: true,
          bc: true,
        },
      ]),
    );
    assert.equal(adapters.length, 2);
    assert.deepEqual(adapters[0], {
      index: 0,
      name: "llvmpipe (LLVM 15.0.6, 256 bits)",
      vendor: "Mesa",
      driverInfo: "Mesa 22.3.6",
      apiVersion: "1.3.230",
      maxStorageBufferRange: 134217728,
      maxMemoryAllocationSize: 2147483648,
      missingFeatures: ["shaderSampledImageArrayDynamicIndexing", "shaderStorageImageArrayDynamicIndexing"],
    });
    assert.deepEqual(adapters[1]!.missingFeatures, []);
    assert.equal(adapters[1]!.vendor, "AMD");
    const noBc = parseVulkaninfo(
      vulkaninfoText([{ name: "x", driver: "y", dynamicIndexing: true, bc: false }]),
    );
    assert.deepEqual(noBc[0]!.missingFeatures, ["textureCompressionBC (or ETC2 + ASTC)"]);
  });

  it("says in one line whether the loader, the driver or a driver's feature is what is missing", () => {
    const driver = { manifest: "/usr/share/vulkan/icd.d/lvp_icd.json", library: "libvulkan_lvp.so" };
    const noAdapter = "Failed to get a WebGPU adapter: No supported adapters";
    assert.match(
      diagnoseWebGpuFailure(`Warning: Couldn't load Vulkan: libvulkan.so.1: cannot open\n${noAdapter}`, {
        loader: undefined,
        drivers: [driver],
        adapters: undefined,
      }),
      /Vulkan loader \(libvulkan\.so\.1\) is missing/,
    );
    assert.match(
      diagnoseWebGpuFailure(`Warning: vkCreateInstance: Found no drivers!\n${noAdapter}`, {
        loader: "/usr/lib/libvulkan.so.1",
        drivers: [],
        adapters: undefined,
      }),
      /no Vulkan driver is installed or visible/,
    );
    const old = parseVulkaninfo(
      vulkaninfoText([{ name: "llvmpipe", driver: "Mesa 22.3.6", dynamicIndexing: false, bc: true }]),
    );
    assert.match(
      diagnoseWebGpuFailure(noAdapter, {
        loader: "/usr/lib/libvulkan.so.1",
        drivers: [driver],
        adapters: old,
      }),
      /llvmpipe \(Mesa 22\.3\.6\) lacks shaderSampledImageArrayDynamicIndexing, shaderStorageImageArrayDynamicIndexing/,
    );
    assert.match(
      diagnoseWebGpuFailure(noAdapter, {
        loader: "/usr/lib/libvulkan.so.1",
        drivers: [driver],
        adapters: undefined,
      }),
      /a driver lacks a feature Dawn needs .*shader\*ArrayDynamicIndexing/,
    );
  });

  it("finds the loader on LD_LIBRARY_PATH and the drivers VK_DRIVER_FILES names, missing ones said", async () => {
    const dir = await mkdtemp(join(tmpdir(), "easel-vulkan-"));
    assert.equal(findVulkanLoader({ libraryPath: dir }, []), undefined);
    await writeFile(join(dir, "libvulkan.so.1"), "");
    assert.equal(findVulkanLoader({ libraryPath: `/nowhere:${dir}` }, []), join(dir, "libvulkan.so.1"));
    const manifest = join(dir, "nvidia_icd.json");
    await writeFile(
      manifest,
      JSON.stringify({ ICD: { library_path: "/usr/lib/libGLX_nvidia.so.0", api_version: "1.3.277" } }),
    );
    const env = vulkanEnvironment({ VK_ICD_FILENAMES: `${manifest}:${join(dir, "gone.json")}` });
    assert.deepEqual(listVulkanDrivers(env), {
      from: "VK_DRIVER_FILES",
      drivers: [
        { manifest, library: "libGLX_nvidia.so.0", apiVersion: "1.3.277" },
        { manifest: join(dir, "gone.json"), problem: "does not exist" },
      ],
    });
  });

  it("fails `easel generate --device webgpu` with the device's error when no driver loads, never on the CPU", async () => {
    const { base } = await fixtureModels();
    const out = join(await mkdtemp(join(tmpdir(), "easel-out-")), "never.png");
    const run = await runCli(
      ["generate", "--model", base, "--device", "webgpu", "--prompt", "x", "--steps", "1", "--out", out],
      {
        env: { VK_DRIVER_FILES: "/nonexistent/driver_icd.json" },
      },
    );
    assert.notEqual(run.code, 0);
    assert.match(
      run.stderr,
      /webgpu: onnxruntime could not start WebGPU \(Failed to get a WebGPU adapter: No supported adapters\): no Vulkan driver here offers WebGPU/,
    );
    assert.equal(existsSync(out), false);
  });

  it("easel doctor fails a webgpu device whose only driver file is missing, naming the missing driver", async () => {
    const run = await runCli(["doctor"], {
      env: {
        EASEL_DEVICES: "webgpu",
        VK_DRIVER_FILES: "/nonexistent/driver_icd.json",
        EASEL_DATA_DIR: await mkdtemp(join(tmpdir(), "easel-doctor-")),
      },
    });
    assert.notEqual(run.code, 0);
    assert.match(
      run.stdout,
      /fail\s+vulkan drivers\s+no readable driver manifest: \/nonexistent\/driver_icd\.json/,
    );
    assert.match(
      run.stdout,
      /fail\s+device webgpu\s+WebGPU provider does not start: no Vulkan driver is installed or visible/,
    );
  });
});
