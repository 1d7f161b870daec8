/**
 * Reading an SDXL ONNX export folder (the layout `optimum-cli export onnx` writes): which
 * components it has, where their files are, and the few config values the pipeline needs.
 * Every problem names the file and what was expected.
 */
import { access, readFile } from "node:fs/promises";
import { join } from "node:path";
import { ModelFolderError } from "../errors.js";

export interface ModelFolder {
  dir: string;
  /** "refiner" folders have only text_encoder_2 and take aesthetic-score time ids. */
  kind: "base" | "refiner";
  textEncoder: string | undefined;
  textEncoder2: string;
  unet: string;
  vaeDecoder: string;
  vaeEncoder: string | undefined;
  tokenizerDir: string | undefined;
  tokenizer2Dir: string;
  schedulerConfig: unknown;
  vaeScalingFactor: number;
  /** Base: a missing negative prompt means zero embeddings (model_index.json). */
  forceZerosForEmptyPrompt: boolean;
  /** Refiner: time ids end with an aesthetic score instead of the target size. */
  requiresAestheticsScore: boolean;
}

const SDXL_PIPELINES = new Set([
  "StableDiffusionXLPipeline",
  "StableDiffusionXLImg2ImgPipeline",
  "ORTStableDiffusionXLPipeline",
  "ORTStableDiffusionXLImg2ImgPipeline",
]);
const SDXL_VAE_SCALING_FACTOR = 0.13025;

async function exists(path: string): Promise<boolean> {
  try {
    await access(path);
    return true;
  } catch {
    return false;
  }
}

async function readJson(path: string, what: string): Promise<Record<string, unknown>> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch {
    throw new ModelFolderError(path, `is missing (expected ${what})`);
  }
  try {
    const value: unknown = JSON.parse(text);
    if (value && typeof value === "object" && !Array.isArray(value)) return value as Record<string, unknown>;
  } catch {
    // reported below
  }
  throw new ModelFolderError(path, `is not valid JSON (expected ${what})`);
}

/** A component is declared when model_index.json names it with a non-null class. */
function declared(index: Record<string, unknown>, name: string): boolean {
  const entry = index[name];
  return Array.isArray(entry) && entry[0] !== null && entry[1] !== null;
}

async function requireFile(path: string, what: string): Promise<string> {
  if (!(await exists(path))) throw new ModelFolderError(path, `is missing (expected ${what})`);
  return path;
}

async function readScalingFactor(dir: string): Promise<number> {
  for (const folder of ["vae_decoder", "vae"]) {
    const path = join(dir, folder, "config.json");
    if (!(await exists(path))) continue;
    const factor = (await readJson(path, "the VAE config")).scaling_factor;
    if (factor === undefined) return SDXL_VAE_SCALING_FACTOR;
    if (typeof factor !== "number" || !(factor > 0)) {
      throw new ModelFolderError(path, "has a scaling_factor that is not a positive number");
    }
    return factor;
  }
  return SDXL_VAE_SCALING_FACTOR;
}

export async function readModelFolder(dir: string): Promise<ModelFolder> {
  if (!(await exists(dir)))
    throw new ModelFolderError(dir, "does not exist (expected an SDXL ONNX model folder)");
  const indexPath = join(dir, "model_index.json");
  const index = await readJson(indexPath, "the pipeline's model_index.json");
  const className = String(index._class_name ?? "");
  if (!SDXL_PIPELINES.has(className)) {
    throw new ModelFolderError(
      indexPath,
      `describes "${className || "an unknown pipeline"}", not an SDXL pipeline (StableDiffusionXLPipeline or StableDiffusionXLImg2ImgPipeline)`,
    );
  }
  const hasTextEncoder = declared(index, "text_encoder");
  const requiresAestheticsScore = index.requires_aesthetics_score === true;
  const kind = hasTextEncoder ? "base" : "refiner";
  const onnx = (folder: string, what: string) => requireFile(join(dir, folder, "model.onnx"), what);
  const tokenizerFiles = async (folder: string) => {
    await requireFile(join(dir, folder, "vocab.json"), "the CLIP vocabulary");
    await requireFile(join(dir, folder, "merges.txt"), "the CLIP BPE merges");
    return join(dir, folder);
  };
  const schedulerPath = join(dir, "scheduler", "scheduler_config.json");
  const vaeEncoderPath = join(dir, "vae_encoder", "model.onnx");
  return {
    dir,
    kind,
    textEncoder: hasTextEncoder ? await onnx("text_encoder", "the CLIP ViT-L text encoder") : undefined,
    textEncoder2: await onnx("text_encoder_2", "the OpenCLIP bigG text encoder"),
    unet: await onnx("unet", "the UNet"),
    vaeDecoder: await onnx("vae_decoder", "the VAE decoder"),
    vaeEncoder: (await exists(vaeEncoderPath)) ? vaeEncoderPath : undefined,
    tokenizerDir: hasTextEncoder ? await tokenizerFiles("tokenizer") : undefined,
    tokenizer2Dir: await tokenizerFiles("tokenizer_2"),
    schedulerConfig: await readJson(schedulerPath, "the scheduler config"),
    vaeScalingFactor: await readScalingFactor(dir),
    forceZerosForEmptyPrompt:
      typeof index.force_zeros_for_empty_prompt === "boolean"
        ? index.force_zeros_for_empty_prompt
        : kind === "base",
    requiresAestheticsScore,
  };
}
