/**
 * Pipeline benchmark on the bench fixture (a UNet costing tens of milliseconds per call):
 * 1024x1024, 30 steps, guidance on. Reports where the time goes as shares of the same runs
 * (medians over several), the refiner's share of a base+refiner run, and the cost of previews.
 */
import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { writeFixtureModels } from "../src/fixtures/index.js";
import { applyGuidance } from "../src/pipeline/conditioning.js";
import { guidedPreviewRgb, latentToPreviewRgb } from "../src/pipeline/image/preview.js";
import { loadPipeline } from "../src/pipeline/index.js";
import { createScheduler, SDXL_SCHEDULER_CONFIG } from "../src/pipeline/schedulers/index.js";
import type { GenerateParams, GenerateTimings } from "../src/pipeline/types.js";

const RUNS = 5;
const ms = (value: number) => `${value.toFixed(1)} ms`;
const pct = (part: number, whole: number) => `${((100 * part) / whole).toFixed(2)}%`;
const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

function line(label: string, value: string, note = ""): void {
  process.stdout.write(`  ${label.padEnd(46)} ${value.padStart(11)}  ${note}\n`);
}

/** The pipeline's own work in a run: wall time minus session time, PNG encoding apart. */
function ownWork(t: GenerateTimings) {
  const phases = t.sessionMsByPhase!;
  return {
    textEncode: t.textEncodeMs - phases.textEncode,
    denoise: t.denoiseMs - phases.denoise,
    vae: t.vaeMs - phases.vae,
    all: t.totalMs - t.sessionMs - t.encodeImageMs,
  };
}

/**
 * The loop's CPU-side work between two UNet runs at 1024x1024 with CFG, without sessions, so the
 * machine's other load matters less: the separate passes (scale_model_input, two copies into the
 * UNet's batch, guidance, the step) against the fused step, and the preview's x0 + projection
 * against the one-pass preview. Interleaved, median of many rounds.
 */
export function cpuSideWork(): void {
  const n = 4 * 128 * 128;
  const rounds = 60;
  const scheduler = createScheduler("euler", SDXL_SCHEDULER_CONFIG, rounds + 1);
  const latents = Float32Array.from({ length: n }, (_, i) => Math.sin(i) * 10);
  const output = Float32Array.from({ length: 2 * n }, (_, i) => Math.cos(i));
  const input = new Float32Array(2 * n);
  const modelInput = new Float32Array(n);
  const eps = new Float32Array(n);
  const estimate = new Float32Array(n);
  const times = {
    separate: [] as number[],
    fused: [] as number[],
    preview: [] as number[],
    onePass: [] as number[],
  };
  for (let i = 0; i < rounds; i++) {
    let t = performance.now();
    scheduler.scaleModelInput(latents, i, modelInput);
    input.set(modelInput);
    input.set(modelInput, n);
    applyGuidance(output.subarray(0, n), output.subarray(n), 5, eps);
    scheduler.step(eps, i, latents);
    times.separate.push(performance.now() - t);
    t = performance.now();
    scheduler.stepGuided({ output, guidance: 5, latents, nextInput: input }, i);
    times.fused.push(performance.now() - t);
    t = performance.now();
    applyGuidance(output.subarray(0, n), output.subarray(n), 5, eps);
    scheduler.predictOriginal(latents, eps, i, estimate);
    latentToPreviewRgb(estimate, 0, 128, 128);
    times.preview.push(performance.now() - t);
    t = performance.now();
    guidedPreviewRgb({ latents, output, guidance: 5, x0: scheduler.previewCoefficients(i) }, 128, 128);
    times.onePass.push(performance.now() - t);
  }
  const separate = median(times.separate);
  const fused = median(times.fused);
  process.stdout.write(
    "\nCPU-side work per step, 1024x1024 latents, CFG (no sessions; median of 60, interleaved)\n",
  );
  line("separate: scale, 2 copies, guidance, step", ms(separate));
  line("fused: one pass", ms(fused), `${(separate / fused).toFixed(2)}x less`);
  const preview = median(times.preview);
  const onePass = median(times.onePass);
  line("preview before encode: guidance, x0, projection", ms(preview));
  line("  one-pass preview", ms(onePass), `${(preview / onePass).toFixed(2)}x less`);
}

export async function benchPipeline(): Promise<void> {
  cpuSideWork();
  const dir = await mkdtemp(join(tmpdir(), "easel-bench-"));
  const models = await writeFixtureModels(dir, { variants: ["bench", "refiner"] });
  const pipeline = await loadPipeline({ modelDir: models.bench, refinerDir: models.refiner, device: "cpu" });
  const params: GenerateParams = {
    prompt: "a lighthouse on a cliff at dusk, volumetric light, highly detailed",
    negativePrompt: "blurry, low quality",
    width: 1024,
    height: 1024,
    seed: 42n,
    steps: 30,
    guidance: 5,
    scheduler: "euler",
    count: 1,
  };
  await pipeline.generate({ ...params, steps: 2 }); // warm-up: kernel selection, first allocations

  const runs: GenerateTimings[] = [];
  for (let i = 0; i < RUNS; i++) runs.push((await pipeline.generate(params)).timings);
  const pick = (f: (t: GenerateTimings) => number) => median(runs.map(f));
  const total = pick((t) => t.totalMs);
  const own = {
    all: pick((t) => ownWork(t).all),
    textEncode: pick((t) => ownWork(t).textEncode),
    denoise: pick((t) => ownWork(t).denoise),
    vae: pick((t) => ownWork(t).vae),
  };
  const stepMs = pick((t) => t.denoiseMs) / params.steps;

  process.stdout.write(
    `\nSDXL pipeline, bench fixture, 1024x1024, ${params.steps} steps, euler, CFG 5, 1 image, CPU EP (median of ${RUNS})\n`,
  );
  line("wall time per image", ms(total));
  line(
    "inside ONNX sessions (sum of run calls)",
    ms(pick((t) => t.sessionMs)),
    pct(
      pick((t) => t.sessionMs),
      total,
    ),
  );
  line("everything else", ms(own.all), `${pct(own.all, total)}  (goal < 2%)`);
  line("  tokenising and embedding assembly", ms(own.textEncode), pct(own.textEncode, total));
  line(
    "  noise, scheduler, CFG, copies (all steps)",
    ms(own.denoise),
    `${pct(own.denoise, total)}  (${ms(own.denoise / params.steps)} a step)`,
  );
  line("  VAE post-processing", ms(own.vae), pct(own.vae, total));
  line(
    "PNG encoding (sharp)",
    ms(pick((t) => t.encodeImageMs)),
    pct(
      pick((t) => t.encodeImageMs),
      total,
    ),
  );
  line("denoising step (wall)", ms(stepMs));

  const previewRuns: GenerateTimings[] = [];
  for (let i = 0; i < RUNS; i++) {
    previewRuns.push((await pipeline.generate(params, { previewEvery: 1, onProgress: () => {} })).timings);
  }
  // Main-thread work per preview (x0, projection, starting the encode) and, for comparison, how
  // much longer a whole run with a preview at every step took (the JPEG encodes run on libuv's
  // pool, which on a machine whose cores ONNX Runtime keeps busy competes with the UNet).
  const onLoop = median(previewRuns.map((t) => t.previewMs!)) / params.steps;
  const wallDelta = (median(previewRuns.map((t) => t.totalMs)) - total) / params.steps;
  line("live preview, main-thread work per preview", ms(onLoop), `${pct(onLoop, stepMs)} of a step`);
  line(
    "  per step at the default cadence (every 5)",
    ms(onLoop / 5),
    `${pct(onLoop / 5, stepMs)} of a step (goal < 1%)`,
  );
  line("  wall time added per preview (all cores)", ms(wallDelta), `${pct(wallDelta, stepMs)} of a step`);

  let baseDone = 0;
  let allDone = 0;
  const refined = await pipeline.generate(
    { ...params, refiner: { switchAt: 0.8 } },
    {
      onProgress: (p) => {
        if (p.stage === "base") baseDone = p.elapsedMs;
        allDone = p.elapsedMs;
      },
    },
  );
  line("base+refiner run (switch 0.8), wall time", ms(refined.timings.totalMs));
  line(
    "  the refiner's share of that run",
    pct(allDone - baseDone, refined.timings.totalMs),
    "(its 6 of 30 steps)",
  );
  line("peak RSS", `${(process.resourceUsage().maxRSS / 1024).toFixed(0)} MiB`);
  await pipeline.dispose();
}

if (import.meta.url === `file://${process.argv[1]}`) await benchPipeline();
