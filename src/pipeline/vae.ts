/**
 * The VAE at both ends of the pipeline: latents -> pixels (with a guard against the fp16
 * overflow of the original SDXL VAE) and pixels -> latents for img2img.
 */
import { DeviceFailureError, ModelFolderError } from "../errors.js";
import { showableRgb } from "./image/pixels.js";
import type { TorchGenerator } from "./noise/index.js";
import type { ModelSession } from "./onnx/session.js";
import { floatInput, floatOutput } from "./onnx/tensors.js";

export const LATENT_CHANNELS = 4;
export const VAE_SCALE = 8;

export class VaeDecoder {
  /**
   * @param fallback a float32 decoder tried when `primary` returns NaN/inf or a flat image
   *   (the fp16 overflow); without one such a result is an error, never a black image.
   */
  constructor(
    private readonly primary: ModelSession,
    private readonly scalingFactor: number,
    private readonly fallback?: ModelSession,
  ) {}

  /** Decodes one image's latents [1,4,h,w] to interleaved RGB bytes (8h x 8w). */
  async decode(latents: Float32Array, h: number, w: number): Promise<Uint8Array> {
    // Latents that are already invalid are not the decoder's overflow: no VAE would help.
    if (!latents.every(Number.isFinite)) {
      throw new DeviceFailureError("The model produced invalid values (numeric overflow) while denoising.");
    }
    const scaled = new Float32Array(latents.length);
    const factor = Math.fround(this.scalingFactor);
    for (let i = 0; i < latents.length; i++) scaled[i] = latents[i]! / factor;
    const height = h * VAE_SCALE;
    const width = w * VAE_SCALE;
    const rgb = showableRgb(await this.run(this.primary, scaled, h, w), height, width);
    if (rgb) return rgb;
    const retried = this.fallback && showableRgb(await this.run(this.fallback, scaled, h, w), height, width);
    if (retried) return retried;
    throw new DeviceFailureError(
      "The image decoder produced an invalid image (numeric overflow). Configure a float32 VAE to avoid it.",
    );
  }

  private async run(
    session: ModelSession,
    latents: Float32Array,
    h: number,
    w: number,
  ): Promise<Float32Array> {
    const out = await session.run(
      { latent_sample: floatInput(session.input("latent_sample"), latents, [1, LATENT_CHANNELS, h, w]) },
      [session.outputNames[0]!],
    );
    return floatOutput(out[session.outputNames[0]!]!, "sample");
  }
}

export class VaeEncoder {
  constructor(
    private readonly session: ModelSession,
    private readonly scalingFactor: number,
  ) {}

  /**
   * Pixels [1,3,H,W] in [-1,1] to scaled latents [1,4,H/8,W/8]. Exports either sample the latent
   * inside the graph (`latent_sample`) or return the distribution's mean and log-variance
   * (`latent_parameters`, 8 channels), which is sampled here like diffusers' latent_dist.sample.
   */
  async encode(
    pixels: Float32Array,
    height: number,
    width: number,
    generator: TorchGenerator,
  ): Promise<Float32Array> {
    const outName = this.session.outputNames[0]!;
    const out = await this.session.run(
      { sample: floatInput(this.session.input("sample"), pixels, [1, 3, height, width]) },
      [outName],
    );
    const raw = floatOutput(out[outName]!, outName);
    const plane = (height / VAE_SCALE) * (width / VAE_SCALE);
    const latentSize = LATENT_CHANNELS * plane;
    const factor = Math.fround(this.scalingFactor);
    const latents = new Float32Array(latentSize);
    const noise = generator.randn([1, LATENT_CHANNELS, height / VAE_SCALE, width / VAE_SCALE]);
    if (raw.length === latentSize) {
      // The export sampled inside the graph (unseeded); the draw above is still made, so the noise
      // img2img draws next is the same as diffusers' for this seed.
      for (let i = 0; i < latentSize; i++) latents[i] = Math.fround(factor * raw[i]!);
    } else if (raw.length === 2 * latentSize) {
      for (let i = 0; i < latentSize; i++) {
        const logVar = Math.min(Math.max(raw[latentSize + i]!, -30), 20);
        const std = Math.fround(Math.exp(0.5 * logVar));
        latents[i] = Math.fround(factor * Math.fround(raw[i]! + Math.fround(std * noise[i]!)));
      }
    } else {
      throw new ModelFolderError(
        this.session.path,
        `output ${outName} has ${raw.length} values; expected ${latentSize} or ${2 * latentSize}`,
      );
    }
    return latents;
  }
}
