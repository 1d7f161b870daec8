/**
 * One UNet run per denoising step, on both halves of the guidance batch. For float32 models every latent-sized buffer
 * and tensor is allocated once per request and reused across steps (the UNet writes into a
 * preallocated output); only a scalar timestep tensor is made per step. A float16 model's output
 * is converted to float32 once per step.
 */
import * as ort from "onnxruntime-node";
import { ModelFolderError } from "../errors.js";
import type { ModelSession, TensorInfo } from "./onnx/session.js";
import { floatInput, floatOutput, integerInput, writeFloatInto } from "./onnx/tensors.js";

export interface UnetConditioning {
  /** Rows of encoder_hidden_states, text_embeds and time_ids, already in batch order. */
  hidden: Float32Array;
  pooled: Float32Array;
  timeIds: Float32Array;
  /** Sequence length of encoder_hidden_states (77 per chunk). */
  tokens: number;
}

export class GuidedUnet {
  private readonly rows: number;
  private readonly sample: ort.Tensor;
  private readonly sampleData: Float32Array;
  private readonly feeds: Record<string, ort.Tensor>;
  private readonly output: ort.Tensor | undefined;
  private readonly timestepInfo: TensorInfo;
  /** Evaluations so far. */
  runs = 0;

  constructor(
    private readonly session: ModelSession,
    count: number,
    latentShape: readonly [number, number, number],
    conditioning: UnetConditioning,
    readonly guidance: number | undefined,
    /** Channels of the `sample` input when they differ from the output's (9 for an inpainting UNet). */
    inputChannels = latentShape[0],
  ) {
    const [channels, h, w] = latentShape;
    if (session.hasInput("timestep_cond")) {
      // diffusers feeds such UNets a sinusoidal embedding of the guidance scale instead of running
      // classifier-free guidance; without it the run would fail inside ONNX Runtime.
      throw new ModelFolderError(
        session.path,
        'takes a "timestep_cond" guidance embedding (an LCM-distilled UNet such as lcm-sdxl), which is not supported; use a model with an LCM-LoRA merged in instead',
      );
    }
    this.rows = guidance === undefined ? count : 2 * count;
    const hiddenWidth = conditioning.hidden.length / (this.rows * conditioning.tokens);
    const expectedWidth = session.input("encoder_hidden_states").shape.at(-1);
    if (typeof expectedWidth === "number" && expectedWidth !== hiddenWidth) {
      throw new ModelFolderError(
        session.path,
        `expects prompt embeddings ${expectedWidth} wide, got ${hiddenWidth} (is this the right model for this role?)`,
      );
    }
    const sampleInfo = session.input("sample");
    this.sampleData = new Float32Array(this.rows * inputChannels * h * w);
    this.sample = floatInput(sampleInfo, this.sampleData, [this.rows, inputChannels, h, w]);
    this.timestepInfo = session.input("timestep");
    this.feeds = {
      sample: this.sample,
      encoder_hidden_states: floatInput(session.input("encoder_hidden_states"), conditioning.hidden, [
        this.rows,
        conditioning.tokens,
        hiddenWidth,
      ]),
      text_embeds: floatInput(session.input("text_embeds"), conditioning.pooled, [
        this.rows,
        conditioning.pooled.length / this.rows,
      ]),
      time_ids: floatInput(session.input("time_ids"), conditioning.timeIds, [
        this.rows,
        conditioning.timeIds.length / this.rows,
      ]),
    };
    const outName = session.outputNames[0]!;
    // A preallocated float32 output avoids a latent-sized allocation per step.
    this.output =
      session.output(outName).type === "float32"
        ? new ort.Tensor("float32", new Float32Array(this.rows * channels * h * w), [
            this.rows,
            channels,
            h,
            w,
          ])
        : undefined;
  }

  /** Rows of every evaluation: the image count, twice that with guidance ([uncond; cond]). */
  get batch(): number {
    return this.sample.dims[0]!;
  }

  /** The model input `run` reads: the scaled latents, twice ([uncond; cond]) with guidance. */
  get input(): Float32Array {
    return this.sampleData;
  }

  private timestepTensor(timestep: number): ort.Tensor {
    const info = this.timestepInfo;
    const rank = info.shape.length;
    if (info.type === "int64" || info.type === "int32") {
      const values =
        rank === 0 ? [Math.round(timestep)] : new Array<number>(this.rows).fill(Math.round(timestep));
      return integerInput(info, values, rank === 0 ? [] : [values.length]);
    }
    const values = new Float32Array(rank === 0 ? 1 : this.rows).fill(timestep);
    return floatInput(info, values, rank === 0 ? [] : [values.length]);
  }

  /**
   * Runs the UNet on `input` and returns its raw output: [uncond; cond] rows with guidance (the
   * denoising loop guides and steps in one pass), else the noise prediction.
   */
  async run(timestep: number): Promise<Float32Array> {
    if (this.sample.type !== "float32") writeFloatInto(this.sample, this.sampleData);
    const feeds = { ...this.feeds, timestep: this.timestepTensor(timestep) };
    const outName = this.session.outputNames[0]!;
    const result = await this.session.run(feeds, this.output ? { [outName]: this.output } : [outName]);
    this.runs += 1;
    return floatOutput(result[outName] ?? this.output!, outName);
  }
}
