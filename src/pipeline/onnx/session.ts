/**
 * A thin wrapper over one onnxruntime InferenceSession: loads by file path (so external weights
 * beside the model resolve), reads input/output element types and ranks from the session's own
 * metadata, and times every run into a shared clock.
 */
import * as ort from "onnxruntime-node";
import { ModelFolderError } from "../../errors.js";

export interface SessionPlacement {
  /** "cpu" or "cuda:N". */
  device: string;
  /** 0 lets onnxruntime choose. */
  intraOpThreads?: number;
}

export interface TensorInfo {
  name: string;
  type: ort.Tensor.Type;
  shape: ReadonlyArray<number | string>;
}

/** Sums the wall time spent inside session runs, for the pipeline's timing report. */
export class SessionClock {
  totalMs = 0;
}

export function executionProviders(device: string): ort.InferenceSession.ExecutionProviderConfig[] {
  const cuda = /^cuda:(\d+)$/.exec(device);
  if (!cuda) return ["cpu"];
  return [{ name: "cuda", deviceId: Number(cuda[1]) }, "cpu"];
}

export class ModelSession {
  private readonly inputs = new Map<string, TensorInfo>();
  private readonly outputs = new Map<string, TensorInfo>();

  private constructor(
    readonly path: string,
    private readonly session: ort.InferenceSession,
    private readonly clock: SessionClock,
  ) {
    for (const meta of session.inputMetadata) {
      if (meta.isTensor) this.inputs.set(meta.name, { name: meta.name, type: meta.type, shape: meta.shape });
    }
    for (const meta of session.outputMetadata) {
      if (meta.isTensor) this.outputs.set(meta.name, { name: meta.name, type: meta.type, shape: meta.shape });
    }
  }

  static async load(path: string, placement: SessionPlacement, clock: SessionClock): Promise<ModelSession> {
    const options: ort.InferenceSession.SessionOptions = {
      executionProviders: executionProviders(placement.device),
      graphOptimizationLevel: "all",
      ...(placement.intraOpThreads ? { intraOpNumThreads: placement.intraOpThreads } : {}),
    };
    try {
      return new ModelSession(path, await ort.InferenceSession.create(path, options), clock);
    } catch (error) {
      const reason = error instanceof Error ? error.message.split("\n")[0] : String(error);
      throw new ModelFolderError(path, `could not be loaded as an ONNX model (${reason})`, { cause: error });
    }
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
    const started = performance.now();
    try {
      const result = Array.isArray(fetches)
        ? await this.session.run(feeds, fetches as readonly string[])
        : await this.session.run(feeds, fetches as Record<string, ort.Tensor>);
      return result as Record<string, ort.Tensor>;
    } finally {
      this.clock.totalMs += performance.now() - started;
    }
  }

  async release(): Promise<void> {
    await this.session.release();
  }
}
