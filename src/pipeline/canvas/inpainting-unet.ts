/**
 * A 9-channel inpainting UNet (e.g. stable-diffusion-xl-1.0-inpainting-0.1) as the denoising loop
 * sees any noise predictor: the loop writes the scaled 4-channel latents into `input`; each run
 * packs every row as [latents, mask, masked_image_latents] (diffusers' torch.cat(dim=1), the mask
 * and masked latents repeated for the guidance rows), which are written once.
 */
import type { NoisePredictor } from "../denoise.js";

/** Channels of an inpainting UNet's `sample` input. */
export const INPAINTING_CHANNELS = 9;

export class InpaintingUnet implements NoisePredictor {
  readonly input: Float32Array;
  private readonly rows: number;
  private readonly plane: number;
  private readonly latentSize: number;

  /**
   * @param inner the UNet, whose input holds rows × 9 × plane values
   * @param count images in the batch (rows are [uncond images; cond images] with guidance)
   * @param mask [h, w] latent mask, the same for every image
   * @param maskedImageLatents [count, 4, h, w]: each image's masked canvas, VAE-encoded and scaled
   */
  constructor(
    private readonly inner: NoisePredictor,
    count: number,
    mask: Float32Array,
    maskedImageLatents: Float32Array,
  ) {
    const plane = mask.length;
    this.plane = plane;
    this.latentSize = 4 * plane;
    this.rows = inner.input.length / (INPAINTING_CHANNELS * plane);
    if (
      !Number.isInteger(this.rows) ||
      this.rows % count !== 0 ||
      maskedImageLatents.length !== count * this.latentSize
    ) {
      throw new RangeError("inpainting UNet: the input, the mask and the masked latents do not match");
    }
    this.input = new Float32Array(this.rows * this.latentSize);
    for (let row = 0; row < this.rows; row++) {
      const image = row % count;
      const at = row * INPAINTING_CHANNELS * plane;
      inner.input.set(mask, at + this.latentSize);
      inner.input.set(
        maskedImageLatents.subarray(image * this.latentSize, (image + 1) * this.latentSize),
        at + this.latentSize + plane,
      );
    }
  }

  get guidance(): number | undefined {
    return this.inner.guidance;
  }

  run(timestep: number): Promise<Float32Array> {
    const rowSize = INPAINTING_CHANNELS * this.plane;
    for (let row = 0; row < this.rows; row++) {
      this.inner.input.set(
        this.input.subarray(row * this.latentSize, (row + 1) * this.latentSize),
        row * rowSize,
      );
    }
    return this.inner.run(timestep);
  }
}
