/**
 * Which repository `easel pull` fetches and which of its files: the presets, repository ids, the
 * default folder, and the filter that keeps only the files the SDXL pipeline reads (the ONNX export
 * and its configs, never the PyTorch, safetensors, Flax or OpenVINO weights beside them).
 */
import { join } from "node:path";
import { InvalidInputError } from "../errors.js";
import type { PresetName } from "../models/presets.js";

export interface RepoPreset {
  repo: string;
  /** Folder name under models/. */
  folder: string;
  description: string;
  /** What the repository holds: an SDXL export (default) or a tiny-VAE decoder (TAESD). */
  kind?: "sdxl" | "taesd";
  /** The model preset `easel pull` writes into the folder's easel.json (distilled models). */
  modelPreset?: PresetName;
}

export const PRESETS: Readonly<Record<string, RepoPreset>> = {
  "sdxl-base": {
    repo: "stabilityai/stable-diffusion-xl-base-1.0",
    folder: "sdxl-base",
    description: "SDXL base 1.0 (float32 ONNX export, about 14 GB)",
  },
  "sdxl-refiner": {
    repo: "stabilityai/stable-diffusion-xl-refiner-1.0",
    folder: "sdxl-refiner",
    description: "SDXL refiner 1.0 (float32 ONNX export)",
  },
  "sdxl-turbo": {
    repo: "stabilityai/sdxl-turbo",
    folder: "sdxl-turbo",
    description: "SDXL-Turbo: 512x512 in 1-4 steps without guidance (ONNX export)",
    modelPreset: "sdxl-turbo",
  },
  taesdxl: {
    // A community ONNX export of madebyollin/taesdxl through diffusers' AutoencoderTiny:
    // vae_decoder/model.onnx (~5 MB) and its config; output in [-1, 1].
    repo: "julienkay/taesdxl",
    folder: "taesdxl",
    description: "TAESDXL tiny VAE decoder for previews and drafts (ONNX, about 5 MB)",
    kind: "taesd",
  },
};

/** owner/name as the Hub spells repository ids (letters, digits, `-`, `_`, `.`; no `..`). */
const REPO_ID = /^[A-Za-z0-9][A-Za-z0-9_.-]*\/[A-Za-z0-9][A-Za-z0-9_.-]*$/;

export interface RepoTarget {
  repo: string;
  /** Present for a repository that is not an SDXL export. */
  kind?: "taesd";
  /** models/<preset or repository name>. */
  defaultDir: string;
  /** A known repository's model preset, for its easel.json. */
  modelPreset?: PresetName;
}

const withPreset = (preset: RepoPreset | undefined) =>
  preset?.modelPreset ? { modelPreset: preset.modelPreset } : {};

/** A preset name or a full repository id → the repository and its default folder. */
export function resolveRepo(spec: string): RepoTarget {
  const preset = PRESETS[spec];
  if (preset) {
    return {
      repo: preset.repo,
      ...(preset.kind === "taesd" ? { kind: preset.kind } : {}),
      defaultDir: join("models", preset.folder),
      ...withPreset(preset),
    };
  }
  if (!REPO_ID.test(spec) || spec.includes("..")) {
    throw new InvalidInputError(
      `"${spec}" is neither a preset (${Object.keys(PRESETS).join(", ")}) nor a repository id like owner/name.`,
      "repo",
    );
  }
  // A known repository named by its id gets its preset too.
  const known = Object.values(PRESETS).find((entry) => entry.repo.toLowerCase() === spec.toLowerCase());
  return { repo: spec, defaultDir: join("models", spec.split("/")[1]!), ...withPreset(known) };
}

/** Folders whose ONNX models and configs the pipeline loads. */
const MODEL_FOLDERS = new Set(["text_encoder", "text_encoder_2", "unet", "vae_decoder", "vae_encoder"]);
const TOKENIZER_FOLDERS = new Set(["tokenizer", "tokenizer_2"]);
const MODEL_FILE = /\.(onnx|onnx_data|json)$/;
const TOKENIZER_FILE = /\.(json|txt)$/;
/** A path segment we are willing to create on disk. */
const SAFE_SEGMENT = /^[A-Za-z0-9_][A-Za-z0-9_.-]*$/;

/** Whether the pipeline reads this repository path (and it is safe to write under the folder). */
export function isPipelineFile(path: string): boolean {
  const segments = path.split("/");
  if (segments.some((segment) => !SAFE_SEGMENT.test(segment) || segment.includes(".."))) return false;
  if (segments.length === 1) return path === "model_index.json";
  if (segments.length !== 2) return false;
  const [folder, file] = segments as [string, string];
  if (folder === "scheduler") return file.endsWith(".json");
  if (TOKENIZER_FOLDERS.has(folder)) return TOKENIZER_FILE.test(file);
  return MODEL_FOLDERS.has(folder) && MODEL_FILE.test(file);
}

/** Files an SDXL ONNX export cannot do without; their absence means "not an ONNX export". */
export const REQUIRED_FILES = [
  "model_index.json",
  "scheduler/scheduler_config.json",
  "tokenizer_2/vocab.json",
  "tokenizer_2/merges.txt",
  "text_encoder_2/model.onnx",
  "unet/model.onnx",
  "vae_decoder/model.onnx",
] as const;

/** The files of a TAESD repository the tiny-VAE decoder reads (never its encoder or PyTorch weights). */
const TINY_VAE_FILES = new Set([
  "vae_decoder/model.onnx",
  "vae_decoder/model.onnx_data",
  "vae_decoder/config.json",
  "taesdxl_decoder.onnx",
]);

export function isTinyVaeFile(path: string): boolean {
  return TINY_VAE_FILES.has(path);
}

/** A TAESD repository needs one of these decoders. */
export const TINY_VAE_DECODERS = ["vae_decoder/model.onnx", "taesdxl_decoder.onnx"] as const;
