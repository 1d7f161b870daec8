/**
 * `easel convert --dtype float16`: a float16 copy of an SDXL model folder. The UNet and the text
 * encoders get float16 weights (streamed, see model-file.ts); the VAE stays float32 (the SDXL
 * VAE overflows in float16) unless an fp16-safe VAE folder is given, which is then converted in
 * its place. Every other file is copied. The result is written to a temporary folder beside the
 * destination and renamed into place when complete; the source is only read. It records what it
 * is in `easel-convert.json` beside model_index.json.
 */
import { cp, mkdir, mkdtemp, readdir, rename, rm, stat, writeFile } from "node:fs/promises";
import { basename, dirname, join, resolve } from "node:path";
import { InvalidInputError } from "../../errors.js";
import { readModelFolder } from "../model-folder.js";
import { readModelWeights } from "../onnx/parameters.js";
import { FLOAT32_OPERATORS, type IoType } from "./graph.js";
import { convertModelFile, type ModelFileConversion } from "./model-file.js";

/** The record a converted folder carries beside model_index.json. */
export const CONVERSION_RECORD = "easel-convert.json";

/** Components converted to float16; the VAE's are converted only from an fp16-safe VAE. */
const FLOAT16_COMPONENTS = ["text_encoder", "text_encoder_2", "unet"] as const;
const VAE_COMPONENTS = ["vae_decoder", "vae_encoder"] as const;

export interface ConvertFolderOptions {
  dtype: "float16";
  /** Element type of the models' float inputs and outputs; "float32" (keep-IO) by default. */
  io?: IoType;
  /** A folder with an fp16-safe SDXL VAE export (vae_decoder/, optionally vae_encoder/). */
  fp16SafeVae?: string;
  /** easel's version, recorded in easel-convert.json. */
  toolVersion: string;
  /** Called as each component starts. */
  onComponent?: (name: string) => void;
  /** The time recorded; default now. */
  now?: Date;
}

export interface ComponentConversion {
  name: string;
  dtype: "float16" | "float32";
  sourceBytes: number;
  writtenBytes: number;
  parameters: number;
  /** Nodes kept in float32, by operator. */
  float32Nodes?: Record<string, number>;
}

export interface ConversionRecord {
  source: string;
  dtype: "float16";
  io: IoType;
  date: string;
  tool: string;
  toolVersion: string;
  vae: string;
  float32Operators: readonly string[];
  components: ComponentConversion[];
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}

/** Copies a component folder except its model files, which the caller writes. */
async function copyBesideModel(from: string, to: string, skip: ReadonlySet<string>): Promise<void> {
  await mkdir(to, { recursive: true });
  for (const name of await readdir(from)) {
    if (skip.has(name)) continue;
    await cp(join(from, name), join(to, name), { recursive: true });
  }
}

async function convertComponent(
  sourceDir: string,
  outDir: string,
  name: string,
  io: IoType,
): Promise<ComponentConversion> {
  const modelPath = join(sourceDir, "model.onnx");
  const weights = await readModelWeights(modelPath);
  const skip = new Set(["model.onnx", ...weights.external.map((file) => basename(file.path))]);
  await copyBesideModel(sourceDir, outDir, skip);
  const converted: ModelFileConversion = await convertModelFile(modelPath, outDir, io);
  return {
    name,
    dtype: "float16",
    sourceBytes: converted.sourceBytes,
    writtenBytes: converted.writtenBytes,
    parameters: converted.parameters,
    float32Nodes: converted.float32Nodes,
  };
}

async function copyComponent(sourceDir: string, outDir: string, name: string): Promise<ComponentConversion> {
  await cp(sourceDir, outDir, { recursive: true });
  const weights = await readModelWeights(join(outDir, "model.onnx"));
  const bytes =
    (await stat(join(outDir, "model.onnx"))).size +
    weights.external.reduce((s, f) => s + (f.actualBytes ?? 0), 0);
  return { name, dtype: "float32", sourceBytes: bytes, writtenBytes: bytes, parameters: weights.parameters };
}

/** Writes the float16 folder `out` from the SDXL folder `source`; returns what it recorded. */
export async function convertModelFolder(
  source: string,
  out: string,
  options: ConvertFolderOptions,
): Promise<ConversionRecord> {
  if (options.dtype !== "float16") {
    throw new InvalidInputError(`--dtype must be float16, got "${String(options.dtype)}".`, "dtype");
  }
  const io = options.io ?? "float32";
  await readModelFolder(source);
  if (options.fp16SafeVae && !(await exists(join(options.fp16SafeVae, "vae_decoder", "model.onnx")))) {
    throw new InvalidInputError(
      `${options.fp16SafeVae} has no vae_decoder/model.onnx (expected an fp16-safe SDXL VAE export).`,
      "fp16-safe-vae",
    );
  }
  if (resolve(source) === resolve(out)) {
    throw new InvalidInputError("The converted folder must be a new folder, not the source.", "out");
  }
  if (await exists(out)) throw new InvalidInputError(`${out} already exists; choose a new folder.`, "out");
  await mkdir(dirname(resolve(out)), { recursive: true });
  const staging = await mkdtemp(join(dirname(resolve(out)), `.${basename(out)}.partial-`));
  try {
    const components: ComponentConversion[] = [];
    for (const entry of await readdir(source, { withFileTypes: true })) {
      const from = join(source, entry.name);
      const to = join(staging, entry.name);
      const isModel = entry.isDirectory() && (await exists(join(from, "model.onnx")));
      if (isModel && (FLOAT16_COMPONENTS as readonly string[]).includes(entry.name)) {
        options.onComponent?.(entry.name);
        components.push(await convertComponent(from, to, entry.name, io));
      } else if (isModel && (VAE_COMPONENTS as readonly string[]).includes(entry.name)) {
        options.onComponent?.(entry.name);
        const safe = options.fp16SafeVae ? join(options.fp16SafeVae, entry.name) : undefined;
        components.push(
          safe && (await exists(join(safe, "model.onnx")))
            ? await convertComponent(safe, to, entry.name, io)
            : await copyComponent(from, to, entry.name),
        );
      } else if (entry.name !== CONVERSION_RECORD) {
        await cp(from, to, { recursive: true });
      }
    }
    const record: ConversionRecord = {
      source: resolve(source),
      dtype: "float16",
      io,
      date: (options.now ?? new Date()).toISOString(),
      tool: "easel convert",
      toolVersion: options.toolVersion,
      vae: options.fp16SafeVae
        ? `float16, from the fp16-safe VAE in ${resolve(options.fp16SafeVae)}`
        : "float32, as in the source (the SDXL VAE overflows in float16)",
      float32Operators: FLOAT32_OPERATORS,
      components,
    };
    await writeFile(join(staging, CONVERSION_RECORD), `${JSON.stringify(record, null, 2)}\n`);
    await rename(staging, out);
    return record;
  } catch (error) {
    await rm(staging, { recursive: true, force: true });
    throw error;
  }
}
