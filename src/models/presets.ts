/**
 * Built-in settings for the distilled SDXL models, as their model cards and diffusers' guides run
 * them: SDXL-Turbo (512², 1-4 steps, no guidance, Euler ancestral with trailing spacing),
 * SDXL-Lightning (Euler trailing, no guidance; the 1-step UNet predicts the sample), LCM
 * (LCMScheduler, 4 steps, guidance 1 = none) and Hyper-SD (DDIM trailing, no guidance).
 */
import type { Prediction, SchedulerName, Spacing } from "../pipeline/types.js";

export interface ModelPreset {
  label: string;
  description: string;
  steps: number;
  guidance: number;
  scheduler: SchedulerName;
  spacing?: Spacing;
  prediction?: Prediction;
  width: number;
  height: number;
  maxSteps: number;
}

const lightning = (steps: number): ModelPreset => ({
  label: `SDXL-Lightning ${steps}-step`,
  description: `ByteDance's distilled SDXL, ${steps} step${steps === 1 ? "" : "s"}, no guidance`,
  steps,
  guidance: 0,
  scheduler: "euler",
  spacing: "trailing",
  ...(steps === 1 ? { prediction: "sample" as const } : {}),
  width: 1024,
  height: 1024,
  maxSteps: steps,
});

export const PRESET_NAMES = [
  "sdxl-turbo",
  "sdxl-lightning-1step",
  "sdxl-lightning-2step",
  "sdxl-lightning-4step",
  "sdxl-lightning-8step",
  "lcm",
  "hyper-sd",
] as const;
export type PresetName = (typeof PRESET_NAMES)[number];

export const MODEL_PRESETS: Readonly<Record<PresetName, ModelPreset>> = {
  "sdxl-turbo": {
    label: "SDXL-Turbo",
    description: "Stability's distilled SDXL: 512x512 in 1-4 steps, no guidance",
    steps: 1,
    guidance: 0,
    scheduler: "euler-a",
    spacing: "trailing",
    width: 512,
    height: 512,
    maxSteps: 4,
  },
  "sdxl-lightning-1step": lightning(1),
  "sdxl-lightning-2step": lightning(2),
  "sdxl-lightning-4step": lightning(4),
  "sdxl-lightning-8step": lightning(8),
  lcm: {
    label: "LCM SDXL",
    description: "Latent consistency SDXL: 4 steps with the LCM scheduler, guidance 1",
    steps: 4,
    guidance: 1,
    scheduler: "lcm",
    width: 1024,
    height: 1024,
    maxSteps: 8,
  },
  "hyper-sd": {
    label: "Hyper-SDXL",
    description: "ByteDance's Hyper-SD SDXL: 8 steps, DDIM with trailing spacing, no guidance",
    steps: 8,
    guidance: 0,
    scheduler: "ddim",
    spacing: "trailing",
    width: 1024,
    height: 1024,
    maxSteps: 12,
  },
};
