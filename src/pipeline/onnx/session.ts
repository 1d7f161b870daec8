/**
 * A thin wrapper over one onnxruntime InferenceSession: loads by file path (so external weights
 * beside the model resolve), reads input/output element types and ranks from the session's own
 * metadata, and times every run into a shared clock. Big models can keep their optimised graph in
 * a cache (see optimized-cache.ts), so that later loads skip ONNX Runtime's graph optimisation.
 * A model with merged weights (LoRAs) loads from memory: its rewritten graph, and its weights from
 * the original folder or from in-memory files (see lora/rewrite.ts).
 */
import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import * as ort from "onnxruntime-node";
import { ConfigError, DeviceFailureError, ModelFolderError } from "../../errors.js";
import type { InMemoryModel } from "../lora/rewrite.js";
import {
  DEVICE_NAME,
  DEVICE_NAMES_HINT,
  WEBGPU_DEFAULTS,
  WEBGPU_LAYOUTS,
  WEBGPU_VALIDATION_MODES,
  type WebGpuSettings,
  webgpuAdapterOf,
} from "../types.js";
import { type OptimizedModelCache, optimizedEntryOf } from "./optimized-cache.js";

export interface SessionPlacement {
  /** "cpu", "cuda:N", "webgpu" or "webgpu:N". */
  device: string;
  /** The WebGPU provider's options (EASEL_WEBGPU_*); absent = WEBGPU_DEFAULTS. */
  webgpu?: WebGpuSettings;
  /** 0 lets onnxruntime choose. */
  intraOpThreads?: number;
  /** Where optimised graphs of big models are kept between loads; absent = always optimise. */
  optimizedCache?: OptimizedModelCache;
}

/** How a session was loaded: optimised now, optimised now and saved to the cache, or from the cache. */
export type SessionOrigin = "optimized" | "saved-to-cache" | "from-cache";

export interface TensorInfo {
  name: string;
  type: ort.Tensor.Type;
  shape: ReadonlyArray<number | string>;
}

/** Sums the wall time spent inside session runs, for the pipeline's timing report. */
export class SessionClock {
  totalMs = 0;
}

export {
  DEVICE_NAME,
  DEVICE_NAMES_HINT,
  WEBGPU_DEFAULTS,
  WEBGPU_LAYOUTS,
  WEBGPU_VALIDATION_MODES,
  type WebGpuSettings,
  webgpuAdapterOf,
};

/**
 * An execution provider that cannot run here: its library is missing or fails to load. Chat users
 * get a message without server details; `message` (logs, the CLI) names the device and the library.
 */
export class ExecutionProviderError extends DeviceFailureError {
  readonly device: string;

  constructor(device: string, problem: string, options?: { cause?: unknown }) {
    super("The GPU on this server is not set up correctly; its owner can see why in the logs.", options);
    this.message = `${device}: ${problem}`;
    this.device = device;
  }
}

/**
 * The provider libraries onnxruntime-node loads for CUDA, beside its native binding (the same
 * folder its own loader uses); empty where it has no CUDA build.
 */
export function cudaProviderLibraries(): string[] {
  const packageDir = dirname(dirname(createRequire(import.meta.url).resolve("onnxruntime-node")));
  const binding = join(packageDir, "bin", "napi-v6", process.platform, process.arch);
  if (process.platform === "linux") {
    return ["libonnxruntime_providers_shared.so", "libonnxruntime_providers_cuda.so"].map((name) =>
      join(binding, name),
    );
  }
  if (process.platform === "win32") {
    return ["onnxruntime_providers_shared.dll", "onnxruntime_providers_cuda.dll"].map((name) =>
      join(binding, name),
    );
  }
  return [];
}

/**
 * Throws ExecutionProviderError when `device` needs a provider whose library is not installed, so
 * that the problem is named before any model loads (onnxruntime itself only says it "failed to
 * load shared library", and we would otherwise blame the first model file).
 */
export function checkExecutionProvider(device: string): void {
  if (!DEVICE_NAME.test(device))
    throw new ConfigError(`"${device}" is not a device: use ${DEVICE_NAMES_HINT}.`);
  if (device === "cpu") return;
  const adapter = webgpuAdapterOf(device);
  if (adapter !== undefined) {
    checkWebGpuProvider(device, adapter);
    return;
  }
  const libraries = cudaProviderLibraries();
  if (libraries.length === 0) {
    throw new ExecutionProviderError(
      device,
      `onnxruntime cannot use CUDA: onnxruntime-node has no CUDA provider on ${process.platform}-${process.arch}.`,
    );
  }
  const missing = libraries.filter((library) => !existsSync(library));
  if (missing.length > 0) {
    throw new ExecutionProviderError(
      device,
      `onnxruntime cannot use CUDA: ${missing.join(" and ")} ${missing.length === 1 ? "is" : "are"} missing ` +
        "(onnxruntime-node was installed without its CUDA provider: the project's .npmrc skips that " +
        "download; run `ONNXRUNTIME_NODE_INSTALL=true npm ci`, as the Dockerfile does).",
    );
  }
}

/** Whether this onnxruntime-node build bundles the WebGPU provider (linux-x64 and win32-x64 do). */
export function webgpuBundled(): boolean {
  return ort.listSupportedBackends().some((backend) => backend.name === "webgpu" && backend.bundled);
}

function checkWebGpuProvider(device: string, adapter: number): void {
  if (!webgpuBundled()) {
    throw new ExecutionProviderError(
      device,
      `onnxruntime-node has no WebGPU provider on ${process.platform}-${process.arch} (it is bundled on linux-x64 and win32-x64).`,
    );
  }
  if (adapter !== 0) {
    // onnxruntime-node 1.30 takes no adapter index: Dawn opens the first adapter it is given.
    throw new ExecutionProviderError(
      device,
      'onnxruntime-node opens only the first WebGPU adapter: use "webgpu" and make the GPU you want the ' +
        "first one (VK_DRIVER_FILES=<its driver's ICD .json>, or MESA_VK_DEVICE_SELECT=<vendor>:<device> for Mesa drivers).",
    );
  }
}

/**
 * The providers for `device`: CUDA or WebGPU with the CPU for the operators they lack, or the CPU
 * alone. onnxruntime places operators per node; a provider that cannot start fails the session.
 */
export function executionProviders(
  device: string,
  webgpu: WebGpuSettings = WEBGPU_DEFAULTS,
): ort.InferenceSession.ExecutionProviderConfig[] {
  if (!DEVICE_NAME.test(device))
    throw new ConfigError(`"${device}" is not a device: use ${DEVICE_NAMES_HINT}.`);
  if (webgpuAdapterOf(device) !== undefined) {
    return [{ name: "webgpu", preferredLayout: webgpu.layout, validationMode: webgpu.validation }, "cpu"];
  }
  const cuda = /^cuda:(\d+)$/.exec(device);
  if (!cuda) return ["cpu"];
  return [{ name: "cuda", deviceId: Number(cuda[1]) }, "cpu"];
}

/** onnxruntime's words for an operator no provider of the session has a kernel for. */
const MISSING_KERNEL = /Failed to find kernel for ([\w.]+)\(|Could not find an implementation for (\w+)\(/;

/** onnxruntime's words for a provider that would not load or start, as opposed to a bad model. */
const PROVIDER_FAILURE =
  /ExecutionProvider|providers_|Failed to load shared library|CUDA|cuDNN|cublas|WebGPU|Dawn|Vulkan|adapter/i;

/** Why a WebGPU provider did not start, in a user's words, from onnxruntime's error. */
export function webgpuFailureHint(reason: string): string {
  if (/No supported adapters|Failed to get a WebGPU adapter/i.test(reason)) {
    return (
      "no Vulkan driver here offers WebGPU: the Vulkan loader (libvulkan.so.1) or a driver is missing, or the " +
      "driver lacks a feature Dawn needs (Mesa 22's lavapipe lacks shader*ArrayDynamicIndexing; use Mesa 25); " +
      "`easel doctor` names which"
    );
  }
  return "check the Vulkan loader and driver with `easel doctor`";
}

/**
 * Runs of WebGPU sessions, one at a time in this thread: onnxruntime can crash on concurrent runs
 * of two WebGPU sessions in one process (Linux/Vulkan). Config allows one WebGPU worker per
 * process, so this chain is the only place such runs meet.
 */
let webgpuRuns: Promise<unknown> = Promise.resolve();

function serialisedOnWebGpu<T>(task: () => Promise<T>): Promise<T> {
  const result = webgpuRuns.then(task);
  webgpuRuns = result.catch(() => undefined);
  return result;
}

export class ModelSession {
  private readonly inputs = new Map<string, TensorInfo>();
  private readonly outputs = new Map<string, TensorInfo>();

  /** WebGPU runs of a process go one at a time (concurrent runs crash on Linux/Vulkan). */
  private readonly onWebGpu: boolean;

  private constructor(
    readonly path: string,
    private readonly session: ort.InferenceSession,
    private readonly clock: SessionClock,
    readonly device: string,
    readonly origin: SessionOrigin = "optimized",
  ) {
    this.onWebGpu = webgpuAdapterOf(device) !== undefined;
    for (const meta of session.inputMetadata) {
      if (meta.isTensor) this.inputs.set(meta.name, { name: meta.name, type: meta.type, shape: meta.shape });
    }
    for (const meta of session.outputMetadata) {
      if (meta.isTensor) this.outputs.set(meta.name, { name: meta.name, type: meta.type, shape: meta.shape });
    }
  }

  /**
   * Loads the model at `path`; with `merged`, the same model with some weights replaced (see
   * lora/rewrite.ts). Merged models skip the optimised-graph cache, whose entries hold base weights.
   */
  static async load(
    path: string,
    placement: SessionPlacement,
    clock: SessionClock,
    merged?: InMemoryModel,
  ): Promise<ModelSession> {
    const options: ort.InferenceSession.SessionOptions = {
      executionProviders: executionProviders(placement.device, placement.webgpu),
      graphOptimizationLevel: "all",
      ...(placement.intraOpThreads ? { intraOpNumThreads: placement.intraOpThreads } : {}),
    };
    try {
      if (merged) {
        const session = await ModelSession.createMerged(merged, options);
        return new ModelSession(path, session, clock, placement.device);
      }
      // Not for WebGPU: its saved graph holds layout changes (NHWC) that the cache key does not name.
      const cached =
        placement.optimizedCache && webgpuAdapterOf(placement.device) === undefined
          ? await ModelSession.loadCached(path, placement, options, clock)
          : undefined;
      return (
        cached ??
        new ModelSession(path, await ort.InferenceSession.create(path, options), clock, placement.device)
      );
    } catch (error) {
      const reason = error instanceof Error ? error.message.split("\n")[0] : String(error);
      const kernel = MISSING_KERNEL.exec(reason ?? "");
      if (kernel) {
        throw new ModelFolderError(
          path,
          `uses the operator ${kernel[1] ?? kernel[2]}, which onnxruntime's ${placement.device} provider cannot run ` +
            "(run it on a cuda device, or use a standard ONNX export)",
          { cause: error },
        );
      }
      if (webgpuAdapterOf(placement.device) !== undefined && PROVIDER_FAILURE.test(reason ?? "")) {
        throw new ExecutionProviderError(
          placement.device,
          // Dawn's words, without onnxruntime's source location before them.
          `onnxruntime could not start WebGPU (${(reason ?? "").replace(/^.*?(?=Failed to get a WebGPU)/, "")}): ${webgpuFailureHint(reason ?? "")}.`,
          { cause: error },
        );
      }
      if (placement.device !== "cpu" && PROVIDER_FAILURE.test(reason ?? "")) {
        throw new ExecutionProviderError(
          placement.device,
          `onnxruntime could not start CUDA (${reason}); check that the CUDA and cuDNN libraries ` +
            "onnxruntime needs are installed and on the library path.",
          { cause: error },
        );
      }
      throw new ModelFolderError(path, `could not be loaded as an ONNX model (${reason})`, { cause: error });
    }
  }

  /**
   * A session over a model held in memory: with in-memory weights files (onnxruntime copies them),
   * or with its external weights read from the original model's folder.
   */
  private static createMerged(
    merged: InMemoryModel,
    options: ort.InferenceSession.SessionOptions,
  ): Promise<ort.InferenceSession> {
    if (merged.externalData.length > 0) {
      return ort.InferenceSession.create(merged.bytes, { ...options, externalData: merged.externalData });
    }
    return ort.InferenceSession.create(merged.bytes, {
      ...options,
      extra: { session: { model_external_initializers_file_folder_path: merged.folder } },
    });
  }

  /**
   * Through the cache: its optimised graph when there is one (loaded with no further
   * optimisation), else the model optimised now with the result saved for next time. Undefined
   * when the model is too small to cache or the cache cannot be used; the caller then loads the
   * plain way. A cache entry that will not load is removed.
   */
  private static async loadCached(
    path: string,
    placement: SessionPlacement,
    options: ort.InferenceSession.SessionOptions,
    clock: SessionClock,
  ): Promise<ModelSession | undefined> {
    const entry = await optimizedEntryOf(path, placement.device, placement.optimizedCache!);
    if (!entry) return undefined;
    const ready = await entry.ready();
    if (ready) {
      try {
        const session = await ort.InferenceSession.create(ready, {
          ...options,
          graphOptimizationLevel: "disabled",
        });
        return new ModelSession(path, session, clock, placement.device, "from-cache");
      } catch {
        await entry.discard();
        return undefined;
      }
    }
    const target = await entry.begin();
    if (!target) return undefined;
    let session: ort.InferenceSession;
    try {
      session = await ort.InferenceSession.create(path, {
        ...options,
        optimizedModelFilePath: target.modelPath,
        // Not ORT's warning that the saved graph suits this CPU only: the cache key names the CPU.
        logSeverityLevel: 3,
        // Weights go to one external file beside the saved graph (a graph over 2 GB cannot be one protobuf).
        extra: {
          session: {
            optimized_model_external_initializers_file_name: target.dataFileName,
            optimized_model_external_initializers_min_size_in_bytes: "1024",
          },
        },
      });
    } catch {
      // Saving failed (disk full, a model ONNX Runtime cannot serialise): load without the cache.
      await target.abandon();
      return undefined;
    }
    await target.commit();
    return new ModelSession(path, session, clock, placement.device, "saved-to-cache");
  }

  get inputNames(): string[] {
    return [...this.inputs.keys()];
  }

  get outputNames(): string[] {
    return [...this.outputs.keys()];
  }

  hasInput(name: string): boolean {
    return this.inputs.has(name);
  }

  input(name: string): TensorInfo {
    const info = this.inputs.get(name);
    if (!info) {
      throw new ModelFolderError(this.path, `has no input "${name}" (inputs: ${this.inputNames.join(", ")})`);
    }
    return info;
  }

  output(name: string): TensorInfo {
    const info = this.outputs.get(name);
    if (!info) {
      throw new ModelFolderError(
        this.path,
        `has no output "${name}" (outputs: ${this.outputNames.join(", ")})`,
      );
    }
    return info;
  }

  /** Runs the model, fetching only `fetches` (names, or preallocated output tensors by name). */
  async run(
    feeds: Record<string, ort.Tensor>,
    fetches: readonly string[] | Record<string, ort.Tensor>,
  ): Promise<Record<string, ort.Tensor>> {
    const run = async () => {
      const started = performance.now();
      try {
        const result = Array.isArray(fetches)
          ? await this.session.run(feeds, fetches as readonly string[])
          : await this.session.run(feeds, fetches as Record<string, ort.Tensor>);
        return result as Record<string, ort.Tensor>;
      } finally {
        this.clock.totalMs += performance.now() - started;
      }
    };
    return this.onWebGpu ? serialisedOnWebGpu(run) : run();
  }

  async release(): Promise<void> {
    await this.session.release();
  }
}
