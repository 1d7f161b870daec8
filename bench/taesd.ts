/**
 * Tiny VAE (TAESDXL) decode against the SDXL VAE decode, both at their real sizes with random
 * weights: TAESDXL's decoder (1.22 M parameters) and SDXL 1.0's VAE decoder (49.5 M), written by
 * the fixture builders, timed through the pipeline's own decoder classes at 512² and 1024² images
 * (64² and 128² latents) on one device.
 *
 *   node --import tsx bench/taesd.ts [--device cpu] [--sizes 512,1024] [--runs 3] [--work DIR]
 */
import { mkdir, mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { buildFullSizeVaeDecoder, SDXL_VAE } from "../src/fixtures/full-size/index.js";
import { writeStreaming } from "../src/fixtures/onnx-graph.js";
import { TAESDXL_DECODER, writeTinyVaeFolder } from "../src/fixtures/taesd.js";
import { ModelSession, SessionClock } from "../src/pipeline/onnx/session.js";
import { TinyVaeDecoder } from "../src/pipeline/taesd.js";
import { VaeDecoder } from "../src/pipeline/vae.js";

function flag(name: string, fallback: string): string {
  const i = process.argv.indexOf(name);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1]! : fallback;
}

const device = flag("--device", "cpu");
const sizes = flag("--sizes", "512,1024").split(",").map(Number);
const runs = Number(flag("--runs", "3"));
const work = flag("--work", "") || (await mkdtemp(join(tmpdir(), "easel-bench-taesd-")));

const tinyDir = join(work, "taesdxl");
await writeTinyVaeFolder(tinyDir, { architecture: TAESDXL_DECODER });
const vaeDir = join(work, "vae_decoder");
await mkdir(vaeDir, { recursive: true });
await writeStreaming(buildFullSizeVaeDecoder(SDXL_VAE, { type: "float32" }), {
  dir: vaeDir,
  location: "model.onnx_data",
  seed: 1,
});

const clock = new SessionClock();
const tiny = await TinyVaeDecoder.load(tinyDir, { device }, clock);
const vae = new VaeDecoder(await ModelSession.load(join(vaeDir, "model.onnx"), { device }, clock), 0.13025);

async function time(decode: () => Promise<unknown>): Promise<number> {
  await decode(); // warm-up: first-run allocations
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const started = performance.now();
    await decode();
    times.push(performance.now() - started);
  }
  return times.sort((a, b) => a - b)[Math.floor(times.length / 2)]!;
}

for (const size of sizes) {
  const h = size / 8;
  const latents = Float32Array.from({ length: 4 * h * h }, (_, i) => Math.sin(i * 0.37) * 2);
  const tinyMs = await time(() => tiny.decode(latents, h, h));
  const vaeMs = await time(() => vae.decode(latents, h, h));
  console.log(
    `${size}x${size} (latent ${h}x${h}) on ${device}: TAESDXL ${tinyMs.toFixed(0)} ms, SDXL VAE ${vaeMs.toFixed(0)} ms, ` +
      `ratio ${(vaeMs / tinyMs).toFixed(1)}x (median of ${runs})`,
  );
}
await tiny.release();
