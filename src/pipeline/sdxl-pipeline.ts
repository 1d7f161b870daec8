/**
 * SDXL text-to-image, base + refiner, img2img and canvas actions (zoom out, pan, repaint) on
 * onnxruntime-node, following diffusers' StableDiffusionXLPipeline / StableDiffusionXLImg2ImgPipeline
 * / StableDiffusionXLInpaintPipeline. One instance per device: the sessions are loaded once and
 * reused for every request. Canvas actions run the base model alone (4-channel: the per-step blend;
 * 9-channel inpainting UNet: its mask and masked-image inputs) and composite the kept pixels back.
 */
import { basename, join } from "node:path";
import { InvalidInputError, ModelFolderError } from "../errors.js";
import { inpaintStart, type LatentBlend } from "./canvas/blend.js";
import { type CanvasPlan, planCanvas } from "./canvas/canvas-image.js";
import { compositeKept } from "./canvas/composite.js";
import { INPAINTING_CHANNELS, InpaintingUnet } from "./canvas/inpainting-unet.js";
import {
  baseTimeIds,
  REFINER_AESTHETIC_SCORE,
  REFINER_NEGATIVE_AESTHETIC_SCORE,
  refinerTimeIds,
  stackRows,
  usesGuidance,
} from "./conditioning.js";
import { denoise, type LatentGeometry, ProgressReporter, throwIfAborted } from "./denoise.js";
import { rgbToVaeInput } from "./image/pixels.js";
import { type CanvasMetadata, encodePng, type ImageMetadata } from "./image/png.js";
import { loadSourceImage, MAX_SOURCE_BYTES } from "./image/source.js";
import { type LoraReport, type LoraSelection, type MergeResult, mergeLoras } from "./lora/merge.js";
import { type ModelFolder, readModelFolder } from "./model-folder.js";
import { slerpNoise, TorchGenerator } from "./noise/index.js";
import { checkExecutionProvider, ModelSession, SessionClock, type SessionPlacement } from "./onnx/session.js";
import { RunTimer } from "./run-timer.js";
import {
  createScheduler,
  img2imgStart,
  parseSchedulerConfig,
  type Scheduler,
  type SchedulerConfig,
  SchedulerConfigError,
  splitForRefiner,
  withOverrides,
} from "./schedulers/index.js";
import { TinyVaeDecoder } from "./taesd.js";
import {
  type ClipTextEncoder,
  type EncodedPrompts,
  encodePrompts,
  loadTextEncoders,
} from "./text-encoder.js";
import type { CanvasAction, GeneratedImage, GenerateHooks, GenerateParams, GenerateResult } from "./types.js";
import { GuidedUnet } from "./unet.js";
import { LATENT_CHANNELS, VAE_SCALE, VaeDecoder, VaeEncoder } from "./vae.js";
import { validateGenerateParams } from "./validate.js";

export interface PipelineOptions extends SessionPlacement {
  modelDir: string;
  refinerDir?: string;
  /** transformers' tokenizer_2 quirk (typed "!" becomes the pad id) for bit-parity with diffusers. */
  exclamationAsPad?: boolean;
  /** Largest source image accepted for refining, in pixels after upscaling. */
  maxSourcePixels?: number;
  /**
   * A float32 (or fp16-fix) VAE decoder .onnx used when the model's own decoder overflows
   * (NaN/inf, as the original SDXL VAE does in float16).
   */
  vaeFallback?: string;
  /** LoRA files merged into the base model's UNet and text encoders (not the refiner's). */
  loras?: readonly LoraSelection[];
  /**
   * Where the CLIP text encoders run ("cpu" or "cuda:N"); absent = `device`. They run once per
   * job, so on the CPU they cost a little time and free their weights' memory on the GPU.
   */
  textEncoderDevice?: string;
  /**
   * A TAESDXL decoder folder (see taesd.ts): decodes drafts (`draft` requests) and, when
   * `tinyVaePreviews` allows, live previews. Absent = no drafts; previews use the linear projection.
   */
  tinyVaeDir?: string;
  /**
   * Whether live previews go through the tiny VAE: "auto" = on a GPU device (milliseconds there),
   * not on the CPU (where it costs a good share of a 512² UNet step); default "auto".
   */
  tinyVaePreviews?: TinyVaePreviews;
}

export type TinyVaePreviews = "auto" | "on" | "off";

/** Whether previews on `device` are decoded by the tiny VAE under the given setting. */
export function tinyVaePreviewsOn(setting: TinyVaePreviews, device: string): boolean {
  return setting === "on" || (setting === "auto" && device !== "cpu");
}

/** Where each part of a loaded model runs. */
export interface ComponentDevices {
  textEncoders: string;
  unet: string;
  vae: string;
}

/** The components of a model folder a LoRA may change. */
async function mergeLorasInto(folder: ModelFolder, loras: readonly LoraSelection[]): Promise<MergeResult> {
  const components = [
    ...(folder.textEncoder ? [{ component: "text_encoder" as const, path: folder.textEncoder }] : []),
    { component: "text_encoder_2" as const, path: folder.textEncoder2 },
    { component: "unet" as const, path: folder.unet },
  ];
  return mergeLoras(components, loras);
}

/** Everything loaded from one model folder. */
class LoadedModel {
  private constructor(
    readonly folder: ModelFolder,
    readonly encoders: ClipTextEncoder[],
    readonly unet: ModelSession,
    readonly decoder: VaeDecoder,
    readonly encoder: VaeEncoder | undefined,
    readonly schedulerConfig: SchedulerConfig,
    private readonly sessions: ModelSession[],
    readonly loraReports: readonly LoraReport[] = [],
  ) {}

  /**
   * Loads every session of one folder, with `loras` merged into its weights. `vaeFallback` is shared between models and owned by the
   * pipeline. On any failure the sessions loaded so far are released before the error propagates.
   */
  static async load(
    dir: string,
    options: PipelineOptions,
    clock: SessionClock,
    vaeFallback: ModelSession | undefined,
    loras: readonly LoraSelection[] = [],
  ): Promise<LoadedModel> {
    const sessions: ModelSession[] = [];
    let merged: MergeResult | undefined;
    const load = async (path: string, placement: SessionPlacement = options) => {
      const session = await ModelSession.load(path, placement, clock, merged?.models.get(path));
      sessions.push(session);
      return session;
    };
    const encoderPlacement: SessionPlacement = {
      ...options,
      device: options.textEncoderDevice ?? options.device,
    };
    try {
      const folder = await readModelFolder(dir);
      if (loras.length > 0) merged = await mergeLorasInto(folder, loras);
      const schedulerConfig = schedulerConfigOf(folder);
      const encoders = await loadTextEncoders(folder, (path) => load(path, encoderPlacement), {
        exclamationAsPad: options.exclamationAsPad ?? false,
      });
      const unet = await load(folder.unet);
      for (const input of ["sample", "timestep", "encoder_hidden_states", "text_embeds", "time_ids"]) {
        if (!unet.hasInput(input)) {
          throw new ModelFolderError(
            folder.unet,
            `the UNet has no "${input}" input, so this is not an SDXL model`,
          );
        }
      }
      const decoder = await load(folder.vaeDecoder);
      const vaeEncoder = folder.vaeEncoder ? await load(folder.vaeEncoder) : undefined;
      return new LoadedModel(
        folder,
        encoders,
        unet,
        new VaeDecoder(decoder, folder.vaeScalingFactor, vaeFallback),
        vaeEncoder ? new VaeEncoder(vaeEncoder, folder.vaeScalingFactor) : undefined,
        schedulerConfig,
        sessions,
        merged?.reports,
      );
    } catch (error) {
      await releaseAll(sessions);
      throw error;
    }
  }

  /** Channels of the UNet's `sample` input: 4, or 9 for an inpainting UNet (latents, mask, masked image). */
  get sampleChannels(): number {
    const channels = this.unet.input("sample").shape[1];
    return typeof channels === "number" ? channels : LATENT_CHANNELS;
  }

  /** Width of the time ids the UNet takes: 6 for the base, 5 (aesthetic score) for the refiner. */
  get timeIdsWidth(): number {
    const width = this.unet.input("time_ids").shape.at(-1);
    return typeof width === "number" ? width : this.folder.requiresAestheticsScore ? 5 : 6;
  }

  release(): Promise<void> {
    return releaseAll(this.sessions);
  }
}

/**
 * The folder's scheduler config. A bad one is the model folder's problem: the operator's message
 * names the file and the key, chat users get the generic model message (never the config text).
 */
function schedulerConfigOf(folder: ModelFolder): SchedulerConfig {
  try {
    return parseSchedulerConfig(folder.schedulerConfig);
  } catch (error) {
    if (!(error instanceof SchedulerConfigError)) throw error;
    throw new ModelFolderError(join(folder.dir, "scheduler", "scheduler_config.json"), error.message, {
      cause: error,
    });
  }
}

async function releaseAll(sessions: readonly (ModelSession | undefined)[]): Promise<void> {
  await Promise.all(sessions.map((session) => session?.release()));
}

/** Where a run starts; canvas runs also carry the 4-channel blend or the 9-channel UNet's extra input. */
interface RunStart {
  latents: Float32Array;
  from: number;
  blend?: LatentBlend;
  maskedImageLatents?: Float32Array;
}

/** A decoded source image for img2img, at the size it is refined at. */
type SourceImage = Awaited<ReturnType<typeof loadSourceImage>>;

export class SdxlPipeline {
  private constructor(
    private readonly base: LoadedModel,
    private readonly refiner: LoadedModel | undefined,
    private readonly vaeFallback: ModelSession | undefined,
    private readonly tinyVae: TinyVaeDecoder | undefined,
    private readonly clock: SessionClock,
    private readonly options: PipelineOptions,
  ) {}

  static async load(options: PipelineOptions): Promise<SdxlPipeline> {
    checkExecutionProvider(options.device);
    if (options.textEncoderDevice) checkExecutionProvider(options.textEncoderDevice);
    const clock = new SessionClock();
    const vaeFallback = options.vaeFallback
      ? await ModelSession.load(options.vaeFallback, options, clock)
      : undefined;
    let base: LoadedModel | undefined;
    let tinyVae: TinyVaeDecoder | undefined;
    try {
      tinyVae = options.tinyVaeDir
        ? await TinyVaeDecoder.load(options.tinyVaeDir, options, clock)
        : undefined;
      base = await LoadedModel.load(options.modelDir, options, clock, vaeFallback, options.loras);
      const refiner = options.refinerDir
        ? await LoadedModel.load(options.refinerDir, options, clock, vaeFallback)
        : undefined;
      return new SdxlPipeline(base, refiner, vaeFallback, tinyVae, clock, options);
    } catch (error) {
      await base?.release();
      await tinyVae?.release();
      await vaeFallback?.release();
      throw error;
    }
  }

  /** Where the text encoders, the UNet and the VAE run. */
  get devices(): ComponentDevices {
    const encoder = this.base.encoders[0];
    return {
      textEncoders: encoder ? encoder.device : (this.options.textEncoderDevice ?? this.options.device),
      unet: this.base.unet.device,
      vae: this.options.device,
    };
  }

  /** What each LoRA matched in the base model (empty without LoRAs). */
  get loraReports(): readonly LoraReport[] {
    return this.base.loraReports;
  }

  get hasRefiner(): boolean {
    return this.refiner !== undefined;
  }

  /** Whether `draft` requests can be served (a tiny VAE is loaded). */
  get hasDraftDecoder(): boolean {
    return this.tinyVae !== undefined;
  }

  /** Whether live previews are decoded by the tiny VAE (else the linear latent projection). */
  get decodedPreviews(): boolean {
    return (
      this.tinyVae !== undefined &&
      tinyVaePreviewsOn(this.options.tinyVaePreviews ?? "auto", this.options.device)
    );
  }

  async generate(params: GenerateParams, hooks: GenerateHooks = {}): Promise<GenerateResult> {
    validateGenerateParams(params);
    if (params.refiner && !this.refiner) {
      throw new InvalidInputError("The refiner is not configured on this server.", "refiner");
    }
    if (params.draft && !this.tinyVae) {
      throw new InvalidInputError("Draft images are not configured on this server.", "draft");
    }
    const timer = new RunTimer(this.clock);
    throwIfAborted(hooks.signal);
    const source = params.source ? await this.prepareSource(params) : undefined;
    const canvas = source && params.canvas ? await this.planCanvas(source, params.canvas, params) : undefined;
    // The source's size wins over width/height for img2img; a canvas action's layout for canvas jobs.
    const width = canvas?.layout.width ?? source?.width ?? params.width;
    const height = canvas?.layout.height ?? source?.height ?? params.height;
    const geometry: LatentGeometry = {
      count: params.count,
      channels: LATENT_CHANNELS,
      height: height / VAE_SCALE,
      width: width / VAE_SCALE,
    };
    const guidance = usesGuidance(params.guidance);

    // Text-to-image runs the base, then the refiner if asked; img2img runs the refiner if asked, else the base.
    // Canvas actions run the base alone (the refiner is not an inpainting model).
    const first = source && params.refiner && !canvas ? this.refiner! : this.base;
    const channels = first.sampleChannels;
    if (channels !== LATENT_CHANNELS && !(canvas && channels === INPAINTING_CHANNELS)) {
      throw new ModelFolderError(
        first.folder.unet,
        channels === INPAINTING_CHANNELS
          ? "takes 9 input channels (an inpainting UNet), so it serves zoom out, pan and repaint only"
          : `takes ${channels} input channels; SDXL UNets take 4 (9 for inpainting)`,
      );
    }
    const second = !source && params.refiner ? this.refiner : undefined;
    const [firstPrompts, secondPrompts] = await timer.phase("textEncode", async () => [
      await this.encode(first, params, guidance),
      second ? await this.encode(second, params, guidance) : undefined,
    ]);

    let previewMs = 0;
    const unets: GuidedUnet[] = [];
    const latents = await timer.phase("denoise", async () => {
      const generators = Array.from(
        { length: params.count },
        (_, i) => new TorchGenerator(params.seed + BigInt(i)),
      );
      // The request's spacing / prediction type replace the folder's, as diffusers' from_config overrides do.
      const firstConfig = withOverrides(first.schedulerConfig, params);
      const scheduler = createScheduler(params.scheduler, firstConfig, params.steps);
      const start = canvas
        ? await this.canvasStartingPoint(params, first, scheduler, generators, geometry, canvas)
        : await this.startingPoint(params, first, scheduler, generators, geometry, source);
      const split = second
        ? splitForRefiner(params.scheduler, firstConfig, params.steps, params.refiner!.switchAt)
        : undefined;
      const firstEnd = split ? split.baseSteps : params.steps;
      const secondRange = split ? ([split.refinerBeginIndex, params.steps] as const) : undefined;
      const totalSteps = firstEnd - start.from + (secondRange ? secondRange[1] - secondRange[0] : 0);
      const progress = new ProgressReporter(totalSteps, hooks);
      const tinyVae = this.decodedPreviews ? this.tinyVae : undefined;
      const run = {
        latents: start.latents,
        geometry,
        generators,
        progress,
        signal: hooks.signal,
        ...(tinyVae ? { previewDecoder: tinyVae.decodePreview.bind(tinyVae) } : {}),
      };
      const firstUnet = this.unet(first, firstPrompts!, params, width, height, guidance, channels);
      unets.push(firstUnet);
      await denoise({
        ...run,
        unet:
          canvas && start.maskedImageLatents
            ? new InpaintingUnet(firstUnet, params.count, canvas.latent, start.maskedImageLatents)
            : firstUnet,
        ...(start.blend ? { blend: start.blend } : {}),
        scheduler,
        from: start.from,
        to: firstEnd,
        stage: first === this.refiner ? "refiner" : "base",
      });
      if (second && secondPrompts && secondRange) {
        const secondUnet = this.unet(second, secondPrompts, params, width, height, guidance);
        unets.push(secondUnet);
        await denoise({
          ...run,
          unet: secondUnet,
          // A fresh scheduler, as diffusers' refiner pipeline builds its own (empty solver history).
          scheduler: createScheduler(
            params.scheduler,
            withOverrides(second.schedulerConfig, params),
            params.steps,
          ),
          from: secondRange[0],
          to: secondRange[1],
          stage: "refiner",
        });
      }
      previewMs = progress.previewMs;
      return start.latents;
    });

    // A draft is decoded by the tiny VAE: for few-step models on a CPU the SDXL VAE costs more than the UNet.
    const decoder = params.draft && this.tinyVae ? this.tinyVae : (second ?? first).decoder;
    const imageSize = LATENT_CHANNELS * geometry.height * geometry.width;
    const pixels: Uint8Array[] = [];
    for (let i = 0; i < params.count; i++) {
      throwIfAborted(hooks.signal);
      const image = latents.subarray(i * imageSize, (i + 1) * imageSize);
      const decoded = await timer.phase("vae", () => decoder.decode(image, geometry.height, geometry.width));
      // What a canvas action keeps goes back exactly, blended over the feathered band.
      pixels.push(canvas ? compositeKept(decoded, canvas.original, canvas.soft) : decoded);
    }
    // The device's part is over: the PNGs are encoded on libuv's pool while the next job denoises.
    hooks.onDeviceFree?.();
    const images = await timer.phase("encodeImage", () =>
      Promise.all(
        pixels.map(async (rgb, i): Promise<GeneratedImage> => {
          const seed = params.seed + BigInt(i);
          const metadata = this.metadataOf(params, seed, width, height, canvas);
          const png = await encodePng(rgb, width, height, metadata);
          const placed = canvas ? { source: { ...canvas.layout.placement } } : {};
          return { mime: "image/png", data: png, width, height, seed, ...placed };
        }),
      ),
    );
    const unet = { runs: unets.reduce((sum, u) => sum + u.runs, 0), batch: unets[0]?.batch ?? 0 };
    return { images, latents, timings: { ...timer.timings(previewMs), unet } };
  }

  /**
   * The latents the loop starts from and the step it starts at: text-to-image scales the seed's
   * noise by init_noise_sigma; img2img noises the source's latents to the start timestep that
   * `strength` gives, drawing in diffusers' order (the VAE's latent sample, then the noise).
   */
  private async startingPoint(
    params: GenerateParams,
    model: LoadedModel,
    scheduler: Scheduler,
    generators: readonly TorchGenerator[],
    geometry: LatentGeometry,
    source: SourceImage | undefined,
  ): Promise<RunStart> {
    if (source) {
      const clean = await this.encodeSource(model, source, generators, geometry);
      const { tStart } = img2imgStart(params.steps, params.source!.strength);
      const latents = new Float32Array(clean.length);
      scheduler.addNoise(clean, this.initialNoise(params, generators, geometry), tStart, latents);
      return { latents, from: tStart };
    }
    const latents = this.initialNoise(params, generators, geometry);
    const sigma = Math.fround(scheduler.initNoiseSigma);
    for (let i = 0; i < latents.length; i++) latents[i] = Math.fround(latents[i]! * sigma);
    return { latents, from: 0 };
  }

  /**
   * A canvas action's start, as diffusers' SDXL inpainting pipeline: each image's canvas is
   * VAE-encoded (drawing the latent sample from its generator), then the seed's noise is drawn; at
   * strength 1 the run starts from that noise alone, below it from the canvas latents noised to the
   * start step. A 4-channel UNet blends towards the canvas latents after every step; a 9-channel
   * one gets the mask and the masked canvas's latents (encoded last, as diffusers draws) instead.
   */
  private async canvasStartingPoint(
    params: GenerateParams,
    model: LoadedModel,
    scheduler: Scheduler,
    generators: readonly TorchGenerator[],
    geometry: LatentGeometry,
    canvas: CanvasPlan,
  ): Promise<RunStart> {
    const { width, height } = canvas.layout;
    const clean = await this.encodeImages(
      model,
      canvas.canvases.map((rgb) => rgbToVaeInput(rgb, height, width)),
      height,
      width,
      generators,
      geometry,
    );
    const noise = this.initialNoise(params, generators, geometry);
    const start = inpaintStart(scheduler, params.steps, params.source!.strength, clean, noise);
    if (model.sampleChannels !== INPAINTING_CHANNELS) {
      return { ...start, blend: { mask: canvas.latent, imageLatents: clean, noise } };
    }
    // diffusers' masked_image = image * (mask < 0.5): the repainted pixels become 0 (mid-grey).
    const masked = canvas.canvases.map((rgb) => {
      const pixels = rgbToVaeInput(rgb, height, width);
      const plane = width * height;
      for (let c = 0; c < 3; c++) {
        for (let p = 0; p < plane; p++) if (canvas.hard[p]! >= 0.5) pixels[c * plane + p] = 0;
      }
      return pixels;
    });
    const maskedImageLatents = await this.encodeImages(model, masked, height, width, generators, geometry);
    return { ...start, maskedImageLatents };
  }

  async dispose(): Promise<void> {
    await this.base.release();
    await this.refiner?.release();
    await this.vaeFallback?.release();
    await this.tinyVae?.release();
  }

  private encode(model: LoadedModel, params: GenerateParams, guidance: boolean): Promise<EncodedPrompts> {
    return encodePrompts(model.encoders, params.prompt, params.negativePrompt, {
      guidance,
      zeroMissingNegative: model.folder.forceZerosForEmptyPrompt,
    });
  }

  /** Starting noise of each image: the seed's (seed + i), blended towards the subseed's for variations. */
  private initialNoise(
    params: GenerateParams,
    generators: readonly TorchGenerator[],
    g: LatentGeometry,
  ): Float32Array {
    const shape = [1, g.channels, g.height, g.width];
    const imageSize = g.channels * g.height * g.width;
    const latents = new Float32Array(params.count * imageSize);
    generators.forEach((generator, i) => {
      const image = latents.subarray(i * imageSize, (i + 1) * imageSize);
      generator.randn(shape, image);
      if (params.variation && params.variation.strength > 0) {
        const other = new TorchGenerator(params.variation.subseed + BigInt(i)).randn(shape);
        slerpNoise(image.slice(), other, params.variation.strength, image);
      }
    });
    return latents;
  }

  private unet(
    model: LoadedModel,
    prompts: EncodedPrompts,
    params: GenerateParams,
    width: number,
    height: number,
    guidance: boolean,
    inputChannels: number = LATENT_CHANNELS,
  ): GuidedUnet {
    const count = params.count;
    const refinerIds = model.timeIdsWidth === 5;
    const positiveIds = Float32Array.from(
      refinerIds ? refinerTimeIds(width, height, REFINER_AESTHETIC_SCORE) : baseTimeIds(width, height),
    );
    const negativeIds = Float32Array.from(
      refinerIds
        ? refinerTimeIds(width, height, REFINER_NEGATIVE_AESTHETIC_SCORE)
        : baseTimeIds(width, height),
    );
    const negative = guidance ? prompts.negative : undefined;
    return new GuidedUnet(
      model.unet,
      count,
      [LATENT_CHANNELS, height / VAE_SCALE, width / VAE_SCALE],
      {
        hidden: stackRows(prompts.positive.hidden, negative?.hidden, count),
        pooled: stackRows(prompts.positive.pooled, negative?.pooled, count),
        timeIds: stackRows(positiveIds, negative ? negativeIds : undefined, count),
        tokens: prompts.positive.chunks * 77,
      },
      guidance ? params.guidance : undefined,
      inputChannels,
    );
  }

  private async prepareSource(params: GenerateParams) {
    const source = params.source!;
    return loadSourceImage(source.image, {
      upscale: source.upscale,
      maxPixels: this.options.maxSourcePixels ?? 2048 * 2048,
      maxBytes: MAX_SOURCE_BYTES,
    });
  }

  /** Decodes the source's canvas layout, masks and per-image canvases. */
  private planCanvas(source: SourceImage, action: CanvasAction, params: GenerateParams): Promise<CanvasPlan> {
    const seeds = Array.from({ length: params.count }, (_, i) => params.seed + BigInt(i));
    return planCanvas(source, action, seeds);
  }

  /** Each image's VAE input [1,3,H,W] to scaled latents, one after another into [count,4,h,w]. */
  private async encodeImages(
    model: LoadedModel,
    inputs: readonly Float32Array[],
    height: number,
    width: number,
    generators: readonly TorchGenerator[],
    geometry: LatentGeometry,
  ): Promise<Float32Array> {
    const encoder = this.encoderOf(model);
    const imageSize = geometry.channels * geometry.height * geometry.width;
    const out = new Float32Array(generators.length * imageSize);
    for (const [i, generator] of generators.entries()) {
      out.set(await encoder.encode(inputs[i]!, height, width, generator), i * imageSize);
    }
    return out;
  }

  private encoderOf(model: LoadedModel): VaeEncoder {
    if (!model.encoder) {
      throw new ModelFolderError(
        join(model.folder.dir, "vae_encoder", "model.onnx"),
        "is missing, so this model cannot refine an existing image",
      );
    }
    return model.encoder;
  }

  private encodeSource(
    model: LoadedModel,
    source: SourceImage,
    generators: readonly TorchGenerator[],
    geometry: LatentGeometry,
  ): Promise<Float32Array> {
    const pixels = rgbToVaeInput(source.rgb, source.height, source.width);
    const inputs = generators.map(() => pixels);
    return this.encodeImages(model, inputs, source.height, source.width, generators, geometry);
  }

  private metadataOf(
    params: GenerateParams,
    seed: bigint,
    width: number,
    height: number,
    canvas: CanvasPlan | undefined,
  ): ImageMetadata {
    return {
      prompt: params.prompt,
      ...(params.negativePrompt !== undefined ? { negativePrompt: params.negativePrompt } : {}),
      seed: seed.toString(),
      steps: params.steps,
      guidance: params.guidance,
      scheduler: params.scheduler,
      ...(params.spacing !== undefined ? { spacing: params.spacing } : {}),
      ...(params.prediction !== undefined ? { prediction: params.prediction } : {}),
      ...(params.draft ? { draft: true } : {}),
      width,
      height,
      model: basename(this.base.folder.dir),
      ...(params.refiner && this.refiner && !canvas
        ? {
            refiner: {
              model: basename(this.refiner.folder.dir),
              // Refining an existing image runs the refiner alone: there is no hand-over point.
              ...(params.source ? {} : { switchAt: params.refiner.switchAt }),
            },
          }
        : {}),
      ...(params.variation
        ? { variation: { subseed: params.variation.subseed.toString(), strength: params.variation.strength } }
        : {}),
      ...(params.source
        ? { img2img: { strength: params.source.strength, upscale: params.source.upscale } }
        : {}),
      ...(params.canvas && canvas ? { canvas: canvasMetadata(params.canvas, canvas) } : {}),
      software: "easel",
    };
  }
}

/** What an image's metadata says about the canvas action that made it. */
function canvasMetadata(action: CanvasAction, plan: CanvasPlan): CanvasMetadata {
  return {
    action: action.kind,
    ...(action.kind === "zoom_out" ? { factor: action.factor } : {}),
    ...(action.kind === "pan" ? { direction: action.direction } : {}),
    source: { ...plan.layout.placement },
  };
}
