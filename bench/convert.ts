/**
 * float16 conversion benchmark on a full-size SDXL folder (`easel fixtures --full-size`, or a real
 * export), or on its UNet alone (`--unet-only`, which writes the full-size UNet and VAE decoder
 * into the folder when they are missing):
 * - convert time against `cp` of the same files, peak RSS of the conversion, bytes ratio;
 * - one UNet call (batch 2: CFG) at each size, float16 vs float32, on the given device: load time,
 *   RSS after load, call time, activation peak (peak RSS − RSS after load);
 * - the VAE decoder's activation peak per size (one image), for the memory plan's coefficients.
 * Every measurement runs in its own child process, so each peak RSS is its own.
 */
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { mkdir, readdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import * as ort from "onnxruntime-node";
import { buildFullSizeTextEncoder, SDXL_ARCHITECTURE } from "../src/fixtures/full-size/index.js";
import { buildFullSizeUnet } from "../src/fixtures/full-size/unet.js";
import { buildFullSizeVaeDecoder } from "../src/fixtures/full-size/vae.js";
import { writeStreaming } from "../src/fixtures/onnx-graph.js";
import {
  convertModelFile,
  convertModelFolder,
  maxAbsDifference,
  relativeL2,
} from "../src/pipeline/convert/index.js";
import { ModelSession, SessionClock } from "../src/pipeline/onnx/session.js";

const GiB = 1024 ** 3;

interface Flags {
  dir: string;
  work: string;
  device: string;
  sizes: number[];
  unetOnly: boolean;
  /** Reuse the float16 folder a previous run wrote (measure the UNet calls only). */
  skipConvert: boolean;
  /** Only the text encoders' float16-vs-float32 outputs (written and converted when missing). */
  encodersOnly: boolean;
  task?: string;
}

function parseFlags(argv: string[]): Flags {
  const value = (name: string) => {
    const i = argv.indexOf(name);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  const dir = value("--full-size") ?? value("--dir");
  if (!dir)
    throw new Error("usage: npm run bench -- --full-size DIR [--unet-only] [--sizes 256,512] [--work DIR]");
  return {
    dir,
    work: value("--work") ?? `${dir.replace(/\/+$/, "")}-convert-bench`,
    device: value("--device") ?? "cpu",
    sizes: (value("--sizes") ?? "256,512").split(",").map(Number),
    unetOnly: argv.includes("--unet-only"),
    skipConvert: argv.includes("--skip-convert"),
    encodersOnly: argv.includes("--encoders-only"),
    task: value("--task"),
  };
}

const peakRss = () => process.resourceUsage().maxRSS * 1024;

/**
 * Resets the kernel's peak-RSS mark (Linux: clear_refs 5), so that the next reading of VmHWM is
 * the peak since now: a session's load peaks higher than its runs at small sizes.
 */
function resetPeak(): boolean {
  try {
    writeFileSync("/proc/self/clear_refs", "5");
    return true;
  } catch {
    return false;
  }
}

/** The peak RSS since the last resetPeak (VmHWM), or the process's peak where Linux's is not there. */
function peakSinceReset(): number {
  try {
    const match = /VmHWM:\s+(\d+) kB/.exec(readFileSync("/proc/self/status", "utf8"));
    if (match) return Number(match[1]) * 1024;
  } catch {
    // not Linux
  }
  return peakRss();
}

async function bytesUnder(path: string): Promise<number> {
  const info = await stat(path);
  if (!info.isDirectory()) return info.size;
  let total = 0;
  for (const name of await readdir(path)) total += await bytesUnder(join(path, name));
  return total;
}

function seeded(length: number): Float32Array {
  let s = 12345;
  const u = () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>> 0) / 2 ** 32;
  };
  return Float32Array.from({ length }, () => (u() + u() + u() - 1.5) * 2);
}

function unetFeeds(size: number, batch: number): Record<string, ort.Tensor> {
  const a = SDXL_ARCHITECTURE.unet;
  const side = size / 8;
  return {
    sample: new ort.Tensor("float32", seeded(batch * 4 * side * side), [batch, 4, side, side]),
    timestep: new ort.Tensor("float32", Float32Array.of(999), []),
    encoder_hidden_states: new ort.Tensor("float32", seeded(batch * 77 * a.crossAttentionDim), [
      batch,
      77,
      a.crossAttentionDim,
    ]),
    text_embeds: new ort.Tensor("float32", seeded(batch * a.pooledDim), [batch, a.pooledDim]),
    time_ids: new ort.Tensor(
      "float32",
      Float32Array.from({ length: batch * 6 }, (_, i) => [size, size, 0, 0, size, size][i % 6]!),
      [batch, 6],
    ),
  };
}

/** One measurement in this (child) process; prints a JSON line. */
async function runTask(flags: Flags, task: string): Promise<void> {
  const [kind, a, b] = task.split(":");
  const out: Record<string, unknown> = { task };
  const started = performance.now();
  if (kind === "prepare") {
    for (const [name, build] of [
      ["unet", () => buildFullSizeUnet(SDXL_ARCHITECTURE.unet, { type: "float32" })],
      ["vae_decoder", () => buildFullSizeVaeDecoder(SDXL_ARCHITECTURE.vae, { type: "float32" })],
    ] as const) {
      const dir = join(flags.dir, name);
      if (existsSync(join(dir, "model.onnx_data"))) continue;
      await mkdir(dir, { recursive: true });
      await writeStreaming(build(), { dir, location: "model.onnx_data", seed: 2 });
    }
  } else if (kind === "encoders") {
    // Full-size CLIP ViT-L and OpenCLIP bigG: written, converted, run on the same ids.
    const ids = BigInt64Array.from({ length: 77 }, (_, i) =>
      BigInt(i === 0 ? 49406 : i < 12 ? 320 + i * 1013 : 49407),
    );
    const results: Record<string, string> = {};
    for (const [name, architecture, outputs] of [
      ["text_encoder", SDXL_ARCHITECTURE.textEncoder, ["hidden_states.11"]],
      ["text_encoder_2", SDXL_ARCHITECTURE.textEncoder2, ["hidden_states.31", "text_embeds"]],
    ] as const) {
      const dir = join(flags.dir, name);
      if (!existsSync(join(dir, "model.onnx_data"))) {
        await mkdir(dir, { recursive: true });
        await writeStreaming(buildFullSizeTextEncoder(architecture, { type: "float32" }), {
          dir,
          location: "model.onnx_data",
          seed: 2,
        });
      }
      const half = join(flags.work, "fp16", name);
      if (!existsSync(join(half, "model.onnx"))) {
        await mkdir(half, { recursive: true });
        await convertModelFile(join(dir, "model.onnx"), half, "float32");
      }
      const run = async (path: string) => {
        const session = await ModelSession.load(
          join(path, "model.onnx"),
          { device: flags.device },
          new SessionClock(),
        );
        const out = await session.run({ input_ids: new ort.Tensor("int64", ids, [1, 77]) }, [...outputs]);
        await session.release();
        return out;
      };
      const a = await run(dir);
      const b = await run(half);
      for (const output of outputs) {
        const x = a[output]!.data as Float32Array;
        const y = b[output]!.data as Float32Array;
        results[`${name} ${output}`] =
          `relative L2 ${relativeL2(y, x).toExponential(2)}, max abs ${maxAbsDifference(y, x).toExponential(2)}`;
      }
    }
    out.results = results;
  } else if (kind === "convert") {
    const target = join(flags.work, "fp16");
    await rm(target, { recursive: true, force: true });
    if (flags.unetOnly) {
      await mkdir(join(target, "unet"), { recursive: true });
      await convertModelFile(join(flags.dir, "unet", "model.onnx"), join(target, "unet"), "float32");
    } else {
      await convertModelFolder(flags.dir, target, { dtype: "float16", toolVersion: "bench" });
    }
    out.ms = performance.now() - started;
    out.peakRss = peakRss();
  } else if (kind === "unet") {
    // unet:<fp32|fp16>:<size>
    const dir = a === "fp16" ? join(flags.work, "fp16") : flags.dir;
    const session = await ModelSession.load(
      join(dir, "unet", "model.onnx"),
      { device: flags.device },
      new SessionClock(),
    );
    out.loadMs = performance.now() - started;
    out.rssAfterLoad = process.memoryUsage().rss;
    out.peakReset = resetPeak();
    const size = Number(b);
    const t0 = performance.now();
    const result = await session.run(unetFeeds(size, 2), ["out_sample"]);
    out.stepMs = performance.now() - t0;
    out.peakRss = peakSinceReset();
    const output = result.out_sample!.data as Float32Array;
    out.finite = output.every(Number.isFinite);
    // Kept for the float16-vs-float32 comparison of the same inputs.
    await writeFile(
      join(flags.work, `out-${a}-${size}.f32`),
      new Uint8Array(output.buffer, output.byteOffset, output.byteLength),
    );
    await session.release();
  } else if (kind === "vae") {
    const session = await ModelSession.load(
      join(flags.dir, "vae_decoder", "model.onnx"),
      { device: flags.device },
      new SessionClock(),
    );
    out.rssAfterLoad = process.memoryUsage().rss;
    out.peakReset = resetPeak();
    const side = Number(a) / 8;
    const t0 = performance.now();
    await session.run(
      { latent_sample: new ort.Tensor("float32", seeded(4 * side * side), [1, 4, side, side]) },
      ["sample"],
    );
    out.stepMs = performance.now() - t0;
    out.peakRss = peakSinceReset();
    await session.release();
  } else throw new Error(`unknown task ${task}`);
  process.stdout.write(`${JSON.stringify(out)}\n`);
}

function child(flags: Flags, task: string): Record<string, number & string> {
  const args = [
    "--import",
    "tsx",
    new URL(import.meta.url).pathname,
    "--dir",
    flags.dir,
    "--work",
    flags.work,
  ];
  args.push("--device", flags.device, "--task", task);
  if (flags.unetOnly) args.push("--unet-only");
  if (flags.encodersOnly) args.push("--encoders-only");
  const result = spawnSync(process.execPath, args, {
    encoding: "utf8",
    stdio: ["ignore", "pipe", "inherit"],
  });
  const line = result.stdout.trim().split("\n").at(-1) ?? "";
  if (result.status !== 0 || !line.startsWith("{"))
    throw new Error(`${task} failed: exit ${result.status ?? result.signal}`);
  process.stderr.write(`  ${line}\n`);
  return JSON.parse(line) as Record<string, number & string>;
}

const s = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
const gib = (bytes: number) => `${(bytes / GiB).toFixed(2)} GiB`;
const row = (label: string, value: string, note = "") =>
  process.stdout.write(`  ${label.padEnd(44)} ${value.padStart(14)}  ${note}\n`);

async function orchestrate(flags: Flags): Promise<void> {
  await mkdir(flags.work, { recursive: true });
  if (flags.unetOnly) child(flags, "prepare");
  const source = flags.unetOnly ? join(flags.dir, "unet") : flags.dir;
  const sourceBytes = await bytesUnder(source);
  if (flags.encodersOnly) return measureEncoders(flags);
  if (!flags.skipConvert) await measureConversion(flags, source, sourceBytes);
  await measureCalls(flags);
}

async function measureConversion(flags: Flags, source: string, sourceBytes: number): Promise<void> {
  process.stdout.write(`\nfloat16 conversion, ${source} (${gib(sourceBytes)}), device ${flags.device}\n`);
  // Warm the page cache, so both the copy and the conversion read from memory.
  spawnSync("cat", [join(source, flags.unetOnly ? "model.onnx_data" : "unet/model.onnx_data")], {
    stdio: "ignore",
  });
  const copyTarget = join(flags.work, "copy");
  await rm(copyTarget, { recursive: true, force: true });
  const copyStarted = performance.now();
  spawnSync("cp", ["-r", source, copyTarget]);
  spawnSync("sync");
  const copyMs = performance.now() - copyStarted;
  await rm(copyTarget, { recursive: true, force: true });
  const convertStarted = performance.now();
  const convert = child(flags, "convert");
  spawnSync("sync");
  const convertMs = performance.now() - convertStarted;
  const written = await bytesUnder(
    flags.unetOnly ? join(flags.work, "fp16", "unet") : join(flags.work, "fp16"),
  );
  row("cp of the same files (+ sync)", s(copyMs));
  row(
    "convert (+ sync; process start included)",
    s(convertMs),
    `${(convertMs / copyMs).toFixed(2)}x the copy (goal <= 1.5x)`,
  );
  row("peak RSS of the conversion", gib(convert.peakRss), "(goal <= 2 GB)");
  row(
    "float16 bytes / float32 bytes",
    `${gib(written)} / ${gib(sourceBytes)}`,
    `${(written / sourceBytes).toFixed(3)} (goal <= 0.52)`,
  );
}

async function measureEncoders(flags: Flags): Promise<void> {
  const r = child(flags, "encoders") as unknown as { results: Record<string, string> };
  process.stdout.write("\n  text encoders (full size), float16 vs float32, same ids\n");
  for (const [name, text] of Object.entries(r.results)) row(name, "", text);
}

async function measureCalls(flags: Flags): Promise<void> {
  for (const size of flags.sizes) {
    process.stdout.write(`\n  one UNet call at ${size}x${size}, batch 2 (CFG), ${flags.device}\n`);
    for (const dtype of ["fp32", "fp16"]) {
      const r = child(flags, `unet:${dtype}:${size}`);
      row(`${dtype} load`, s(r.loadMs), `RSS after load ${gib(r.rssAfterLoad)}`);
      row(
        `${dtype} step`,
        s(r.stepMs),
        `activation peak ${gib(r.peakRss - r.rssAfterLoad)}${r.finite ? "" : " NOT FINITE"}`,
      );
    }
    const output = async (dtype: string) => {
      const bytes = await readFile(join(flags.work, `out-${dtype}-${size}.f32`));
      return new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4);
    };
    const full = await output("fp32");
    const half = await output("fp16");
    row(
      "fp16 vs fp32 output, same inputs",
      `${relativeL2(half, full).toExponential(2)}`,
      `relative L2; max abs ${maxAbsDifference(half, full).toExponential(2)}`,
    );
  }
  if (existsSync(join(flags.dir, "vae_decoder", "model.onnx"))) {
    process.stdout.write("\n  VAE decoder, one image, float32\n");
    for (const size of flags.sizes) {
      const r = child(flags, `vae:${size}`);
      row(`${size}x${size} decode`, s(r.stepMs), `activation peak ${gib(r.peakRss - r.rssAfterLoad)}`);
    }
  }
}

const flags = parseFlags(process.argv.slice(2));
if (flags.task) await runTask(flags, flags.task);
else await orchestrate(flags);
