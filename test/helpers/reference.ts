/** The shared reference data (test/fixtures/reference) and its scheduler names. */
import { readFileSync } from "node:fs";
import type { SchedulerName } from "../../src/pipeline/types.js";

/** Parses one reference JSON file; the caller states the shape it reads. */
export function readReference<T>(file: string): T {
  return JSON.parse(readFileSync(new URL(`../fixtures/reference/${file}`, import.meta.url), "utf8")) as T;
}

/** The reference files' scheduler keys and ours. */
export const SCHEDULER_OF_REFERENCE: Record<string, SchedulerName> = {
  euler: "euler",
  euler_ancestral: "euler-a",
  dpmpp_2m_karras: "dpmpp-2m-karras",
  ddim: "ddim",
};

/** trajectories.json's stand-in for the UNet: eps = (x*t)/(t + k) + c, each a float32 operation. */
export interface StandIn {
  k: number;
  cond: number[];
  uncond: number[];
}

/** The stand-in's prediction for latents `x` at timestep `t` with conditioning `c` (its cond or uncond). */
export function standInEps(model: StandIn, x: Float32Array, t: number, c: readonly number[]): Float32Array {
  const tf = Math.fround(t);
  const d = Math.fround(tf + model.k);
  return x.map((v, i) => Math.fround(Math.fround(v * tf) / d) + c[i]!);
}
