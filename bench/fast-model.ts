/**
 * A distilled model's job on the bench fixture: 512x512, 1 step, guidance 0 (no unconditional
 * pass), Euler ancestral with trailing spacing, as the sdxl-turbo preset runs it. Reports the whole
 * run against one UNet evaluation at batch 1 (medians over several runs), and where the rest goes.
 *
 *   node --import tsx bench/fast-model.ts [--model DIR] [--runs N]
 *
 * `--model` runs a folder instead (e.g. `easel fixtures --full-size` for real-size timings); the
 * run is then also timed with a TAESDXL draft decode (a full-width tiny VAE written here).
 */
import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { writeFixtureModels } from "../src/fixtures/index.js";
import { writeTinyVaeFolder } from "../src/fixtures/taesd.js";
import { loadPipeline } from "../src/pipeline/index.js";
import type { GenerateParams, GenerateTimings } from "../src/pipeline/types.js";

const argValue = (flag: string) => {
  const at = process.argv.indexOf(flag);
  return at >= 0 ? process.argv[at + 1] : undefined;
};
const RUNS = Number(argValue("--runs") ?? 7);
const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

const dir = await mkdtemp(join(tmpdir(), "easel-fast-"));
const modelDir = argValue("--model") ?? (await writeFixtureModels(dir, { variants: ["bench"] })).bench;
const tinyVaeDir = join(dir, "taesdxl");
await writeTinyVaeFolder(tinyVaeDir);
const pipeline = await loadPipeline({ modelDir, device: "cpu", tinyVaeDir });
const params: GenerateParams = {
  prompt: "a fox in the snow",
  width: 512,
  height: 512,
  seed: 7n,
  steps: 1,
  guidance: 0,
  scheduler: "euler-a",
  spacing: "trailing",
  count: 1,
};
await pipeline.generate(params); // warm-up
const runs: GenerateTimings[] = [];
for (let i = 0; i < RUNS; i++) runs.push((await pipeline.generate(params)).timings);
// The same job decoded by the tiny VAE (--draft).
const drafts: GenerateTimings[] = [];
for (let i = 0; i < RUNS; i++) drafts.push((await pipeline.generate({ ...params, draft: true })).timings);
// The same step with guidance on: the UNet batch doubles for the unconditional rows.
const guided: GenerateTimings[] = [];
for (let i = 0; i < RUNS; i++) guided.push((await pipeline.generate({ ...params, guidance: 5 })).timings);
await pipeline.dispose();
const unet = median(runs.map((t) => t.sessionMsByPhase!.denoise));
const total = median(runs.map((t) => t.totalMs));
const row = (label: string, value: number) =>
  process.stdout.write(
    `  ${label.padEnd(34)} ${value.toFixed(1).padStart(8)} ms  ${(value / unet).toFixed(2)}x UNet\n`,
  );
process.stdout.write(
  `${argValue("--model") ?? "bench fixture"}, 512x512, 1 step, guidance 0 (UNet runs ${JSON.stringify(runs[0]!.unet)}), median of ${RUNS}\n`,
);
row("one UNet evaluation (batch 1)", unet);
row("text encoders", median(runs.map((t) => t.textEncodeMs)));
row("VAE decode", median(runs.map((t) => t.vaeMs)));
row("PNG encoding", median(runs.map((t) => t.encodeImageMs)));
row("whole run", total);
row("whole run, --draft (TAESDXL decode)", median(drafts.map((t) => t.totalMs)));
// Ratios within each run: the machine's load moves between runs, not within one.
const ownRatio = (timings: GenerateTimings[]) =>
  median(timings.map((t) => t.totalMs / t.sessionMsByPhase!.denoise)).toFixed(2);
process.stdout.write(
  `  whole run / its own UNet evaluation: ${ownRatio(runs)}x; with --draft: ${ownRatio(drafts)}x\n`,
);
row("one UNet evaluation, guidance 5 (batch 2)", median(guided.map((t) => t.sessionMsByPhase!.denoise)));
row("whole run, guidance 5", median(guided.map((t) => t.totalMs)));
