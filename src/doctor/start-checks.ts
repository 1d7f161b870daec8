/**
 * What `easel start` (and `easel worker`) check before loading anything: that every model's
 * operators run on the device it is placed on, and that the memory plan fits each device. Each
 * refusal is doctor's own sentence.
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import type { Config } from "../config.js";
import { assertMemoryPlanFits, type PlanSources } from "./memory-plan.js";
import { assertOperatorsSupported, type PlacedModel } from "./operators.js";

const COMPONENTS = ["text_encoder", "text_encoder_2", "unet", "vae_decoder", "vae_encoder"] as const;

/** Every model file of the configured folders, on each device that will load it. */
export function placedModelsOf(config: Config): PlacedModel[] {
  const folders: [string, string | undefined][] = [
    ["base", config.modelDir],
    ["refiner", config.refinerDir],
  ];
  const placed: PlacedModel[] = [];
  for (const [role, dir] of folders) {
    if (!dir) continue;
    for (const component of COMPONENTS) {
      const path = join(dir, component, "model.onnx");
      if (!existsSync(path)) continue;
      const encoder = component.startsWith("text_encoder");
      const devices = encoder && config.textEncoderDevice ? [config.textEncoderDevice] : config.devices;
      for (const device of devices) placed.push({ name: `${role}/${component}`, path, device });
    }
  }
  return placed;
}

/**
 * Throws, with doctor's sentence, when a model cannot run or the plan cannot fit; returns doctor's
 * warnings for devices that may not fit (a GPU whose activation estimate exceeds its memory).
 */
export async function checkBeforeStart(config: Config, sources: PlanSources = {}): Promise<string[]> {
  await assertOperatorsSupported(placedModelsOf(config));
  return assertMemoryPlanFits(config, sources);
}
