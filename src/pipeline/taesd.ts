/**
 * The tiny autoencoder's decoder (TAESDXL, madebyollin/taesdxl): SDXL latents to pixels with
 * 1.2 M parameters against the SDXL VAE decoder's 49.5 M (13x faster at 512², 30x at 1024² on the
 * CPU, bench/taesd.ts), for live previews and drafts.
 *
 * Facts of the model that decide how it is fed and read:
 * - Input: the latents as the UNet sees them, unscaled. TAESD's scaling factor is 1.0 (the SDXL
 *   VAE's 0.13025 does not apply); the decoder clamps them itself (tanh(x/3)·3). A diffusers
 *   config.json may state a `scaling_factor`; the latents are divided by it, as diffusers does.
 * - Output range depends on how the export was made, and is read from the folder's layout:
 *   - diffusers layout, `vae_decoder/model.onnx` (+ `config.json` of class AutoencoderTiny, as in
 *     julienkay/taesdxl): exported through diffusers' AutoencoderTiny, whose DecoderTiny ends with
 *     x·2 − 1, so the output is about [-1, 1] ("signed");
 *   - the original module's layout, `taesdxl_decoder.onnx` (madebyollin/taesd's taesd.py, which
 *     stops at the last convolution): about [0, 1] ("unit").
 * Pixels are then made exactly as for the SDXL VAE (clamp, ·255, numpy's rounding), from [-1, 1].
 */
import { readFile, stat } from "node:fs/promises";
import { join } from "node:path";
import { DeviceFailureError, ModelFolderError } from "../errors.js";
import { showableRgb, vaeOutputToRgb } from "./image/pixels.js";
import { ModelSession, type SessionClock, type SessionPlacement } from "./onnx/session.js";
import { floatInput, floatOutput } from "./onnx/tensors.js";

export const TINY_VAE_LATENT_CHANNELS = 4;
export const TINY_VAE_SCALE = 8;

/** "signed": the decoder gives about [-1, 1] (diffusers); "unit": about [0, 1] (taesd.py). */
export type TinyVaeOutputRange = "signed" | "unit";

/** Where the two known layouts keep the decoder, relative to the folder. */
export const TINY_VAE_DIFFUSERS_MODEL = join("vae_decoder", "model.onnx");
export const TINY_VAE_DIFFUSERS_CONFIG = join("vae_decoder", "config.json");
export const TINY_VAE_MODULE_MODEL = "taesdxl_decoder.onnx";

/** What a TAESD folder holds, read before any session loads. */
export interface TinyVaeFolder {
  dir: string;
  /** The decoder's .onnx. */
  model: string;
  outputRange: TinyVaeOutputRange;
  /** Latents are divided by this before decoding (1 for TAESD). */
  scalingFactor: number;
}

async function isFile(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isFile();
  } catch {
    return false;
  }
}

/** A diffusers vae_decoder/config.json: must describe an AutoencoderTiny; gives its scaling factor. */
async function readDiffusersConfig(path: string): Promise<number> {
  let config: unknown;
  try {
    config = JSON.parse(await readFile(path, "utf8"));
  } catch (error) {
    throw new ModelFolderError(path, `is not readable JSON (${(error as Error).message})`, { cause: error });
  }
  if (typeof config !== "object" || config === null || Array.isArray(config)) {
    throw new ModelFolderError(path, "is not a JSON object");
  }
  const fields = config as Record<string, unknown>;
  const className = fields._class_name;
  if (className !== undefined && className !== "AutoencoderTiny") {
    throw new ModelFolderError(
      path,
      `describes a ${String(className)}, not a tiny autoencoder (AutoencoderTiny); point EASEL_TAESD_DIR at a TAESDXL export`,
    );
  }
  const factor = fields.scaling_factor ?? 1;
  if (typeof factor !== "number" || !Number.isFinite(factor) || factor <= 0) {
    throw new ModelFolderError(
      path,
      `scaling_factor must be a positive number, got ${JSON.stringify(factor)}`,
    );
  }
  return factor;
}

/**
 * Finds the decoder in a TAESD folder and how to read its output. A missing folder, a folder with
 * neither layout, or a config of another model class is a ModelFolderError naming the path.
 */
export async function readTinyVaeFolder(dir: string): Promise<TinyVaeFolder> {
  let isDir = false;
  try {
    isDir = (await stat(dir)).isDirectory();
  } catch {
    throw new ModelFolderError(dir, "does not exist (the TAESD folder, EASEL_TAESD_DIR)");
  }
  if (!isDir) throw new ModelFolderError(dir, "is not a folder (the TAESD folder, EASEL_TAESD_DIR)");
  const diffusers = join(dir, TINY_VAE_DIFFUSERS_MODEL);
  if (await isFile(diffusers)) {
    const configPath = join(dir, TINY_VAE_DIFFUSERS_CONFIG);
    const scalingFactor = (await isFile(configPath)) ? await readDiffusersConfig(configPath) : 1;
    return { dir, model: diffusers, outputRange: "signed", scalingFactor };
  }
  const module = join(dir, TINY_VAE_MODULE_MODEL);
  if (await isFile(module)) return { dir, model: module, outputRange: "unit", scalingFactor: 1 };
  throw new ModelFolderError(
    dir,
    `holds no TAESD decoder: expected ${TINY_VAE_DIFFUSERS_MODEL} (diffusers export, e.g. easel pull taesdxl) or ${TINY_VAE_MODULE_MODEL}`,
  );
}

/**
 * Decoder output in the export's range → [-1, 1] as diffusers' DecoderTiny gives it: "signed"
 * output as is (no copy), "unit" output as x·2 − 1 in float32, so both layouts of the same network
 * give the same pixels.
 */
export function tinyVaeOutputToSigned(output: Float32Array, range: TinyVaeOutputRange): Float32Array {
  if (range === "signed") return output;
  const signed = new Float32Array(output.length);
  for (let i = 0; i < output.length; i++) signed[i] = Math.fround(output[i]! * 2) - 1;
  return signed;
}

/**
 * Decoder output [1, 3, H, W] (NCHW) → interleaved RGB bytes, or undefined when it holds NaN/inf
 * or is flat (an image that must not be posted).
 */
export function tinyVaeOutputToRgb(
  output: Float32Array,
  range: TinyVaeOutputRange,
  height: number,
  width: number,
): Uint8Array | undefined {
  return showableRgb(tinyVaeOutputToSigned(output, range), height, width);
}

/** The loaded decoder: one float input (latents [1, 4, h, w]) and one float output ([1, 3, 8h, 8w]). */
export class TinyVaeDecoder {
  private constructor(
    readonly folder: TinyVaeFolder,
    private readonly session: ModelSession,
    private readonly inputName: string,
    private readonly outputName: string,
  ) {}

  static async load(dir: string, placement: SessionPlacement, clock: SessionClock): Promise<TinyVaeDecoder> {
    const folder = await readTinyVaeFolder(dir);
    const session = await ModelSession.load(folder.model, placement, clock);
    try {
      const [input, ...moreInputs] = session.inputNames;
      const [output, ...moreOutputs] = session.outputNames;
      if (!input || !output || moreInputs.length > 0 || moreOutputs.length > 0) {
        throw new ModelFolderError(
          folder.model,
          `has inputs [${session.inputNames.join(", ")}] and outputs [${session.outputNames.join(", ")}]; a TAESD decoder has one of each`,
        );
      }
      for (const info of [session.input(input), session.output(output)]) {
        if (info.type !== "float32" && info.type !== "float16") {
          throw new ModelFolderError(
            folder.model,
            `${info.name} has element type ${info.type}; expected a float type`,
          );
        }
        if (info.shape.length !== 4) {
          throw new ModelFolderError(
            folder.model,
            `${info.name} has rank ${info.shape.length}; expected 4 (NCHW)`,
          );
        }
      }
      const channels = session.input(input).shape[1];
      if (typeof channels === "number" && channels !== TINY_VAE_LATENT_CHANNELS) {
        throw new ModelFolderError(
          folder.model,
          `takes ${channels} latent channels; SDXL latents have ${TINY_VAE_LATENT_CHANNELS}`,
        );
      }
      return new TinyVaeDecoder(folder, session, input, output);
    } catch (error) {
      await session.release();
      throw error;
    }
  }

  get device(): string {
    return this.session.device;
  }

  /** The decoder's raw output for one image's latents [1, 4, h, w]: [1, 3, 8h, 8w] in its own range. */
  async decodeRaw(latents: Float32Array, h: number, w: number): Promise<Float32Array> {
    const expected = TINY_VAE_LATENT_CHANNELS * h * w;
    if (latents.length !== expected) {
      throw new RangeError(`latents hold ${latents.length} values; [1, 4, ${h}, ${w}] needs ${expected}`);
    }
    let input = latents;
    if (this.folder.scalingFactor !== 1) {
      const factor = Math.fround(this.folder.scalingFactor);
      input = new Float32Array(latents.length);
      for (let i = 0; i < latents.length; i++) input[i] = latents[i]! / factor;
    }
    const out = await this.session.run(
      {
        [this.inputName]: floatInput(this.session.input(this.inputName), input, [
          1,
          TINY_VAE_LATENT_CHANNELS,
          h,
          w,
        ]),
      },
      [this.outputName],
    );
    const decoded = floatOutput(out[this.outputName]!, this.outputName);
    const pixels = 3 * h * TINY_VAE_SCALE * w * TINY_VAE_SCALE;
    if (decoded.length !== pixels) {
      throw new ModelFolderError(
        this.folder.model,
        `gave ${decoded.length} values for [1, 4, ${h}, ${w}] latents; expected [1, 3, ${8 * h}, ${8 * w}]`,
      );
    }
    return decoded;
  }

  /** One image's latents [1, 4, h, w] → interleaved RGB bytes (8h × 8w). */
  async decode(latents: Float32Array, h: number, w: number): Promise<Uint8Array> {
    if (!latents.every(Number.isFinite)) {
      throw new DeviceFailureError("The model produced invalid values (numeric overflow) while denoising.");
    }
    const rgb = tinyVaeOutputToRgb(
      await this.decodeRaw(latents, h, w),
      this.folder.outputRange,
      h * TINY_VAE_SCALE,
      w * TINY_VAE_SCALE,
    );
    if (!rgb) throw new DeviceFailureError("The draft decoder produced an invalid image (numeric overflow).");
    return rgb;
  }

  /** A preview: like `decode`, but never refuses (NaN shows black); previews are best effort. */
  async decodePreview(latents: Float32Array, h: number, w: number): Promise<Uint8Array> {
    const signed = tinyVaeOutputToSigned(await this.decodeRaw(latents, h, w), this.folder.outputRange);
    return vaeOutputToRgb(signed, 1, h * TINY_VAE_SCALE, w * TINY_VAE_SCALE)[0]!;
  }

  release(): Promise<void> {
    return this.session.release();
  }
}
