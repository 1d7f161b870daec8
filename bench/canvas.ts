/**
 * Canvas actions against a plain img2img of the same size and strength, on the bench fixture
 * (a UNet costing tens of milliseconds per call): what zoom out and repaint add to a job (the
 * plan — layout, masks, fill — the per-step blend and the compositing), and the plan alone for a
 * pan, whose result is larger than its source. Medians of a few runs.
 */
import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { writeFixtureModels } from "../src/fixtures/index.js";
import { planCanvas } from "../src/pipeline/canvas/canvas-image.js";
import { loadSourceImage } from "../src/pipeline/image/source.js";
import { loadPipeline } from "../src/pipeline/index.js";
import type { CanvasAction, GenerateParams } from "../src/pipeline/types.js";

const RUNS = 5;
const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
const ms = (value: number) => `${value.toFixed(1)} ms`;

function line(label: string, value: string, note = ""): void {
  process.stdout.write(`  ${label.padEnd(46)} ${value.padStart(11)}  ${note}\n`);
}

export async function benchCanvas(): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), "easel-bench-canvas-"));
  const models = await writeFixtureModels(dir, { variants: ["bench"] });
  const pipeline = await loadPipeline({ modelDir: models.bench, device: "cpu" });
  const params: GenerateParams = {
    prompt: "a lighthouse on a cliff at dusk, volumetric light, highly detailed",
    width: 1024,
    height: 1024,
    seed: 42n,
    steps: 20,
    guidance: 5,
    scheduler: "euler",
    count: 1,
  };
  const image = (await pipeline.generate({ ...params, steps: 2 })).images[0]!.data; // also the warm-up
  const source = { image, strength: 0.9, upscale: 1 as const };
  const cases: [string, CanvasAction | undefined][] = [
    ["img2img (the baseline)", undefined],
    ["zoom out 2x", { kind: "zoom_out", factor: 2 }],
    [
      "repaint one 512x384 rectangle",
      { kind: "repaint", rects: [{ x: 256, y: 256, width: 512, height: 384 }] },
    ],
  ];
  // Interleaved rounds, so a busy machine's load falls on every case alike.
  const totals = cases.map(() => [] as number[]);
  const own = cases.map(() => [] as number[]);
  for (let round = 0; round < RUNS; round++) {
    for (const [i, [, canvas]] of cases.entries()) {
      const { timings } = await pipeline.generate({ ...params, source, ...(canvas ? { canvas } : {}) });
      totals[i]!.push(timings.totalMs);
      own[i]!.push(timings.totalMs - timings.sessionMs - timings.encodeImageMs);
    }
  }
  process.stdout.write(
    `\nCanvas actions, bench fixture, 1024x1024, ${params.steps} steps at strength 0.9, euler, CFG 5, CPU EP (median of ${RUNS}, interleaved)\n`,
  );
  const baseline = median(totals[0]!);
  const baselineOwn = median(own[0]!);
  for (const [i, [label]] of cases.entries()) {
    const total = median(totals[i]!);
    const work = median(own[i]!);
    const note =
      i === 0
        ? `outside sessions ${ms(work)}`
        : `${((100 * (total - baseline)) / baseline).toFixed(1)}% vs img2img; outside sessions ${ms(work)} (+${ms(work - baselineOwn)})`;
    line(label, ms(total), note);
  }

  const decoded = await loadSourceImage(image, { upscale: 1, maxPixels: 2048 * 2048, maxBytes: 32 << 20 });
  for (const action of [
    { kind: "zoom_out", factor: 2 },
    { kind: "pan", direction: "right" },
  ] as CanvasAction[]) {
    const runs: number[] = [];
    for (let i = 0; i < RUNS; i++) {
      const started = performance.now();
      await planCanvas(decoded, action, [42n]);
      runs.push(performance.now() - started);
    }
    const label =
      action.kind === "pan" ? "plan of a pan right (1216x832 result)" : "plan of a zoom out 2x (1024x1024)";
    line(label, ms(median(runs)), "layout, masks, resize, fill");
  }
  await pipeline.dispose();
}

if (import.meta.url === `file://${process.argv[1]}`) await benchCanvas();
