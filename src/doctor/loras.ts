/**
 * `easel doctor`'s look at EASEL_LORA_DIR: the catalogue reads (names, `<name>.json`), and each
 * file's key style, rank, the components it changes and the model family its shapes are for.
 */
import { join } from "node:path";
import type { Config } from "../config.js";
import { isEaselError } from "../errors.js";
import { withModelCatalogue } from "../models/catalogue.js";
import { readLoraCatalogue } from "../models/loras.js";
import type { LoraModule } from "../pipeline/lora/keys.js";
import { loadLora } from "../pipeline/lora/merge.js";
import { type CheckResult, fail, ok, warn } from "./types.js";

/** Model families by the text width a UNet cross-attention key projection reads. */
const FAMILY_BY_TEXT_WIDTH = new Map<number, string>([
  [2048, "SDXL"],
  [768, "SD 1.5"],
  [1024, "SD 2.x"],
]);

/** The family a LoRA's shapes are for, or undefined when they do not tell. */
export function loraFamily(modules: readonly LoraModule[]): string | undefined {
  const crossKey = modules.find(
    (module) => module.component === "unet" && module.flatName.endsWith("attn2_to_k"),
  );
  const width = crossKey?.down.shape[1];
  if (width !== undefined) return FAMILY_BY_TEXT_WIDTH.get(width) ?? `a model with ${width}-wide text states`;
  return modules.some((module) => module.component === "text_encoder_2") ? "SDXL" : undefined;
}

export async function checkLoras(config: Config): Promise<CheckResult[]> {
  let catalogue: Awaited<ReturnType<typeof readLoraCatalogue>>;
  try {
    // `models` entries name the catalogue's models, as `easel start` reads it.
    const { models } = (await withModelCatalogue(config).catch(() => ({ config }))).config;
    catalogue = await readLoraCatalogue(
      config.loraDir,
      models.models.map((model) => model.name),
    );
  } catch (error) {
    return [fail("loras", isEaselError(error) ? error.userMessage : String(error))];
  }
  if (catalogue.length === 0) return [ok("loras", `no LoRAs in ${config.loraDir} (--lora is not offered)`)];
  const results: CheckResult[] = [];
  for (const entry of catalogue) {
    const name = `lora ${entry.name}`;
    try {
      const { lora } = await loadLora(join(config.loraDir, entry.file));
      const ranks = [...new Set(lora.modules.map((module) => module.rank))].sort((a, b) => a - b);
      const components = [...new Set(lora.modules.map((module) => module.component))].join(", ");
      const family = loraFamily(lora.modules);
      const facts = `${lora.style}, rank ${ranks.join("/")}, ${lora.modules.length} modules (${components})${family ? `, for ${family}` : ""}`;
      const details = { style: lora.style, ranks, modules: lora.modules.length, family: family ?? null };
      const ignored = lora.unknownKeys.length + lora.malformed.length;
      if (family !== undefined && family !== "SDXL") {
        results.push(fail(name, `${facts}: easel runs SDXL, so it matches no weight; remove it`, details));
      } else if (ignored > 0) {
        results.push(
          warn(
            name,
            `${facts}; ${ignored} keys are not LoRA factors easel merges (LoHa, LoKr, DoRA) and are ignored`,
            details,
          ),
        );
      } else results.push(ok(name, facts, details));
    } catch (error) {
      results.push(fail(name, isEaselError(error) ? error.userMessage : String(error)));
    }
  }
  return results;
}
