/**
 * The LoRA catalogue as commands/ and queue/ both read it, and a request's LoRA records. Plain
 * data; src/models/loras.ts builds the catalogue from EASEL_LORA_DIR.
 */

/** Scales a request may give a LoRA (what `easel generate --lora` accepts too). */
export const LORA_SCALE_RANGE = { min: -4, max: 4 } as const;

/** A LoRA file of the catalogue: `<name>.safetensors` with its optional `<name>.json`. */
export interface CatalogueLora {
  /** The file name without `.safetensors`: what `--lora NAME` picks. */
  name: string;
  /** The file name inside EASEL_LORA_DIR. */
  file: string;
  label: string;
  /** Words added to the prompt the text encoders read; "" = none. */
  trigger: string;
  /** The scale used when a request gives none. */
  scale: number;
  /** Catalogue model names it suits; undefined = every model. */
  models?: readonly string[];
}

/** One LoRA a request uses. */
export interface RequestLora {
  /** The catalogue name (file name without extension). */
  name: string;
  scale: number;
  /** Its trigger words when the request was made, so a re-roll reads the same prompt. */
  trigger?: string;
}

/** The LoRA of `name`, in any case. */
export function loraNamed(loras: readonly CatalogueLora[], name: string): CatalogueLora | undefined {
  const wanted = name.toLowerCase();
  return loras.find((lora) => lora.name.toLowerCase() === wanted);
}

/** The text the text encoders read: the prompt, then the LoRAs' trigger words (not yet in it). */
export function promptWithTriggers(prompt: string, loras: readonly RequestLora[] | undefined): string {
  const lower = prompt.toLowerCase();
  const added = (loras ?? [])
    .map((lora) => lora.trigger?.trim() ?? "")
    .filter((trigger) => trigger.length > 0 && !lower.includes(trigger.toLowerCase()));
  return added.length === 0 ? prompt : `${prompt}, ${added.join(", ")}`;
}

/**
 * A set of LoRAs as one key (sorted by name, with scales): jobs with equal keys run on the same
 * merged weights, so a device that holds one serves the other without a load.
 */
export function loraSetKey(loras: readonly RequestLora[] | undefined): string {
  if (!loras || loras.length === 0) return "";
  return [...loras]
    .map((lora) => `${lora.name.toLowerCase()}:${lora.scale}`)
    .sort()
    .join(",");
}
