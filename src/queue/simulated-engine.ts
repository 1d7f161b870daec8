/**
 * A stand-in for the SDXL pipeline with the same contract and none of the models: each denoising
 * step sleeps (a GPU run, the thread idle) or spins (a CPU run, the thread busy) for `stepMs`, then
 * gives the event loop a turn, as the real loop does. Prompts can carry directives that make a run
 * misbehave, so that failure handling is testable:
 *   [sim:fail]   throw an ONNX-Runtime-like error halfway through
 *   [sim:oom]    throw a CUDA out-of-memory error halfway through
 *   [sim:vae-overflow]  throw the DeviceFailureError the pipeline throws when its VAE overflows
 *                with no fallback, after the last step (the engine itself stays usable)
 *   [sim:crash]  kill the worker thread with an uncaught exception halfway through
 *   [sim:exit]   end the worker thread with process.exit(7) halfway through
 *   [sim:hang]   spin forever halfway through, never yielding (only terminating the thread stops it)
 *   [sim:step-ms=N]  this run's step time instead of the spec's
 */
import sharp from "sharp";
import { CancelledError, DeviceFailureError } from "../errors.js";
import type {
  EncodedImage,
  GeneratedImage,
  GenerateHooks,
  GenerateParams,
  GenerateResult,
} from "../pipeline/types.js";
import type { Engine } from "./engine.js";

export interface SimulatedEngineSpec {
  kind: "simulated";
  /** Time per denoising step. */
  stepMs: number;
  /** "sleep" keeps the thread idle during a step (like a GPU run), "spin" keeps it busy (like the CPU EP). */
  work?: "sleep" | "spin";
  /** Time to "load the models" when the worker starts. */
  loadMs?: number;
  /** Make loading fail with this message (a bad model folder). */
  loadError?: string;
  /**
   * Time to "encode" a run's images after letting the device go (sleeping, as the real encode
   * waits on libuv's pool); default 0.
   */
  encodeMs?: number;
}

/** Side of the (solid colour) PNG each simulated image is. */
const IMAGE_SIDE = 8;

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve));

function spin(ms: number): void {
  const until = performance.now() + ms;
  while (performance.now() < until) {
    // busy, like a synchronous InferenceSession.run on this thread
  }
}

function directive(prompt: string, name: string): boolean {
  return prompt.includes(`[sim:${name}]`);
}

async function solidPng(seed: bigint): Promise<EncodedImage> {
  const rgb = new Uint8Array(IMAGE_SIDE * IMAGE_SIDE * 3);
  for (let i = 0; i < rgb.length; i += 3) {
    rgb[i] = Number(seed & 0xffn);
    rgb[i + 1] = Number((seed >> 8n) & 0xffn);
    rgb[i + 2] = Number((seed >> 16n) & 0xffn);
  }
  const png = await sharp(rgb, { raw: { width: IMAGE_SIDE, height: IMAGE_SIDE, channels: 3 } })
    .png()
    .toBuffer();
  return { mime: "image/png", data: new Uint8Array(png), width: IMAGE_SIDE, height: IMAGE_SIDE };
}

export class SimulatedEngine implements Engine {
  /** Runs started on this instance. */
  runs = 0;

  private constructor(private readonly spec: SimulatedEngineSpec) {}

  static async load(spec: SimulatedEngineSpec): Promise<SimulatedEngine> {
    if (spec.loadMs) await sleep(spec.loadMs);
    if (spec.loadError) throw new Error(spec.loadError);
    return new SimulatedEngine(spec);
  }

  async generate(params: GenerateParams, hooks: GenerateHooks = {}): Promise<GenerateResult> {
    this.runs += 1;
    const started = performance.now();
    const stepMs = Number(/\[sim:step-ms=(\d+(?:\.\d+)?)\]/.exec(params.prompt)?.[1] ?? this.spec.stepMs);
    const total = params.source
      ? Math.max(1, Math.round(params.steps * params.source.strength))
      : params.steps;
    const failAt = Math.floor(total / 2);
    let stepsMs = 0;
    for (let step = 0; step < total; step++) {
      if (hooks.signal?.aborted) throw new CancelledError();
      if (step === failAt) await this.misbehave(params.prompt);
      const t = performance.now();
      if (this.spec.work === "spin") spin(stepMs);
      else await sleep(stepMs);
      stepsMs += performance.now() - t;
      const every = hooks.previewEvery ?? 0;
      const preview = every > 0 && (step + 1) % every === 0 ? await solidPng(BigInt(step)) : undefined;
      hooks.onProgress?.({
        step: step + 1,
        totalSteps: total,
        elapsedMs: performance.now() - started,
        stage: "base",
        ...(preview ? { preview } : {}),
      });
      await nextTurn();
    }
    if (hooks.signal?.aborted) throw new CancelledError();
    if (directive(params.prompt, "vae-overflow")) {
      throw new DeviceFailureError("The image decoder overflowed (simulated); a float32 VAE avoids it.");
    }
    hooks.onDeviceFree?.();
    const t = performance.now();
    if (this.spec.encodeMs) await sleep(this.spec.encodeMs);
    const images: GeneratedImage[] = [];
    for (let i = 0; i < params.count; i++) {
      const seed = params.seed + BigInt(i);
      images.push({ ...(await solidPng(seed)), seed });
    }
    const encodeImageMs = performance.now() - t;
    return {
      images,
      latents: new Float32Array(0),
      timings: {
        totalMs: performance.now() - started,
        sessionMs: stepsMs,
        textEncodeMs: 0,
        denoiseMs: stepsMs,
        vaeMs: 0,
        encodeImageMs,
      },
    };
  }

  async dispose(): Promise<void> {}

  private async misbehave(prompt: string): Promise<void> {
    if (directive(prompt, "fail")) {
      throw new Error(
        "[ONNXRuntimeError] : 1 : FAIL : Non-zero status code returned while running Conv node (simulated)",
      );
    }
    if (directive(prompt, "oom")) {
      throw new Error(
        "[ONNXRuntimeError] : 6 : RUNTIME_EXCEPTION : CUDA failure 2: out of memory (simulated)",
      );
    }
    if (directive(prompt, "crash")) {
      setImmediate(() => {
        throw new Error("simulated worker crash");
      });
      await new Promise<never>(() => {}); // the uncaught exception ends the thread first
    }
    if (directive(prompt, "exit")) process.exit(7);
    if (directive(prompt, "hang")) {
      for (;;) spin(1000);
    }
  }
}
