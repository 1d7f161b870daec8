/**
 * What a device worker runs: the SDXL pipeline, or the simulated engine that lets the queue be
 * tested and benchmarked without models. Specs are plain data so they can cross into the worker.
 */
import type { PipelineOptions } from "../pipeline/index.js";
import type { LoraSelection } from "../pipeline/lora/merge.js";
import type { GenerateHooks, GenerateParams, GenerateResult, WebGpuSettings } from "../pipeline/types.js";
import type { SimulatedEngineSpec } from "./simulated-engine.js";

export interface Engine {
  generate(params: GenerateParams, hooks?: GenerateHooks): Promise<GenerateResult>;
  dispose(): Promise<void>;
}

export interface SdxlEngineSpec {
  kind: "sdxl";
  modelDir: string;
  refinerDir?: string;
  /** "cpu", "cuda:N" or "webgpu". */
  device: string;
  /** Where the text encoders run (EASEL_TEXT_ENCODER_DEVICE); absent = `device`. */
  textEncoderDevice?: string;
  intraOpThreads?: number;
  /** The WebGPU provider's options (EASEL_WEBGPU_*); absent = their defaults. */
  webgpu?: WebGpuSettings;
  /** transformers' tokenizer_2 quirk: a typed "!" becomes the pad id. */
  exclamationAsPad?: boolean;
  /** A float32 VAE decoder .onnx, used when the model's own decoder overflows in float16. */
  vaeFallback?: string;
  /** Where big models' optimised graphs are kept between loads (e.g. <dataDir>/onnx-cache); absent = none. */
  optimizedCacheDir?: string;
  /** A TAESDXL decoder folder (EASEL_TAESD_DIR) for drafts and decoded previews; absent = none. */
  tinyVaeDir?: string;
  /** EASEL_TAESD_PREVIEWS: auto (GPU devices only), on or off. */
  tinyVaePreviews?: "auto" | "on" | "off";
  /** LoRA files (absolute paths) merged into the model's weights at load; absent = none. */
  loras?: LoraSelection[];
}

export type EngineSpec = SdxlEngineSpec | SimulatedEngineSpec;

/** What the pipeline is loaded with for an SDXL spec. */
export function pipelineOptionsOf(spec: SdxlEngineSpec): PipelineOptions {
  return {
    modelDir: spec.modelDir,
    ...(spec.refinerDir ? { refinerDir: spec.refinerDir } : {}),
    device: spec.device,
    ...(spec.textEncoderDevice ? { textEncoderDevice: spec.textEncoderDevice } : {}),
    ...(spec.intraOpThreads ? { intraOpThreads: spec.intraOpThreads } : {}),
    ...(spec.webgpu ? { webgpu: spec.webgpu } : {}),
    ...(spec.exclamationAsPad !== undefined ? { exclamationAsPad: spec.exclamationAsPad } : {}),
    ...(spec.vaeFallback ? { vaeFallback: spec.vaeFallback } : {}),
    ...(spec.optimizedCacheDir ? { optimizedCache: { dir: spec.optimizedCacheDir } } : {}),
    ...(spec.tinyVaeDir ? { tinyVaeDir: spec.tinyVaeDir } : {}),
    ...(spec.tinyVaePreviews ? { tinyVaePreviews: spec.tinyVaePreviews } : {}),
    ...(spec.loras && spec.loras.length > 0 ? { loras: spec.loras } : {}),
  };
}

/** Loads the engine a spec names; called once per worker thread. */
export async function loadEngine(spec: EngineSpec): Promise<Engine> {
  if (spec.kind === "simulated") {
    const { SimulatedEngine } = await import("./simulated-engine.js");
    return SimulatedEngine.load(spec);
  }
  const { loadPipeline } = await import("../pipeline/index.js");
  return loadPipeline(pipelineOptionsOf(spec));
}
