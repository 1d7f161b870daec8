/**
 * Full-size benchmark on a folder written by `easel fixtures --full-size` (or a real SDXL export):
 * each component's load time against a plain sequential read of the same files (the floor), peak
 * RSS after load against the weights' bytes, and the pipeline's phases at 512x512 and 1024x1024
 * with guidance (batch 2): text encoders, one denoising step, the VAE decode.
 *
 * Every measurement runs in its own child process, so each peak RSS is that measurement's own.
 * Page cache: when /proc/sys/vm/drop_caches is writable the cold case is measured (caches dropped
 * before each read and each load); the warm case (files read once beforehand) always is.
 */
import { spawnSync } from "node:child_process";
import { open, readdir, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { loadPipeline } from "../src/pipeline/index.js";
import { ModelSession, SessionClock } from "../src/pipeline/onnx/session.js";
import type { GenerateParams } from "../src/pipeline/types.js";

const COMPONENTS = ["text_encoder", "text_encoder_2", "unet", "vae_decoder", "vae_encoder"] as const;
const GiB = 1024 ** 3;
const READ_CHUNK = 16 * 1024 * 1024;

interface Flags {
  dir: string;
  device: string;
  task?: string;
  sizes: number[];
  /** Load through the optimised-graph cache in this folder (the first load fills it). */
  optimizedCache?: string;
}

function parseFlags(argv: string[]): Flags {
  const value = (name: string) => {
    const i = argv.indexOf(name);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  const dir = value("--full-size") ?? value("--dir");
  if (!dir)
    throw new Error(
      "usage: npm run bench -- --full-size DIR [--device cpu|cuda:0] [--sizes 512,1024] [--optimized-cache CACHE_DIR]",
    );
  const sizes = (value("--sizes") ?? "512,1024").split(",").map(Number);
  const optimizedCache = value("--optimized-cache");
  return {
    dir,
    device: value("--device") ?? "cpu",
    task: value("--task"),
    sizes,
    ...(optimizedCache ? { optimizedCache } : {}),
  };
}

async function componentFiles(folder: string): Promise<string[]> {
  return (await readdir(folder)).filter((f) => f.startsWith("model.onnx")).map((f) => join(folder, f));
}

async function bytesOf(files: readonly string[]): Promise<number> {
  let total = 0;
  for (const file of files) total += (await stat(file)).size;
  return total;
}

/** Reads the files start to end through one 16 MiB buffer: what loading cannot beat. */
async function sequentialRead(files: readonly string[]): Promise<number> {
  const buffer = Buffer.allocUnsafe(READ_CHUNK);
  let total = 0;
  for (const file of files) {
    const handle = await open(file, "r");
    try {
      for (;;) {
        const { bytesRead } = await handle.read(buffer, 0, READ_CHUNK, null);
        if (bytesRead === 0) break;
        total += bytesRead;
      }
    } finally {
      await handle.close();
    }
  }
  return total;
}

const placementCache = (flags: Flags) =>
  flags.optimizedCache ? { optimizedCache: { dir: flags.optimizedCache } } : {};

const peakRss = () => process.resourceUsage().maxRSS * 1024;

/** One measurement, in this (child) process; prints a JSON line. */
async function runTask(flags: Flags, task: string): Promise<void> {
  const [kind, component] = task.split(":");
  const started = performance.now();
  const out: Record<string, unknown> = { task };
  if (kind === "read") {
    out.bytes = await sequentialRead(await componentFiles(join(flags.dir, component!)));
    out.ms = performance.now() - started;
  } else if (kind === "load") {
    const session = await ModelSession.load(
      join(flags.dir, component!, "model.onnx"),
      { device: flags.device, ...placementCache(flags) },
      new SessionClock(),
    );
    out.ms = performance.now() - started;
    out.origin = session.origin;
    out.peakRss = peakRss();
    await session.release();
  } else if (kind === "pipeline") {
    const pipeline = await loadPipeline({
      modelDir: flags.dir,
      device: flags.device,
      ...placementCache(flags),
    });
    out.ms = performance.now() - started;
    out.peakRss = peakRss();
    const runs: Record<string, unknown>[] = [];
    for (const size of flags.sizes) {
      const steps = 2;
      const stepEnds: number[] = [];
      const params: GenerateParams = {
        prompt: "a lighthouse on a cliff at dusk, volumetric light, highly detailed",
        negativePrompt: "blurry, low quality",
        width: size,
        height: size,
        seed: 42n,
        steps,
        guidance: 5,
        scheduler: "euler",
        count: 1,
      };
      const result = await pipeline.generate(params, { onProgress: (p) => stepEnds.push(p.elapsedMs) });
      const t = result.timings;
      runs.push({
        size,
        textEncodeMs: t.textEncodeMs,
        textEncodeSessionMs: t.sessionMsByPhase?.textEncode,
        stepMs: stepEnds.map((end, i) => end - (i === 0 ? 0 : stepEnds[i - 1]!)),
        denoiseMs: t.denoiseMs,
        vaeMs: t.vaeMs,
        vaeSessionMs: t.sessionMsByPhase?.vae,
        totalMs: t.totalMs,
        peakRss: peakRss(),
        finite: result.latents.every(Number.isFinite),
      });
      process.stderr.write(`  ${size}x${size} done: ${JSON.stringify(runs.at(-1))}\n`);
    }
    out.runs = runs;
    await pipeline.dispose();
  } else {
    throw new Error(`unknown task ${task}`);
  }
  process.stdout.write(`${JSON.stringify(out)}\n`);
}

function child(flags: Flags, task: string): Record<string, unknown> {
  const args = [
    "--import",
    "tsx",
    new URL(import.meta.url).pathname,
    "--dir",
    flags.dir,
    "--device",
    flags.device,
  ];
  args.push("--sizes", flags.sizes.join(","), "--task", task);
  if (flags.optimizedCache) args.push("--optimized-cache", flags.optimizedCache);
  const result = spawnSync(process.execPath, args, {
    encoding: "utf8",
    stdio: ["ignore", "pipe", "inherit"],
  });
  const line = result.stdout.trim().split("\n").at(-1) ?? "";
  if (result.status !== 0 || !line.startsWith("{")) {
    return { task, failed: `exit ${result.status ?? result.signal}`, output: result.stdout.slice(-500) };
  }
  return JSON.parse(line) as Record<string, unknown>;
}

async function dropCaches(): Promise<boolean> {
  try {
    spawnSync("sync");
    await writeFile("/proc/sys/vm/drop_caches", "1");
    return true;
  } catch {
    return false;
  }
}

const s = (ms: unknown) => `${(Number(ms) / 1000).toFixed(2)} s`;
const gib = (bytes: unknown) => `${(Number(bytes) / GiB).toFixed(2)} GiB`;
function line(label: string, value: string, note = ""): void {
  process.stdout.write(`  ${label.padEnd(40)} ${value.padStart(12)}  ${note}\n`);
}

async function orchestrate(flags: Flags): Promise<void> {
  const present: string[] = [];
  for (const c of COMPONENTS)
    if ((await componentFiles(join(flags.dir, c)).catch(() => [])).length) present.push(c);
  const weights: Record<string, number> = {};
  for (const c of present) weights[c] = await bytesOf(await componentFiles(join(flags.dir, c)));
  const allWeights = Object.values(weights).reduce((a, b) => a + b, 0);
  process.stdout.write(
    `\nFull-size SDXL, ${flags.dir}, device ${flags.device}, ${gib(allWeights)} of model files\n`,
  );

  const cold = await dropCaches();
  const modes: ("cold" | "warm")[] = cold ? ["cold", "warm"] : ["warm"];
  if (!cold) process.stdout.write("  (page cache cannot be dropped here: warm reads and loads only)\n");
  for (const mode of modes) {
    process.stdout.write(
      `\n  ${mode} page cache: load vs sequential read of the same files (goal <= 1.5x)\n`,
    );
    if (mode === "warm") for (const c of present) child(flags, `read:${c}`);
    for (const c of present) {
      if (mode === "cold") await dropCaches();
      const read = child(flags, `read:${c}`);
      if (mode === "cold") await dropCaches();
      const load = child(flags, `load:${c}`);
      if (load.failed) {
        line(c, "failed", String(load.failed));
        continue;
      }
      line(
        `${c} load / read`,
        `${s(load.ms)} / ${s(read.ms)}`,
        `${(Number(load.ms) / Number(read.ms)).toFixed(2)}x${load.origin === "optimized" ? "" : ` (${load.origin})`}; peak RSS ${gib(load.peakRss)} vs weights ${gib(weights[c])} = ${(Number(load.peakRss) / weights[c]!).toFixed(2)}x`,
      );
    }
  }

  // The whole pipeline: load (warm cache), then a 2-step run per size.
  for (const c of present) child(flags, `read:${c}`);
  let readMs = 0;
  for (const c of present) readMs += Number(child(flags, `read:${c}`).ms);
  const pipeline = child(flags, "pipeline");
  process.stdout.write("\n  whole pipeline (warm page cache)\n");
  if (pipeline.failed) {
    line("pipeline", "failed", String(pipeline.failed));
    return;
  }
  line(
    "load / read of all its files",
    `${s(pipeline.ms)} / ${s(readMs)}`,
    `${(Number(pipeline.ms) / readMs).toFixed(2)}x (goal <= 1.5x)`,
  );
  line(
    "peak RSS after load vs weights",
    `${gib(pipeline.peakRss)}`,
    `${(Number(pipeline.peakRss) / allWeights).toFixed(2)}x of ${gib(allWeights)} (goal <= 1.15x)`,
  );
  for (const run of pipeline.runs as Record<string, number & number[]>[]) {
    const size = `${run.size}x${run.size}`;
    process.stdout.write(`\n  ${size}, CFG 5 (UNet batch 2), euler, 2 steps\n`);
    line(
      "text encoders (both, prompt + negative)",
      s(run.textEncodeMs),
      `(sessions ${s(run.textEncodeSessionMs)})`,
    );
    line("denoising step 1 (first run at this size)", s(run.stepMs[0]));
    line("denoising step 2", s(run.stepMs[1]));
    line("VAE decode + pixels", s(run.vaeMs), `(session ${s(run.vaeSessionMs)})`);
    line("peak RSS so far", gib(run.peakRss), run.finite ? "latents finite" : "LATENTS NOT FINITE");
  }
}

const flags = parseFlags(process.argv.slice(2));
if (flags.task) await runTask(flags, flags.task);
else await orchestrate(flags);
