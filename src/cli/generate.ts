/**
 * `easel generate` and `easel refine`: one request straight through the SDXL pipeline. Settings a
 * flag leaves out come from config (EASEL_DEFAULT_STEPS, ...), as for the bots; the refiner is
 * opt-in here: it runs only with --refiner DIR (EASEL_REFINER_DIR is not read by these commands).
 * `--lora FILE[:SCALE]` (repeatable) merges LoRA files into the base model before it loads.
 */
import { mkdir } from "node:fs/promises";
import { extname, join } from "node:path";
import type { Command } from "commander";
import { bucketForAspect } from "../commands/aspect.js";
import { REFINE_STRENGTH } from "../commands/buttons.js";
import { type Config, loadConfig, loadConfigFromEnvironment } from "../config.js";
import { ensureDemoModel } from "../demo-model.js";
import { InvalidInputError } from "../errors.js";
import {
  describeFileError,
  readRegularFile,
  writeFileAtomically,
  writeFileAtomicallySync,
} from "../files.js";
import { createLogger } from "../logger.js";
import { CANVAS_STRENGTH, ZOOM_FACTORS } from "../pipeline/canvas/index.js";
import { MAX_SOURCE_BYTES } from "../pipeline/image/source.js";
import { loadPipeline } from "../pipeline/index.js";
import { describeReport, type LoraSelection } from "../pipeline/lora/merge.js";
import { encodeNpyFloat32 } from "../pipeline/npy.js";
import { DEVICE_NAME, DEVICE_NAMES_HINT } from "../pipeline/onnx/session.js";
import {
  type GenerateHooks,
  type GenerateParams,
  type GenerateResult,
  PREDICTION_TYPES,
  SCHEDULER_NAMES,
  TIMESTEP_SPACINGS,
} from "../pipeline/types.js";
import { checkPromptLength, LIMITS, validateGenerateParams } from "../pipeline/validate.js";
import {
  orList,
  parseChoice,
  parseInteger,
  parseNumber,
  parseSchedulerName,
  parseSeed,
  randomSeed,
} from "./args.js";
import { progressBar } from "./progress-bar.js";

interface SharedOptions {
  model?: string;
  refiner?: string;
  refinerSwitch?: string;
  prompt: string;
  negative?: string;
  seed?: string;
  steps?: string;
  guidance?: string;
  scheduler?: string;
  spacing?: string;
  prediction?: string;
  count?: string;
  subseed?: string;
  variationStrength?: string;
  out: string;
  latents?: string;
  device?: string;
  diffusersExclamation?: boolean;
  previews?: string;
  previewEvery?: string;
  lora: string[];
  draft?: boolean;
}

/** LoRA scales beyond this only break images; negative scales (slider LoRAs) are allowed. */
export const MAX_LORA_SCALE = 4;

/**
 * "style.safetensors:0.8" → { path, scale: 0.8 }; without a ":number" suffix the scale is 1 (so a
 * path with a colon, such as C:\loras\x.safetensors, stays whole).
 */
export function parseLoraFlag(value: string): LoraSelection {
  const match = /^(.+):([^:\\/]*)$/.exec(value);
  const scaleText = match && /^[-+]?[\d.]/.test(match[2]!) ? match[2]! : undefined;
  const path = scaleText !== undefined ? match![1]! : value;
  const scale = scaleText !== undefined ? parseNumber(scaleText, "--lora scale") : 1;
  if (path.length === 0) throw new InvalidInputError(`--lora needs a file; got "${value}".`, "lora");
  if (!Number.isFinite(scale) || Math.abs(scale) > MAX_LORA_SCALE) {
    throw new InvalidInputError(
      `--lora scale must be from -${MAX_LORA_SCALE} to ${MAX_LORA_SCALE}; got ${scaleText}.`,
      "lora",
    );
  }
  return { path, scale };
}

/** The built-in defaults, shown in help beside the variable that overrides them. */
const builtIn = loadConfig({});
const sideHelp = `a multiple of ${LIMITS.sideMultiple} in ${LIMITS.minSide}-${LIMITS.maxSide}`;

function addSharedOptions(command: Command): Command {
  const g = builtIn.generation;
  return command
    .requiredOption("--prompt <text>", "what to draw")
    .option("--negative <text>", "what to keep out of the image")
    .option("--model <dir>", "SDXL base ONNX folder (default: EASEL_MODEL_DIR, else the demo model)")
    .option("--refiner <dir>", "SDXL refiner ONNX folder; the refiner runs only when this is given")
    .option(
      "--refiner-switch <fraction>",
      `share of the schedule the base runs before the refiner (default: EASEL_REFINER_SWITCH, ${g.refinerSwitch})`,
    )
    .option("--seed <n>", "64-bit seed (default: random, printed)")
    .option(
      "--steps <n>",
      `denoising steps, 1-${LIMITS.maxSteps} (default: EASEL_DEFAULT_STEPS, ${g.defaultSteps})`,
    )
    .option(
      "--guidance <g>",
      `classifier-free guidance scale, 0-${LIMITS.maxGuidance} (default: EASEL_DEFAULT_GUIDANCE, ${g.defaultGuidance})`,
    )
    .option(
      "--scheduler <name>",
      `one of ${SCHEDULER_NAMES.join(", ")} (default: EASEL_DEFAULT_SCHEDULER, ${g.defaultScheduler})`,
    )
    .option(
      "--spacing <kind>",
      `replace the model's timestep_spacing: ${orList(TIMESTEP_SPACINGS)} (trailing for SDXL-Turbo, Lightning, Hyper-SD)`,
    )
    .option(
      "--prediction <type>",
      `replace the model's prediction_type: ${orList(PREDICTION_TYPES)} (sample for SDXL-Lightning 1-step)`,
    )
    .option("--count <n>", `images, 1-${LIMITS.maxCount} (image i uses seed + i)`, "1")
    .option("--subseed <n>", "variation seed blended into the seed's noise")
    .option("--variation-strength <x>", "0 = the seed's image, 1 = the subseed's", "0")
    .option("--latents <file.npy>", "also write the final latents (before the VAE) as float32 .npy")
    .option(
      "--device <name>",
      `cpu, cuda:N or webgpu (default: the first of EASEL_DEVICES, ${builtIn.devices[0]})`,
    )
    .option(
      "--previews <dir>",
      "write live previews into this folder (latent-space JPEGs, or tiny-VAE ones per EASEL_TAESD_PREVIEWS)",
    )
    .option("--preview-every <k>", "with --previews: one preview every k steps", "5")
    .option("--draft", "decode the final image with the tiny VAE (EASEL_TAESD_DIR): faster, softer detail")
    .option(
      "--lora <file[:scale]>",
      "merge a LoRA (.safetensors, kohya or diffusers keys) into the model, at scale 1 unless given; repeatable",
      (value: string, previous: string[]) => [...previous, value],
      [] as string[],
    )
    .option(
      "--diffusers-exclamation",
      "tokenize a typed ! as diffusers' tokenizer_2 does (id 0); also EASEL_OPENCLIP_EXCLAMATION=false",
    );
}

/**
 * The checks that come before anything is read or loaded: prompt lengths (a huge argument can
 * crash onnxruntime's native model loading) and the device name.
 */
function checkFlags(options: SharedOptions): void {
  checkPromptLength(options.prompt, LIMITS.maxPromptLength, "prompt", "prompt");
  if (options.negative !== undefined) {
    checkPromptLength(options.negative, LIMITS.maxPromptLength, "negative", "negative prompt");
  }
  if (options.device !== undefined && !DEVICE_NAME.test(options.device)) {
    throw new InvalidInputError(
      `--device must be ${DEVICE_NAMES_HINT} (as in EASEL_DEVICES); got "${options.device}".`,
      "device",
    );
  }
}

/** Writes a file the user asked for, whole or not at all; the error names the path. */
async function writeOutput(path: string, data: Uint8Array): Promise<void> {
  try {
    await writeFileAtomically(path, data);
  } catch (error) {
    throw new Error(`could not write ${path}: ${describeFileError(error)}`, { cause: error });
  }
}

/** The request the flags describe; what they leave out comes from `config`. */
function paramsOf(
  options: SharedOptions,
  size: { width: number; height: number },
  config: Config,
): GenerateParams {
  const g = config.generation;
  const subseed = options.subseed !== undefined ? parseSeed(options.subseed, "--subseed") : undefined;
  return {
    prompt: options.prompt,
    ...(options.negative !== undefined ? { negativePrompt: options.negative } : {}),
    ...size,
    seed: options.seed !== undefined ? parseSeed(options.seed) : randomSeed(),
    steps: options.steps !== undefined ? parseInteger(options.steps, "--steps") : g.defaultSteps,
    guidance:
      options.guidance !== undefined ? parseNumber(options.guidance, "--guidance") : g.defaultGuidance,
    scheduler: options.scheduler !== undefined ? parseSchedulerName(options.scheduler) : g.defaultScheduler,
    ...(options.spacing !== undefined
      ? { spacing: parseChoice(options.spacing, TIMESTEP_SPACINGS, "--spacing") }
      : {}),
    ...(options.prediction !== undefined
      ? { prediction: parseChoice(options.prediction, PREDICTION_TYPES, "--prediction") }
      : {}),
    count: parseInteger(options.count ?? "1", "--count"),
    ...(options.draft ? { draft: true } : {}),
    ...(options.refiner
      ? {
          refiner: {
            switchAt:
              options.refinerSwitch !== undefined
                ? parseNumber(options.refinerSwitch, "--refiner-switch")
                : g.refinerSwitch,
          },
        }
      : {}),
    ...(subseed !== undefined
      ? {
          variation: {
            subseed,
            strength: parseNumber(options.variationStrength ?? "0", "--variation-strength"),
          },
        }
      : {}),
  };
}

/** out.png -> [out.png] for one image, [out-1.png, out-2.png, ...] for several. */
export function outputPaths(out: string, count: number): string[] {
  if (count === 1) return [out];
  const extension = extname(out) || ".png";
  const stem = out.slice(0, out.length - extname(out).length);
  return Array.from({ length: count }, (_, i) => `${stem}-${i + 1}${extension}`);
}

/** The progress bar (on a terminal) and, with --previews, preview files step-001.jpg, ... */
async function progressHooks(options: SharedOptions): Promise<GenerateHooks> {
  const bar = progressBar();
  const folder = options.previews;
  if (!folder) return bar ? { onProgress: bar } : {};
  const every = parseInteger(options.previewEvery ?? "5", "--preview-every");
  if (every < 1) throw new InvalidInputError("--preview-every must be at least 1.", "previewEvery");
  await mkdir(folder, { recursive: true });
  return {
    previewEvery: every,
    onProgress: (progress) => {
      bar?.(progress);
      if (!progress.preview) return;
      const extension = progress.preview.mime === "image/jpeg" ? "jpg" : progress.preview.mime.split("/")[1];
      const name = `step-${String(progress.step).padStart(3, "0")}.${extension}`;
      // Synchronous, so every preview is on disk when the command ends; they are a few KiB each.
      writeFileAtomicallySync(join(folder, name), progress.preview.data);
    },
  };
}

async function run(options: SharedOptions, params: GenerateParams, config: Config): Promise<void> {
  // Bad flags are reported before the (possibly multi-gigabyte) models load.
  validateGenerateParams(params);
  const loras = options.lora.map(parseLoraFlag);
  if (options.model === undefined && config.demoModel) {
    process.stderr.write("using the demo model (EASEL_MODEL_DIR is unset): images are noise\n");
    await ensureDemoModel(config, createLogger({ logLevel: "warn" }));
  }
  if (params.draft && !config.taesd.dir) {
    throw new InvalidInputError(
      "--draft needs a tiny VAE: set EASEL_TAESD_DIR (easel pull taesdxl writes one).",
      "draft",
    );
  }
  const pipeline = await loadPipeline({
    modelDir: options.model ?? config.modelDir,
    ...(options.refiner ? { refinerDir: options.refiner } : {}),
    device: options.device ?? config.devices[0]!,
    intraOpThreads: config.ort.intraOpThreads,
    webgpu: config.ort.webgpu,
    exclamationAsPad: options.diffusersExclamation === true || !config.generation.openClipExclamation,
    ...(config.vaeFallback ? { vaeFallback: config.vaeFallback } : {}),
    ...(config.textEncoderDevice ? { textEncoderDevice: config.textEncoderDevice } : {}),
    ...(loras.length > 0 ? { loras } : {}),
    ...(config.taesd.dir ? { tinyVaeDir: config.taesd.dir, tinyVaePreviews: config.taesd.previews } : {}),
  });
  try {
    for (const report of pipeline.loraReports) process.stderr.write(`${describeReport(report)}\n`);
    process.stderr.write(`seed ${params.seed}\n`);
    const result: GenerateResult = await pipeline.generate(params, await progressHooks(options));
    const paths = outputPaths(options.out, result.images.length);
    await Promise.all(result.images.map((image, i) => writeOutput(paths[i]!, image.data)));
    if (options.latents) {
      const first = result.images[0]!;
      const shape = [result.images.length, 4, first.height / 8, first.width / 8];
      await writeOutput(options.latents, encodeNpyFloat32(result.latents, shape));
    }
    for (const [i, image] of result.images.entries()) {
      process.stdout.write(`${paths[i]}  seed ${image.seed}  ${image.width}x${image.height}\n`);
    }
    const t = result.timings;
    const unet = t.unet
      ? `, ${t.unet.runs} UNet run${t.unet.runs === 1 ? "" : "s"} at batch ${t.unet.batch}`
      : "";
    process.stderr.write(
      `${(t.totalMs / 1000).toFixed(2)}s total, ${(t.sessionMs / 1000).toFixed(2)}s in ONNX sessions${unet}\n`,
    );
  } finally {
    await pipeline.dispose();
  }
}

type RefineOptions = SharedOptions & { image: string; strength?: string; upscale: string; zoom?: string };

export function registerGenerateCommands(program: Command): void {
  addSharedOptions(program.command("generate").description("text to image"))
    .option("--width <px>", `image width, ${sideHelp}`)
    .option("--height <px>", `image height, ${sideHelp}`)
    .option("--aspect <w:h>", "aspect ratio, mapped to the nearest SDXL bucket (e.g. 16:9)")
    .option("--out <file.png>", "output file", "out.png")
    .action(async (options: SharedOptions & { width?: string; height?: string; aspect?: string }) => {
      checkFlags(options);
      if (options.aspect && (options.width || options.height)) {
        throw new InvalidInputError("Give either --aspect or --width/--height, not both.", "aspect");
      }
      const bucket = options.aspect ? bucketForAspect(options.aspect) : undefined;
      if (options.aspect && !bucket) {
        throw new InvalidInputError(`--aspect must look like 16:9; got "${options.aspect}".`, "aspect");
      }
      const size = bucket
        ? { width: bucket.width, height: bucket.height }
        : {
            width: parseInteger(options.width ?? "1024", "--width"),
            height: parseInteger(options.height ?? "1024", "--height"),
          };
      const config = await loadConfigFromEnvironment();
      await run(options, paramsOf(options, size, config), config);
    });

  addSharedOptions(
    program.command("refine").description("refine (img2img) an existing image, optionally upscaled first"),
  )
    .requiredOption("--image <file>", "PNG, JPEG or WebP image to refine")
    .option(
      "--strength <x>",
      `how much of the schedule to re-run, in (0, 1] (default ${REFINE_STRENGTH}; ${CANVAS_STRENGTH.zoom_out} with --zoom)`,
    )
    .option("--upscale <factor>", `${orList(LIMITS.upscaleFactors)}, applied before refining`, "1")
    .option(
      "--zoom <factor>",
      `zoom out by ${ZOOM_FACTORS.min}-${ZOOM_FACTORS.max}: the image shrunk into the middle, the border painted`,
    )
    .option("--out <file.png>", "output file", "refined.png")
    .action(async (options: RefineOptions) => {
      checkFlags(options);
      const factor = parseNumber(options.upscale, "--upscale");
      const upscale = LIMITS.upscaleFactors.find((allowed) => allowed === factor);
      if (upscale === undefined) {
        throw new InvalidInputError(
          `--upscale must be ${orList(LIMITS.upscaleFactors)}; got ${options.upscale}.`,
          "upscale",
        );
      }
      const image = await readRegularFile(options.image, MAX_SOURCE_BYTES, "image");
      const config = await loadConfigFromEnvironment();
      // The size comes from the image; these placeholders only pass validation. With --refiner the
      // refiner model refines the image (img2img has no hand-over point), else the base does
      // (always with --zoom: the pipeline runs canvas actions on the base model alone).
      const params = paramsOf(options, { width: 1024, height: 1024 }, config);
      const zoom = options.zoom === undefined ? undefined : parseNumber(options.zoom, "--zoom");
      const strength =
        options.strength !== undefined
          ? parseNumber(options.strength, "--strength")
          : zoom !== undefined
            ? CANVAS_STRENGTH.zoom_out
            : REFINE_STRENGTH;
      params.source = { image, strength, upscale };
      if (zoom !== undefined) params.canvas = { kind: "zoom_out", factor: zoom };
      await run(options, params, config);
    });
}
