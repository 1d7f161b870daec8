/**
 * The training noise schedule a scheduler is built on: betas, their cumulative alpha products and
 * the matching sigmas, as diffusers' scheduler constructors compute them in float32.
 */
import type { ResolvedSchedulerConfig } from "./config.js";
import { cumprodFloat32, torchLinspaceFloat32 } from "./numerics.js";

const fl = Math.fround;

export interface TrainSchedule {
  readonly betas: Float32Array;
  /** alphas_cumprod[t], t = 0..T-1. */
  readonly alphasCumprod: Float32Array;
  /** sqrt((1 - alphas_cumprod)/alphas_cumprod), index = training timestep. */
  readonly sigmas: Float32Array;
}

/** Glide's cosine schedule (betas_for_alpha_bar, max_beta 0.999), in float64 then float32. */
function cosineBetas(T: number): Float32Array {
  const alphaBar = (t: number) => Math.cos(((t + 0.008) / 1.008) * (Math.PI / 2)) ** 2;
  const betas = new Float32Array(T);
  for (let i = 0; i < T; i++) betas[i] = Math.min(1 - alphaBar((i + 1) / T) / alphaBar(i / T), 0.999);
  return betas;
}

/** rescale_zero_terminal_snr (Lin et al. 2023, Algorithm 1) with torch's float32 ops. */
function rescaleZeroTerminalSnr(betas: Float32Array): Float32Array {
  const T = betas.length;
  const alphas = betas.map((b) => 1 - b);
  const sqrtBar = cumprodFloat32(alphas).map(Math.sqrt);
  const first = sqrtBar[0]!;
  const last = sqrtBar[T - 1]!;
  const scale = fl(first / fl(first - last));
  for (let i = 0; i < T; i++) sqrtBar[i] = fl(sqrtBar[i]! - last) * scale;
  const bar = sqrtBar.map((x) => x * x);
  const rescaled = new Float32Array(T);
  rescaled[0] = 1 - bar[0]!;
  for (let i = 1; i < T; i++) rescaled[i] = 1 - fl(bar[i]! / bar[i - 1]!);
  return rescaled;
}

/**
 * Builds the schedule. `zeroSnrFloor`: the Euler family and DPM replace the last alphas_cumprod of
 * a zero-terminal-SNR schedule with 2^-24 so that its sigma stays finite; DDIM keeps the 0.
 */
export function trainSchedule(config: ResolvedSchedulerConfig, zeroSnrFloor: boolean): TrainSchedule {
  const T = config.numTrainTimesteps;
  let betas: Float32Array;
  if (config.trainedBetas) {
    betas = Float32Array.from(config.trainedBetas);
  } else if (config.betaSchedule === "linear") {
    betas = torchLinspaceFloat32(config.betaStart, config.betaEnd, T);
  } else if (config.betaSchedule === "scaled_linear") {
    betas = torchLinspaceFloat32(Math.sqrt(config.betaStart), Math.sqrt(config.betaEnd), T).map((x) => x * x);
  } else {
    betas = cosineBetas(T);
  }
  if (config.rescaleBetasZeroSnr) betas = rescaleZeroTerminalSnr(betas);

  const alphasCumprod = cumprodFloat32(betas.map((b) => 1 - b));
  if (config.rescaleBetasZeroSnr && zeroSnrFloor) alphasCumprod[T - 1] = 2 ** -24;
  const sigmas = new Float32Array(T);
  for (let t = 0; t < T; t++) {
    const a = alphasCumprod[t]!;
    sigmas[t] = Math.sqrt(fl(fl(1 - a) / a));
  }
  return { betas, alphasCumprod, sigmas };
}
