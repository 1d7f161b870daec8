/**
 * LoRA key styles, normalised to one form: per module, the component it belongs to, its name
 * flattened the way kohya's sd-scripts flattens it (every "." → "_"), its down and up factors and
 * alpha. Styles read:
 * - kohya (sd-scripts, A1111, ComfyUI exports): `lora_unet_<module>`, `lora_te1_` / `lora_te2_`
 *   (SDXL's two text encoders), `lora_te_` (SD 1.x/2.x's one), with `.lora_down.weight`,
 *   `.lora_up.weight` and a scalar `.alpha`. SDXL files trained by sd-scripts name UNet blocks as
 *   SGM does (`input_blocks_4_1_…`); `sgmToDiffusers` maps them to diffusers' block names.
 * - diffusers / PEFT: `unet.<module>.lora_A.weight` / `.lora_B.weight` (also `.lora.down/up` and
 *   the older `.processor.to_q_lora.down`), `text_encoder.` / `text_encoder_2.`; alpha from
 *   `<module>.alpha` keys, else the adapter metadata diffusers writes into `__metadata__`, else
 *   the rank (a factor of 1).
 */
import type { SafetensorsFile, SafetensorsTensor } from "./safetensors.js";
import { tensorValues } from "./safetensors.js";

export type LoraComponent = "unet" | "text_encoder" | "text_encoder_2";
export type KeyStyle = "kohya" | "diffusers";

export interface LoraFactor {
  shape: number[];
  values: Float32Array;
}

export interface LoraModule {
  component: LoraComponent;
  /** The module's name with "." and "_" alike flattened to "_" (kohya's form). */
  flatName: string;
  /** The key prefix it was read from, for messages. */
  key: string;
  down: LoraFactor;
  up: LoraFactor;
  /** Rank: down's first dimension. */
  rank: number;
  alpha: number;
}

export interface NormalisedLora {
  style: KeyStyle;
  modules: LoraModule[];
  /** Keys no style explains (LoHa/LoKr factors, DoRA scales, …): counted, never merged. */
  unknownKeys: string[];
  /** Modules with a down or up factor but not both, or shapes that do not chain. */
  malformed: string[];
}

const KOHYA_PREFIXES: [string, LoraComponent][] = [
  ["lora_unet_", "unet"],
  ["lora_te1_", "text_encoder"],
  ["lora_te2_", "text_encoder_2"],
  ["lora_te_", "text_encoder"],
];

const DIFFUSERS_PREFIXES: [string, LoraComponent][] = [
  ["unet.", "unet"],
  ["text_encoder_2.", "text_encoder_2"],
  ["text_encoder.", "text_encoder"],
];

type Part = "down" | "up" | "alpha";

/** The (prefix, part) a key names, or undefined when no known style explains it. */
function splitKey(
  key: string,
): { style: KeyStyle; component: LoraComponent; module: string; part: Part } | undefined {
  for (const [prefix, component] of KOHYA_PREFIXES) {
    if (!key.startsWith(prefix)) continue;
    const rest = key.slice(prefix.length);
    const match = /^(.+?)\.(lora_down\.weight|lora_up\.weight|alpha)$/.exec(rest);
    if (!match) return undefined;
    const part: Part = match[2] === "alpha" ? "alpha" : match[2] === "lora_down.weight" ? "down" : "up";
    return { style: "kohya", component, module: match[1]!, part };
  }
  for (const [prefix, component] of DIFFUSERS_PREFIXES) {
    if (!key.startsWith(prefix)) continue;
    const rest = key.slice(prefix.length);
    const processor = /^(.+)\.processor\.(to_q|to_k|to_v|to_out)_lora\.(down|up)\.weight$/.exec(rest);
    if (processor) {
      const leaf = processor[2] === "to_out" ? "to_out.0" : processor[2]!;
      return { style: "diffusers", component, module: `${processor[1]}.${leaf}`, part: processor[3] as Part };
    }
    const match = /^(.+?)\.(lora_A\.weight|lora_B\.weight|lora\.down\.weight|lora\.up\.weight|alpha)$/.exec(
      rest,
    );
    if (!match) return undefined;
    const part: Part =
      match[2] === "alpha"
        ? "alpha"
        : match[2]!.startsWith("lora_A") || match[2]!.includes("down")
          ? "down"
          : "up";
    return { style: "diffusers", component, module: match[1]!, part };
  }
  return undefined;
}

/** diffusers' adapter metadata (`lora_adapter_metadata` in `__metadata__`): lora_alpha per component. */
function metadataAlpha(metadata: Record<string, string>, component: LoraComponent): number | undefined {
  const text = metadata.lora_adapter_metadata;
  if (!text) return undefined;
  try {
    const parsed = JSON.parse(text) as Record<string, unknown>;
    const value = parsed[`${component}.lora_alpha`] ?? parsed.lora_alpha;
    return typeof value === "number" && Number.isFinite(value) && value > 0 ? value : undefined;
  } catch {
    return undefined;
  }
}

function factor(tensor: SafetensorsTensor): LoraFactor {
  return { shape: tensor.shape, values: tensorValues(tensor) };
}

/** Groups a file's tensors into LoRA modules (pure: the tensors are already in memory). */
export function normaliseLora(file: SafetensorsFile): NormalisedLora {
  const groups = new Map<
    string,
    {
      style: KeyStyle;
      component: LoraComponent;
      module: string;
      parts: Partial<Record<Part, SafetensorsTensor>>;
    }
  >();
  const unknownKeys: string[] = [];
  for (const [key, tensor] of file.tensors) {
    const split = splitKey(key);
    if (!split) {
      unknownKeys.push(key);
      continue;
    }
    const id = `${split.component}:${split.module}`;
    const group = groups.get(id) ?? {
      style: split.style,
      component: split.component,
      module: split.module,
      parts: {},
    };
    group.parts[split.part] = tensor;
    groups.set(id, group);
  }
  const modules: LoraModule[] = [];
  const malformed: string[] = [];
  const styles = new Map<KeyStyle, number>();
  for (const group of groups.values()) {
    const { down, up, alpha } = group.parts;
    const key = `${group.component}.${group.module}`;
    if (!down || !up) {
      if (down || up) malformed.push(`${key} (has only its ${down ? "down" : "up"} factor)`);
      continue;
    }
    const rank = down.shape[0] ?? 0;
    const chains =
      rank > 0 &&
      down.shape.length >= 2 &&
      up.shape.length >= 2 &&
      up.shape[1] === rank &&
      up.shape.slice(2).every((d) => d === 1);
    if (!chains) {
      malformed.push(
        `${key} (down ${JSON.stringify(down.shape)} and up ${JSON.stringify(up.shape)} do not chain)`,
      );
      continue;
    }
    styles.set(group.style, (styles.get(group.style) ?? 0) + 1);
    const alphaValue =
      alpha && alpha.shape.reduce((a, b) => a * b, 1) === 1 ? tensorValues(alpha)[0] : undefined;
    modules.push({
      component: group.component,
      flatName: group.module.replace(/\./g, "_"),
      key,
      down: factor(down),
      up: factor(up),
      rank,
      alpha: alphaValue ?? metadataAlpha(file.metadata, group.component) ?? rank,
    });
  }
  const style: KeyStyle = (styles.get("diffusers") ?? 0) > (styles.get("kohya") ?? 0) ? "diffusers" : "kohya";
  return { style, modules, unknownKeys, malformed };
}

/** SGM (the original SDXL code, and sd-scripts) names of ResNet sublayers → diffusers' names. */
const SGM_RESNET_PARTS: [string, string][] = [
  ["in_layers_2", "conv1"],
  ["out_layers_3", "conv2"],
  ["emb_layers_1", "time_emb_proj"],
  ["skip_connection", "conv_shortcut"],
  ["in_layers_0", "norm1"],
  ["out_layers_0", "norm2"],
];

function resnetPart(rest: string): string {
  for (const [sgm, diffusers] of SGM_RESNET_PARTS) {
    if (rest === sgm || rest.startsWith(`${sgm}_`)) return diffusers + rest.slice(sgm.length);
  }
  return rest;
}

/**
 * A flattened SGM UNet module name → the flattened diffusers name, given the UNet's layers per
 * block (2 for SDXL): input block i ≥ 1 is level (i-1)/(L+1), position (i-1)%(L+1), the last
 * position being the downsampler (`op`); output block i is up level i/(L+1), position i%(L+1),
 * with the upsampler's `conv` after its resnet and attention. Names already in diffusers' form
 * come back unchanged.
 */
export function sgmToDiffusers(flat: string, layersPerBlock: number): string {
  const span = layersPerBlock + 1;
  const simple: [RegExp, string][] = [
    [/^input_blocks_0_0(_|$)/, "conv_in$1"],
    [/^time_embed_0(_|$)/, "time_embedding_linear_1$1"],
    [/^time_embed_2(_|$)/, "time_embedding_linear_2$1"],
    [/^label_emb_0_0(_|$)/, "add_embedding_linear_1$1"],
    [/^label_emb_0_2(_|$)/, "add_embedding_linear_2$1"],
    [/^out_2(_|$)/, "conv_out$1"],
  ];
  for (const [pattern, replacement] of simple)
    if (pattern.test(flat)) return flat.replace(pattern, replacement);
  const input = /^input_blocks_(\d+)_(\d+)_(.+)$/.exec(flat);
  if (input) {
    const i = Number(input[1]) - 1;
    const [level, position, rest] = [Math.floor(i / span), i % span, input[3]!];
    if (position === layersPerBlock)
      return `down_blocks_${level}_downsamplers_0_${rest.replace(/^op/, "conv")}`;
    return input[2] === "0"
      ? `down_blocks_${level}_resnets_${position}_${resnetPart(rest)}`
      : `down_blocks_${level}_attentions_${position}_${rest}`;
  }
  const middle = /^middle_block_(\d)_(.+)$/.exec(flat);
  if (middle) {
    const rest = middle[2]!;
    if (middle[1] === "1") return `mid_block_attentions_0_${rest}`;
    return `mid_block_resnets_${middle[1] === "0" ? 0 : 1}_${resnetPart(rest)}`;
  }
  const output = /^output_blocks_(\d+)_(\d+)_(.+)$/.exec(flat);
  if (output) {
    const i = Number(output[1]);
    const [level, position, rest] = [Math.floor(i / span), i % span, output[3]!];
    if (output[2] === "0") return `up_blocks_${level}_resnets_${position}_${resnetPart(rest)}`;
    if (rest === "conv" || rest.startsWith("conv_")) return `up_blocks_${level}_upsamplers_0_${rest}`;
    return `up_blocks_${level}_attentions_${position}_${rest}`;
  }
  return flat;
}
