/**
 * The SDXL schedulers (Euler, Euler ancestral, DPM++ 2M Karras, DDIM) and LCM for distilled
 * models, as pure float32 math matching diffusers bit for bit. Configure them from a model folder's scheduler_config.json with
 * parseSchedulerConfig, build one per run with createScheduler. The caller supplies Euler-ancestral and LCM
 * noise (e.g. each image's TorchGenerator), so schedulers stay free of randomness and I/O.
 */
export {
  type BetaSchedule,
  type FinalSigmasType,
  type PredictionType,
  parseSchedulerConfig,
  type ResolvedSchedulerConfig,
  resolveSchedulerConfig,
  type SchedulerConfig,
  SchedulerConfigError,
  type SchedulerOverrides,
  SDXL_SCHEDULER_CONFIG,
  SDXL_SCHEDULER_CONFIG_JSON,
  type SolverType,
  type TimestepSpacing,
  withOverrides,
} from "./config.js";
export { createScheduler, img2imgStart, type RefinerSplit, splitForRefiner } from "./create.js";
export { DdimScheduler } from "./ddim.js";
export { DpmSolverScheduler, type DpmStepCoefficients } from "./dpm-solver.js";
export { EulerAncestralScheduler, EulerScheduler } from "./euler.js";
export { LcmScheduler, lcmBoundaryScalings, lcmTimesteps } from "./lcm.js";
export type { Scheduler } from "./scheduler.js";
export { type TrainSchedule, trainSchedule } from "./train-schedule.js";
