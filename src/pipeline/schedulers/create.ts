/**
 * Building schedulers by name, and the two ways a run starts part-way through a schedule: the
 * base/refiner split (diffusers' denoising_end / denoising_start) and img2img's strength.
 */
import { InvalidInputError } from "../../errors.js";
import type { SchedulerName } from "../types.js";
import { resolveSchedulerConfig, type SchedulerConfig } from "./config.js";
import { DdimScheduler } from "./ddim.js";
import { DpmSolverScheduler } from "./dpm-solver.js";
import { EulerAncestralScheduler, EulerScheduler } from "./euler.js";
import { LcmScheduler } from "./lcm.js";
import { roundHalfEven } from "./numerics.js";
import type { Scheduler } from "./scheduler.js";
import { trainSchedule } from "./train-schedule.js";

/** A scheduler for `steps` inference steps (set_timesteps(steps)), with empty multistep history. */
export function createScheduler(name: SchedulerName, config: SchedulerConfig, steps: number): Scheduler {
  const resolved = resolveSchedulerConfig(name, config);
  const T = resolved.numTrainTimesteps;
  if (!Number.isInteger(steps) || steps < 1 || steps > T) {
    throw new InvalidInputError(`Steps must be a whole number from 1 to ${T}, got ${steps}.`, "steps");
  }
  switch (name) {
    case "euler":
      return new EulerScheduler(resolved, steps, trainSchedule(resolved, true));
    case "euler-a":
      return new EulerAncestralScheduler(resolved, steps, trainSchedule(resolved, true));
    case "dpmpp-2m-karras":
      return new DpmSolverScheduler(resolved, steps, trainSchedule(resolved, true));
    case "ddim":
      return new DdimScheduler(resolved, steps, trainSchedule(resolved, false));
    case "lcm":
      return new LcmScheduler(resolved, steps, trainSchedule(resolved, false));
  }
}

export interface RefinerSplit {
  /** int(round(T - fraction*T)): the base runs timesteps >= cutoff, the refiner those below. */
  cutoff: number;
  baseSteps: number;
  /** Where the refiner's own (fresh) scheduler starts in its timesteps. */
  refinerBeginIndex: number;
  refinerSteps: number;
}

/**
 * The SDXL "ensemble of expert denoisers" hand-over at `fraction` of the schedule. Both stages
 * build their scheduler from the same config and step count, so their timesteps partition it.
 */
export function splitForRefiner(
  name: SchedulerName,
  config: SchedulerConfig,
  steps: number,
  fraction: number,
): RefinerSplit {
  if (!Number.isFinite(fraction) || fraction <= 0 || fraction >= 1) {
    throw new InvalidInputError(
      `The refiner switch point must be between 0 and 1 (exclusive), got ${fraction}.`,
      "switchAt",
    );
  }
  const scheduler = createScheduler(name, config, steps);
  const T = scheduler.config.numTrainTimesteps;
  const cutoff = roundHalfEven(T - fraction * T);
  let baseSteps = 0;
  for (const t of scheduler.timesteps) if (t >= cutoff) baseSteps++;
  let refinerSteps = 0;
  for (const t of scheduler.timesteps) if (t < cutoff) refinerSteps++;
  return { cutoff, baseSteps, refinerBeginIndex: steps - refinerSteps, refinerSteps };
}

/**
 * img2img's start (get_timesteps without denoising_start): the last int(steps*strength) steps run,
 * starting at index tStart, and the source latents are noised to timesteps[tStart].
 */
export function img2imgStart(steps: number, strength: number): { tStart: number; stepsRun: number } {
  if (!Number.isInteger(steps) || steps < 1) {
    throw new InvalidInputError(`Steps must be a whole number of at least 1, got ${steps}.`, "steps");
  }
  if (!Number.isFinite(strength) || strength <= 0 || strength > 1) {
    throw new InvalidInputError(
      `Strength must be greater than 0 and at most 1, got ${strength}.`,
      "strength",
    );
  }
  const initTimestep = Math.min(Math.trunc(steps * strength), steps);
  const tStart = Math.max(steps - initTimestep, 0);
  const stepsRun = steps - tStart;
  if (stepsRun < 1) {
    throw new InvalidInputError(
      `Strength ${strength} with ${steps} steps leaves no step to run; raise the strength or the steps.`,
      "strength",
    );
  }
  return { tStart, stepsRun };
}
