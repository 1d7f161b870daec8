/**
 * LoRA merge benchmark (measures; it does not pass or fail):
 * 1. The merge arithmetic on the full-size SDXL base UNet's own shapes: a rank-R LoRA on every
 *    attention projection (attn1/attn2 to_q, to_k, to_v, to_out.0) and feed-forward layer
 *    (ff.net.0.proj, ff.net.2), one float16 weight at a time through the merge kernel (the graph is
 *    built, no weights are written); the bytes such a merge changes.
 * 2. End to end on the reduced full-size fixture: merge time and peak RSS, and session creation of
 *    the UNet with the merged weights (inline, and repacked into in-memory files) against the plain
 *    model.
 * `node --import tsx bench/lora.ts [--rank 32] [--reference] [--model DIR]` (the end-to-end part alone:
 * `--task end-to-end --dir DIR [--component unet|text_encoder_2] [--sessions]`): --reference also times
 * the TypeScript arithmetic (math.ts) that the Gemm kernel replaces; with --model (a folder written by
 * `easel fixtures --full-size`, or a real export), part 2 runs on that folder's UNet instead, in its
 * own process so that its peak RSS is its own.
 */
import { spawnSync } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import onnxProto from "onnx-proto";
import { buildFullSizeUnet, SDXL_BASE_UNET, writeFullSizeModels } from "../src/fixtures/full-size/index.js";
import { type FixtureLoraModule, fixtureLora } from "../src/fixtures/lora.js";
import { LoraProductKernel } from "../src/pipeline/lora/kernel.js";
import { addLoraProduct } from "../src/pipeline/lora/math.js";
import { mergeLoras } from "../src/pipeline/lora/merge.js";
import { indexWeightTargets, moduleShape, type WeightTarget } from "../src/pipeline/lora/targets.js";
import { float32ToFloat16Bits } from "../src/pipeline/onnx/float16.js";
import { ModelSession, SessionClock } from "../src/pipeline/onnx/session.js";

const { onnx } = onnxProto;
const GiB = 1024 ** 3;
const LORA_LAYERS =
  /\.(attn[12]\.(to_q|to_k|to_v|to_out\.0)|ff\.net\.0\.proj|ff\.net\.2|self_attn\.(q|k|v|out)_proj|mlp\.fc[12])$/;
type Component = "unet" | "text_encoder" | "text_encoder_2";

function flag(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

function loraTargets(targets: Map<string, WeightTarget>): WeightTarget[] {
  return [...targets.values()].filter((t) => LORA_LAYERS.test(t.module));
}

async function arithmeticOnFullSizeShapes(rank: number, reference: boolean): Promise<void> {
  const graph = buildFullSizeUnet(SDXL_BASE_UNET, { type: "float16" }).externalLayout(
    "model.onnx_data",
  ).model;
  const targets = loraTargets(indexWeightTargets(onnx.ModelProto.decode(graph)).byFlatName);
  let seconds = 0;
  let referenceSeconds = 0;
  let elements = 0;
  const kernel = new LoraProductKernel();
  let largest = 0;
  let factors = 0;
  for (const target of targets) {
    const [out, ...inner] = moduleShape(target) as [number, ...number[]];
    const columns = inner.reduce((a, b) => a * b, 1);
    const weight = new Float32Array(out * columns).fill(0.01);
    const up = new Float32Array(out * rank).fill(0.02);
    const down = new Float32Array(rank * columns).fill(0.03);
    const product = { up, down, rank, factor: 0.5 };
    let started = performance.now();
    const stored = new Uint8Array(float32ToFloat16Bits(weight).buffer);
    await kernel.apply(stored, "float16", target.layout, { out, columns }, [product]);
    seconds += (performance.now() - started) / 1000;
    if (reference) {
      started = performance.now();
      addLoraProduct(weight, target.layout, { ...product, out, columns });
      referenceSeconds += (performance.now() - started) / 1000;
    }
    elements += weight.length;
    largest = Math.max(largest, weight.length);
    factors += up.length + down.length;
  }
  const fma = elements * rank;
  console.log(
    `full-size SDXL base UNet, rank-${rank} LoRA on ${targets.length} attention + feed-forward layers:`,
  );
  console.log(
    `  weights changed: ${(elements / 1e9).toFixed(3)} B values = ${((elements * 2) / GiB).toFixed(2)} GiB float16 / ${((elements * 4) / GiB).toFixed(2)} GiB float32`,
  );
  console.log(
    `  LoRA factors: ${(factors / 1e6).toFixed(1)} M values (${((factors * 2) / 2 ** 20).toFixed(0)} MiB as F16)`,
  );
  await kernel.release();
  const rate = (s: number) => `${(fma / s / 1e9).toFixed(2)} G multiply-adds/s`;
  console.log(
    `  arithmetic on onnxruntime (float16 weights, cast, Gemm, cast back): ${seconds.toFixed(1)} s (${rate(seconds)})`,
  );
  if (reference) {
    console.log(
      `  arithmetic in TypeScript (math.ts, one thread): ${referenceSeconds.toFixed(1)} s (${rate(referenceSeconds)})`,
    );
  }
  console.log(`  largest float32 working weight: ${((largest * 4) / 2 ** 20).toFixed(0)} MiB`);
}

async function median(times: number, run: () => Promise<number>): Promise<number> {
  const samples: number[] = [];
  for (let i = 0; i < times; i++) samples.push(await run());
  return samples.sort((a, b) => a - b)[Math.floor(samples.length / 2)]!;
}

async function endToEnd(
  folder: string,
  component: Component,
  rank: number,
  sessions: boolean,
): Promise<void> {
  const unet = join(folder, component, "model.onnx");
  const graph = onnx.ModelProto.decode(await (await import("node:fs/promises")).readFile(unet));
  const modules: FixtureLoraModule[] = loraTargets(indexWeightTargets(graph).byFlatName).map((t) => ({
    component,
    module: t.module,
    shape: moduleShape(t),
  }));
  const scratch = await mkdtemp(join(tmpdir(), "easel-lora-bench-"));
  try {
    const lora = join(scratch, "bench.safetensors");
    await writeFile(lora, fixtureLora(modules, { style: "kohya", rank, seed: 1, dtype: "F16", std: 0.01 }));
    const components = [{ component, path: unet }];
    let started = performance.now();
    const inline = await mergeLoras(components, [{ path: lora, scale: 0.8 }]);
    const mergeSeconds = (performance.now() - started) / 1000;
    const merged = inline.models.get(unet)!;
    const way =
      merged.externalData.length > 0
        ? `repacked into ${merged.externalData.length} in-memory files`
        : "inline";
    console.log(`${folder}: rank-${rank} LoRA on ${modules.length} ${component} layers`);
    console.log(
      `  merge (read, match, add, store, rewrite): ${mergeSeconds.toFixed(2)} s, ${way}; peak RSS so far ${(process.resourceUsage().maxRSS / 2 ** 20).toFixed(2)} GiB`,
    );
    if (!sessions) return;
    started = performance.now();
    const repacked = (
      await mergeLoras(components, [{ path: lora, scale: 0.8 }], { inlineLimitBytes: 0 })
    ).models.get(unet)!;
    console.log(`  merge, repacked way: ${((performance.now() - started) / 1000).toFixed(2)} s`);
    const load = (model?: typeof merged) => async () => {
      const t = performance.now();
      const session = await ModelSession.load(unet, { device: "cpu" }, new SessionClock(), model);
      const ms = performance.now() - t;
      await session.release();
      return ms;
    };
    const plain = await median(3, load());
    const withInline = await median(3, load(merged));
    const withRepacked = await median(3, load(repacked));
    console.log(
      `  session creation (median of 3): plain ${plain.toFixed(0)} ms, merged inline ${withInline.toFixed(0)} ms (${(withInline / plain).toFixed(2)}x), merged repacked ${withRepacked.toFixed(0)} ms (${(withRepacked / plain).toFixed(2)}x)`,
    );
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}

const rank = Number(flag("--rank") ?? 32);
const task = flag("--task");
const model = flag("--model");
if (task === "end-to-end") {
  const component = (flag("--component") ?? "unet") as Component;
  await endToEnd(flag("--dir")!, component, rank, process.argv.includes("--sessions"));
} else {
  await arithmeticOnFullSizeShapes(rank, process.argv.includes("--reference"));
  if (model) {
    // Its own process, so the peak RSS is the merge's alone.
    spawnSync(
      process.execPath,
      ["--import", "tsx", "bench/lora.ts", "--task", "end-to-end", "--dir", model, "--rank", String(rank)],
      { stdio: "inherit" },
    );
  } else {
    const scratch = await mkdtemp(join(tmpdir(), "easel-lora-bench-model-"));
    try {
      const { base } = await writeFullSizeModels(scratch, { depth: "reduced", seed: 1 });
      spawnSync(
        process.execPath,
        [
          "--import",
          "tsx",
          "bench/lora.ts",
          "--task",
          "end-to-end",
          "--dir",
          base,
          "--rank",
          "8",
          "--sessions",
        ],
        { stdio: "inherit" },
      );
    } finally {
      await rm(scratch, { recursive: true, force: true });
    }
  }
}
