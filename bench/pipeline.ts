/**
 * Pipeline benchmark on the bench fixture (a UNet costing tens of milliseconds per call):
 * 1024x1024, 30 steps, guidance on. Reports where the time goes as shares of one run, the
 * refiner's share of a base+refiner run, and the cost of live previews.
 */
import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { writeFixtureModels } from "../src/fixtures/index.js";
import { loadPipeline } from "../src/pipeline/index.js";
import type { GenerateParams, GenerateResult } from "../src/pipeline/types.js";

const ms = (value: number) => `${value.toFixed(1)} ms`;
const pct = (part: number, whole: number) => `${((100 * part) / whole).toFixed(2)}%`;

function line(label: string, value: string, note = ""): void {
  process.stdout.write(`  ${label.padEnd(44)} ${value.padStart(12)}  ${note}\n`);
}

export async function benchPipeline(): Promise<void> {
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
  await pipeline.generate({ ...params, steps: 2 }); // warm-up: first-run kernel selection and allocations

  const rssBefore = process.memoryUsage().rss;
  const plain: GenerateResult = await pipeline.generate(params);
  const t = plain.timings;
  const other = t.totalMs - t.sessionMs - t.encodeImageMs;
  process.stdout.write(
    "\nSDXL pipeline, bench fixture, 1024x1024, 30 steps, euler, CFG 5, 1 image (CPU EP)\n",
  );
  line("wall time per image", ms(t.totalMs));
  line("inside ONNX sessions (sum of run calls)", ms(t.sessionMs), pct(t.sessionMs, t.totalMs));
  line("everything else (tokenise, noise, scheduler,", ms(other), `${pct(other, t.totalMs)}  (goal < 2%)`);
  line("  CFG, tensor copies, VAE post-processing)", "", "");
  line("PNG encoding (sharp)", ms(t.encodeImageMs), pct(t.encodeImageMs, t.totalMs));
  line("per step: denoise loop / steps", ms(t.denoiseMs / params.steps));

  const withPreviews = await pipeline.generate(params, { previewEvery: 1, onProgress: () => {} });
  const previewCost = (withPreviews.timings.denoiseMs - t.denoiseMs) / params.steps;
  const stepMs = t.denoiseMs / params.steps;
  line("live preview, cost of one", ms(previewCost), `${pct(previewCost, stepMs)} of a step`);
  line(
    "  per step at the default cadence (every 5)",
    ms(previewCost / 5),
    `${pct(previewCost / 5, stepMs)} of a step (goal < 1%)`,
  );

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
  line("base+refiner run (switch 0.8) wall time", ms(refined.timings.totalMs));
  line(
    "refiner's share of that run",
    pct(allDone - baseDone, refined.timings.totalMs),
    "(its 6 of 30 steps)",
  );
  line(
    "peak RSS",
    `${(process.resourceUsage().maxRSS / 1024).toFixed(0)} MiB`,
    `(rss before runs ${(rssBefore / 2 ** 20).toFixed(0)} MiB)`,
  );
  await pipeline.dispose();
}

if (import.meta.url === `file://${process.argv[1]}`) await benchPipeline();
