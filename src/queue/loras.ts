/**
 * A request's LoRAs as the device loads them: absolute paths of the catalogue's files, resolved
 * where the devices run (a Redis worker reads its own EASEL_LORA_DIR), and the key a device's
 * loaded pipelines and the queue's affinity share.
 */
import { resolve } from "node:path";
import { InvalidInputError } from "../errors.js";
import type { LoraSelection } from "../pipeline/lora/merge.js";
import { type CatalogueLora, loraNamed, loraSetKey, type RequestLora } from "../requests/loras.js";
import { queueMessages } from "./messages.js";

/** The files to merge for `loras`; a LoRA gone from the catalogue since (a restart) fails the job. */
export function loraSelectionsOf(
  loras: readonly RequestLora[] | undefined,
  catalogue: readonly CatalogueLora[],
  loraDir: string,
): LoraSelection[] {
  return (loras ?? []).map((lora) => {
    const entry = loraNamed(catalogue, lora.name);
    if (!entry) throw new InvalidInputError(queueMessages.unknownLora(lora.name), "lora");
    return { path: resolve(loraDir, entry.file), scale: lora.scale };
  });
}

/**
 * What a device must hold to run a job without a load: its model (undefined = the default) with
 * its LoRA set; a job without LoRAs keeps the model's name alone.
 */
export function heldKeyOf(
  model: string | undefined,
  loras: readonly RequestLora[] | undefined,
): string | undefined {
  const set = loraSetKey(loras);
  return set === "" ? model : `${model ?? ""}+${set}`;
}
