/**
 * bench/gpu/bench.ts end to end on the small fixtures: webgpu and the CPU provider, float32 and
 * float16, in one run that prints one JSON summary with every figure the GPU measurement needs.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { vulkanEnvironment } from "../../src/config.js";
import { findVulkanLoader, listVulkanDrivers } from "../../src/doctor/vulkan.js";
import { diagnoseWebGpuFailure, probeWebGpuInChild } from "../../src/doctor/webgpu.js";
import { WEBGPU_DEFAULTS } from "../../src/pipeline/types.js";

const BENCH = fileURLToPath(new URL("../../bench/gpu/bench.ts", import.meta.url));

function runBench(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["--import", "tsx", BENCH, ...args], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, stdout, stderr }));
  });
}

describe("the GPU bench", () => {
  it("times webgpu and the CPU provider in float32 and float16 and prints one JSON summary", async (t) => {
    const probe = await probeWebGpuInChild(WEBGPU_DEFAULTS);
    if (!probe.ok) {
      const env = vulkanEnvironment();
      const why = diagnoseWebGpuFailure(`${probe.log}\n${probe.error ?? ""}`, {
        loader: findVulkanLoader(env),
        drivers: listVulkanDrivers(env).drivers,
        adapters: undefined,
      });
      if (process.env.CI === "true")
        assert.fail(`CI must run the GPU bench, but no WebGPU adapter works: ${why}`);
      return t.skip(`no WebGPU adapter: ${why}`);
    }
    const work = await mkdtemp(join(tmpdir(), "easel-gpu-bench-"));
    t.after(() => rm(work, { recursive: true, force: true }));
    const run = await runBench(["--models", "small", "--size", "512", "--steps", "2", "--work", work]);
    assert.equal(run.code, 0, run.stderr.slice(-2000));
    const summary = JSON.parse(run.stdout) as {
      size: number;
      steps: number;
      results: Array<Record<string, unknown>>;
    };
    assert.equal(summary.size, 512);
    assert.equal(summary.steps, 2);
    assert.deepEqual(
      summary.results.map((result) => `${result.device} ${result.dtype} ${result.ok}`),
      ["webgpu float32 true", "cpu float32 true", "webgpu float16 true", "cpu float16 true"],
    );
    for (const result of summary.results) {
      assert.deepEqual(Object.keys(result.loadSeconds as object), [
        "text_encoder",
        "text_encoder_2",
        "unet",
        "vae_decoder",
      ]);
      for (const key of [
        "pipelineLoadSeconds",
        "warmupSeconds",
        "secondsPerStep",
        "vaeDecodeSeconds",
        "totalSeconds",
      ]) {
        assert.ok(
          typeof result[key] === "number" && (result[key] as number) >= 0,
          `${key} of ${result.device}`,
        );
      }
      assert.ok((result.peakRssBytes as number) > 10 * 1024 * 1024);
    }
  });
});
