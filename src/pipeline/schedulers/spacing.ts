/**
 * Inference timesteps for `timestep_spacing` (Lin et al. 2023, table 2), as the diffusers classes
 * compute them. Results are descending.
 *
 * One deliberate deviation: for 62 step counts up to 1000 with trailing spacing (e.g. 61), numpy's
 * float arange yields one extra element near 0, which diffusers turns into a trailing timestep -1
 * and an extra step. We keep exactly `steps` timesteps.
 */
import type { ResolvedSchedulerConfig } from "./config.js";
import { numpyArange, numpyLinspace, roundHalfEven } from "./numerics.js";

/** "leading": multiples of T // N counted from 0, plus steps_offset. */
function leading(config: ResolvedSchedulerConfig, steps: number): Float64Array {
  const ratio = Math.floor(config.numTrainTimesteps / steps);
  const out = new Float64Array(steps);
  for (let i = 0; i < steps; i++) out[i] = (steps - 1 - i) * ratio + config.stepsOffset;
  return out;
}

/** "trailing": round(np.arange(T, 0, -T/N)) - 1. */
function trailing(config: ResolvedSchedulerConfig, steps: number): Float64Array {
  const T = config.numTrainTimesteps;
  const grid = numpyArange(T, 0, -(T / steps));
  const out = new Float64Array(steps);
  for (let i = 0; i < steps; i++) out[i] = roundHalfEven(grid[i]!) - 1;
  return out;
}

/** set_timesteps' spacing; `linspaceValue` is how each class stores a linspace timestep. */
function spacedTimesteps(
  config: ResolvedSchedulerConfig,
  steps: number,
  linspaceValue: (t: number) => number,
): Float64Array {
  switch (config.timestepSpacing) {
    case "leading":
      return leading(config, steps);
    case "trailing":
      return trailing(config, steps);
    case "linspace":
      return numpyLinspace(0, config.numTrainTimesteps - 1, steps)
        .map((t) => linspaceValue(t))
        .reverse();
  }
}

/** Euler and Euler ancestral: float32 timesteps, fractional with linspace. */
export function eulerFamilyTimesteps(config: ResolvedSchedulerConfig, steps: number): Float64Array {
  return spacedTimesteps(config, steps, Math.fround);
}

/** DDIM: integer timesteps. */
export function ddimTimesteps(config: ResolvedSchedulerConfig, steps: number): Float64Array {
  return spacedTimesteps(config, steps, roundHalfEven);
}
