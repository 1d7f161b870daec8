/**
 * SDXL on WebGPU against the CPU provider, in one run, printing one JSON summary on stdout:
 * per-component load times, seconds per UNet step, the VAE decode, the total and the peak memory
 * (RSS; GPU memory is not readable through onnxruntime) of each (device, dtype) — each in its own
 * child process, so each peak is its own.
 *
 *   bench [--models full|small|DIR] [--size 1024] [--steps 30] [--dtypes float32,float16]
 *         [--devices webgpu,cpu] [--work DIR]
 *
 * `full` (the default) writes SDXL's real architecture with seeded random weights (`easel fixtures
 * --full-size`: 10 GB of float32 UNet) under --work; `small` writes the tiny test fixtures (a
 * correctness run in minutes on a software GPU); a DIR holds <dtype>/ folders of real exports.
 * Runs from the repository (`node --import tsx bench/gpu/bench.ts`) or from the bundle
 * `bench/gpu/build-bundle.sh` makes (`./run.sh`).
 */
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdir } from "node:fs/promises";
import { cpus, tmpdir, totalmem } from "node:os";
import { join } from "node:path";
import { loaderFlags } from "../../src/doctor/probe-process.js";
import { writeFullSizeModels } from "../../src/fixtures/full-size/index.js";
import { writeFixtureModels } from "../../src/fixtures/index.js";
import { loadPipeline } from "../../src/pipeline/index.js";
import { ModelSession, SessionClock } from "../../src/pipeline/onnx/session.js";
import type { GenerateParams } from "../../src/pipeline/types.js";

const COMPONENTS = ["text_encoder", "text_encoder_2", "unet", "vae_decoder"] as const;
type Dtype = "float32" | "float16";

interface Flags {
  models: string;
  size: number;
  steps: number;
  dtypes: Dtype[];
  devices: string[];
  work: string;
}

function flagsOf(argv: string[]): Flags {
  const value = (name: string) => {
    const i = argv.indexOf(name);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  const dtypes = (value("--dtypes") ?? "float32,float16").split(",") as Dtype[];
  for (const dtype of dtypes) {
    if (dtype !== "float32" && dtype !== "float16")
      throw new Error(`--dtypes: "${dtype}" is not float32 or float16`);
  }
  return {
    models: value("--models") ?? "full",
    size: Number(value("--size") ?? "1024"),
    steps: Number(value("--steps") ?? "30"),
    dtypes,
    devices: (value("--devices") ?? "webgpu,cpu").split(","),
    work: value("--work") ?? join(tmpdir(), "easel-gpu-bench"),
  };
}

/** The model folder for each dtype, written when absent. */
async function modelFolders(flags: Flags): Promise<Record<Dtype, string>> {
  const folders = {} as Record<Dtype, string>;
  for (const dtype of flags.dtypes) {
    if (flags.models === "small") {
      const dir = join(flags.work, "small");
      if (!existsSync(join(dir, "base-fp16"))) {
        await mkdir(dir, { recursive: true });
        await writeFixtureModels(dir, { variants: ["base", "base-fp16"] });
      }
      folders[dtype] = join(dir, dtype === "float16" ? "base-fp16" : "base");
    } else if (flags.models === "full") {
      const dir = join(flags.work, `full-${dtype}`);
      if (!existsSync(join(dir, "base", "model_index.json"))) {
        process.stderr.write(`writing full-size ${dtype} models to ${dir} …\n`);
        await writeFullSizeModels(dir, { dtype });
      }
      folders[dtype] = join(dir, "base");
    } else {
      folders[dtype] = join(flags.models, dtype);
    }
  }
  return folders;
}

interface Measurement {
  device: string;
  dtype: Dtype;
  ok: boolean;
  error?: string;
  loadSeconds?: Record<string, number>;
  pipelineLoadSeconds?: number;
  /** A one-step run before the measured one (shader compilation on WebGPU). */
  warmupSeconds?: number;
  secondsPerStep?: number;
  textEncodeSeconds?: number;
  vaeDecodeSeconds?: number;
  totalSeconds?: number;
  peakRssBytes?: number;
}

const seconds = (ms: number) => Math.round(ms) / 1000;

/** One (device, dtype) measurement, in this process (the child). */
async function measure(device: string, dtype: Dtype, folder: string, flags: Flags): Promise<Measurement> {
  const loadSeconds: Record<string, number> = {};
  for (const component of COMPONENTS) {
    const started = performance.now();
    const session = await ModelSession.load(
      join(folder, component, "model.onnx"),
      { device },
      new SessionClock(),
    );
    loadSeconds[component] = seconds(performance.now() - started);
    await session.release();
  }
  const started = performance.now();
  const pipeline = await loadPipeline({ modelDir: folder, device });
  const pipelineLoadSeconds = seconds(performance.now() - started);
  try {
    const params: GenerateParams = {
      prompt: "a lighthouse on a cliff at dusk, oil painting",
      width: flags.size,
      height: flags.size,
      seed: 7n,
      steps: flags.steps,
      guidance: 5,
      scheduler: "euler",
      count: 1,
    };
    // A one-step run first: WebGPU compiles its shaders on first use, which is not a step's cost.
    const warmup = performance.now();
    await pipeline.generate({ ...params, steps: 1 });
    const warmupSeconds = seconds(performance.now() - warmup);
    const result = await pipeline.generate(params);
    const timings = result.timings;
    return {
      device,
      dtype,
      ok: true,
      loadSeconds,
      pipelineLoadSeconds,
      warmupSeconds,
      secondsPerStep: seconds(timings.denoiseMs / flags.steps),
      textEncodeSeconds: seconds(timings.textEncodeMs),
      vaeDecodeSeconds: seconds(timings.vaeMs),
      totalSeconds: seconds(timings.totalMs),
      peakRssBytes: process.resourceUsage().maxRSS * 1024,
    };
  } finally {
    await pipeline.dispose();
  }
}

/** Runs this script as a child for one measurement; its last stdout line is the JSON. */
function measureInChild(device: string, dtype: Dtype, folder: string, argv: string[]): Promise<Measurement> {
  return new Promise((resolve) => {
    const child = spawn(
      process.execPath,
      [...loaderFlags(process.execArgv), process.argv[1]!, ...argv, "--task", device, dtype, folder],
      { stdio: ["ignore", "pipe", "pipe"] },
    );
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on("data", (chunk: Buffer) => {
      stderr += chunk.toString();
      if (stderr.length > 65536) stderr = stderr.slice(-32768);
    });
    child.on("close", (code, signal) => {
      try {
        resolve(JSON.parse(stdout.trim().split("\n").at(-1) ?? "") as Measurement);
      } catch {
        const last = stderr.trim().split("\n").slice(-3).join(" | ");
        resolve({ device, dtype, ok: false, error: `ended (${signal ?? `exit ${code}`}): ${last}` });
      }
    });
  });
}

async function main(argv: string[]): Promise<void> {
  const task = argv.indexOf("--task");
  if (task >= 0) {
    const [device, dtype, folder] = argv.slice(task + 1) as [string, Dtype, string];
    let measurement: Measurement;
    try {
      measurement = await measure(device, dtype, folder, flagsOf(argv.slice(0, task)));
    } catch (error) {
      measurement = {
        device,
        dtype,
        ok: false,
        error: error instanceof Error ? error.message : String(error),
      };
    }
    process.stdout.write(`${JSON.stringify(measurement)}\n`);
    return;
  }
  const flags = flagsOf(argv);
  const started = performance.now();
  const folders = await modelFolders(flags);
  const results: Measurement[] = [];
  for (const dtype of flags.dtypes) {
    for (const device of flags.devices) {
      process.stderr.write(`measuring ${device} ${dtype} …\n`);
      results.push(await measureInChild(device, dtype, folders[dtype], argv));
    }
  }
  const summary = {
    models: flags.models,
    size: flags.size,
    steps: flags.steps,
    machine: { cpus: cpus().length, cpu: cpus()[0]?.model, memoryBytes: totalmem(), node: process.version },
    results,
    wallSeconds: seconds(performance.now() - started),
  };
  process.stdout.write(`${JSON.stringify(summary, null, 2)}\n`);
  if (results.some((result) => !result.ok)) process.exitCode = 1;
}

await main(process.argv.slice(2));
