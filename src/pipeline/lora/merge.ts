/**
 * LoRAs merged into a model's components: each LoRA's modules are matched to the components'
 * weights by module name and shape, every LoRA's product is added to each touched weight in
 * float32, and the weight is stored back in the model's element type, rounded once. Several LoRAs may touch one weight;
 * a LoRA at scale 0 is checked but adds nothing, so the model stays bit for bit as it was.
 * Reading the files and the model is done here; the arithmetic runs on onnxruntime (kernel.ts),
 * with math.ts as its plain reference.
 */
import { readFile } from "node:fs/promises";
import { basename } from "node:path";
import onnxProto, { type onnx as OnnxTypes } from "onnx-proto";
import { InvalidInputError, ModelFolderError } from "../../errors.js";
import { LoraFileError, LoraMismatchError } from "./errors.js";
import { readInitializerBytes } from "./initializer-data.js";
import { LoraProductKernel } from "./kernel.js";
import {
  type LoraComponent,
  type LoraModule,
  type NormalisedLora,
  normaliseLora,
  sgmToDiffusers,
} from "./keys.js";
import { loraFactor } from "./math.js";
import { type InMemoryModel, type ReplaceOptions, withReplacedInitializers } from "./rewrite.js";
import { readSafetensors } from "./safetensors.js";
import { indexWeightTargets, type ModelTargets, moduleShape, type WeightTarget } from "./targets.js";

const { onnx } = onnxProto;

/** One LoRA file and the scale it is applied at. */
export interface LoraSelection {
  path: string;
  scale: number;
}

export interface LoadedLora {
  path: string;
  lora: NormalisedLora;
}

/** What a LoRA matched in a model: logged, and shown by the CLI. */
export interface LoraReport {
  path: string;
  style: NormalisedLora["style"];
  scale: number;
  modules: number;
  matched: number;
  /** Modules whose name is in no component of the model. */
  unmatched: number;
  /** Modules whose name is there with another weight shape. */
  wrongShape: number;
  /** Keys no style explains, and malformed modules; never merged. */
  ignoredKeys: number;
  matchedByComponent: Partial<Record<LoraComponent, number>>;
}

export interface ModelComponent {
  component: LoraComponent;
  /** The component's model.onnx. */
  path: string;
}

export interface ComponentModel extends ModelComponent {
  model: OnnxTypes.IModelProto;
  targets: ModelTargets;
}

interface Match {
  module: LoraModule;
  target: WeightTarget;
}

/** Reads and normalises a LoRA file; one with no module in a known style is refused. */
export async function loadLora(path: string): Promise<LoadedLora> {
  const lora = normaliseLora(await readSafetensors(path));
  if (lora.modules.length === 0) {
    const problems = lora.malformed.length > 0 ? ` (${lora.malformed.slice(0, 3).join("; ")})` : "";
    throw new LoraFileError(
      path,
      `it holds no LoRA weights in a known key style (kohya lora_down/lora_up or diffusers/PEFT lora_A/lora_B; LoHa, LoKr and DoRA are not supported)${problems}`,
    );
  }
  return { path, lora };
}

/** Reads a component's graph (not its external weights) and indexes its LoRA-able weights. */
export async function readComponentModel(component: ModelComponent): Promise<ComponentModel> {
  let model: OnnxTypes.ModelProto;
  try {
    model = onnx.ModelProto.decode(await readFile(component.path));
  } catch (error) {
    throw new ModelFolderError(component.path, "could not be read as an ONNX model for a LoRA merge", {
      cause: error,
    });
  }
  return { ...component, model, targets: indexWeightTargets(model) };
}

/** The module's shape in PyTorch terms as the LoRA implies it: [out, in·kh·kw]. */
function loraShape(module: LoraModule): { out: number; columns: number } {
  return {
    out: module.up.shape[0]!,
    columns: module.down.shape.slice(1).reduce((a, b) => a * b, 1),
  };
}

function fits(module: LoraModule, target: WeightTarget): boolean {
  const shape = moduleShape(target);
  const { out, columns } = loraShape(module);
  return shape[0] === out && shape.slice(1).reduce((a, b) => a * b, 1) === columns;
}

const ATTENTION_PROJECTION = /(^|_)(to_q|to_k|to_v|q_proj|k_proj|v_proj)$/;

/** The family a cross-attention context width belongs to. */
function familyOf(width: number): string {
  const families: Record<number, string> = {
    768: "SD 1.x",
    1024: "SD 2.x",
    2048: "SDXL",
    1280: "the SDXL refiner",
  };
  return families[width] ? `${width} (${families[width]})` : String(width);
}

/** What the LoRA looks like it was trained for, from its components and context width. */
function describeLora(lora: NormalisedLora): string {
  const components = [...new Set(lora.modules.map((m) => m.component))];
  const toK = lora.modules.find((m) => m.component === "unet" && /attn2_to_k$/.test(m.flatName));
  const width = toK ? toK.down.shape[1] : undefined;
  const parts = [`${lora.modules.length} ${lora.style} modules for ${components.join(" + ")}`];
  if (width !== undefined) parts.push(`UNet cross-attention width ${familyOf(width)}`);
  return parts.join(", ");
}

function describeModel(components: readonly ComponentModel[]): string {
  const unet = components.find((c) => c.component === "unet");
  const width = unet?.targets.contextWidth;
  const names = components.map((c) => c.component).join(" + ");
  return width !== undefined ? `${names}, UNet cross-attention width ${familyOf(width)}` : names;
}

/** Matches a LoRA's modules to the components' weights; refuses a LoRA that cannot be merged. */
export function matchLora(
  loaded: LoadedLora,
  components: readonly ComponentModel[],
  scale: number,
): { matches: Match[]; report: LoraReport } {
  const { lora, path } = loaded;
  const matches: Match[] = [];
  const unmatched: LoraModule[] = [];
  let wrongShape = 0;
  const matchedByComponent: Partial<Record<LoraComponent, number>> = {};
  for (const module of lora.modules) {
    const component = components.find((c) => c.component === module.component);
    const name =
      component && module.component === "unet"
        ? sgmToDiffusers(module.flatName, component.targets.layersPerBlock)
        : module.flatName;
    const target = component?.targets.byFlatName.get(name);
    if (!target) {
      unmatched.push(module);
      continue;
    }
    if (!fits(module, target)) {
      wrongShape += 1;
      continue;
    }
    matches.push({ module, target });
    matchedByComponent[module.component] = (matchedByComponent[module.component] ?? 0) + 1;
  }
  const packed = components.filter((c) => c.targets.packedAttention.length > 0);
  const blocked = unmatched.filter(
    (m) => ATTENTION_PROJECTION.test(m.flatName) && packed.some((c) => c.component === m.component),
  );
  if (blocked.length > 0) {
    const where = packed.find((c) => c.component === blocked[0]!.component)!;
    throw new LoraMismatchError(
      path,
      `it changes attention projections (${blocked[0]!.key} and ${blocked.length - 1} more) that ${where.path} packs into one weight ` +
        `(${where.targets.packedAttention[0]}, onnxruntime's transformer optimiser); a LoRA cannot be merged into packed Q/K/V: use the model as exported, before that optimisation`,
    );
  }
  if (matches.length === 0) {
    const shapes =
      wrongShape > 0 ? `${wrongShape} of its module names exist here with other weight shapes; ` : "";
    throw new LoraMismatchError(
      path,
      `it matches no weight of this model: ${shapes}the LoRA has ${describeLora(lora)}, the model is ${describeModel(components)}`,
    );
  }
  return {
    matches,
    report: {
      path,
      style: lora.style,
      scale,
      modules: lora.modules.length,
      matched: matches.length,
      unmatched: unmatched.length,
      wrongShape,
      ignoredKeys: lora.unknownKeys.length + lora.malformed.length,
      matchedByComponent,
    },
  };
}

export interface MergeResult {
  /** By component model path: the model to load instead (absent: nothing changed in it). */
  models: Map<string, InMemoryModel>;
  reports: LoraReport[];
}

/**
 * Merges `selections` into `components`: every LoRA is read and matched first (so a bad one
 * fails before any arithmetic), then each touched weight is read once, takes every LoRA's
 * product in float32 and is stored back in its element type.
 */
export async function mergeLoras(
  components: readonly ModelComponent[],
  selections: readonly LoraSelection[],
  options: ReplaceOptions = {},
): Promise<MergeResult> {
  const models = await Promise.all(components.map(readComponentModel));
  const plans: Plan[] = [];
  const reports: LoraReport[] = [];
  for (const selection of selections) {
    if (!Number.isFinite(selection.scale)) {
      throw new InvalidInputError(`A LoRA's scale must be a number; got ${selection.scale}.`, "lora");
    }
    const loaded = await loadLora(selection.path);
    const { matches, report } = matchLora(loaded, models, selection.scale);
    reports.push(report);
    if (selection.scale === 0) continue;
    for (const match of matches) {
      const component = models.find((c) => c.component === match.module.component)!;
      plans.push({
        match,
        factor: loraFactor(match.module.alpha, match.module.rank, selection.scale),
        component,
      });
    }
  }
  const result = new Map<string, InMemoryModel>();
  const kernel = new LoraProductKernel();
  try {
    for (const component of models) {
      const merged = await mergeComponent(
        component,
        plans.filter((p) => p.component === component),
        kernel,
        options,
      );
      if (merged) result.set(component.path, merged);
    }
  } finally {
    await kernel.release();
  }
  return { models: result, reports };
}

type Plan = { match: Match; factor: number; component: ComponentModel };

/** One component's touched weights, each read once and given every LoRA's product. */
async function mergeComponent(
  component: ComponentModel,
  mine: readonly Plan[],
  kernel: LoraProductKernel,
  options: ReplaceOptions,
): Promise<InMemoryModel | undefined> {
  if (mine.length === 0) return undefined;
  const byInitializer = new Map<string, Plan[]>();
  for (const plan of mine) {
    const list = byInitializer.get(plan.match.target.initializer) ?? [];
    list.push(plan);
    byInitializer.set(plan.match.target.initializer, list);
  }
  const replacements = {
    names: new Set(byInitializer.keys()),
    // Each touched weight is read, given every LoRA's product, and handed over in its own type.
    produce: async (tensor: OnnxTypes.ITensorProto) => {
      const list = byInitializer.get(tensor.name ?? "")!;
      const target = list[0]!.match.target;
      const stored = await readInitializerBytes(component.path, tensor);
      const terms = list.map(({ match, factor }) => ({
        up: match.module.up.values,
        down: match.module.down.values,
        rank: match.module.rank,
        factor,
      }));
      return kernel.apply(stored, target.dataType, target.layout, loraShape(list[0]!.match.module), terms);
    },
  };
  return withReplacedInitializers(component.model, replacements, component.path, options);
}

/** One line per LoRA for logs and the CLI: matched counts, and what was left out. */
export function describeReport(report: LoraReport): string {
  const where = Object.entries(report.matchedByComponent)
    .map(([component, count]) => `${count} ${component}`)
    .join(", ");
  const missed = report.unmatched + report.wrongShape;
  const partial =
    missed > 0
      ? `; ${report.unmatched} modules not in this model, ${report.wrongShape} with other shapes`
      : "";
  const ignored = report.ignoredKeys > 0 ? `; ${report.ignoredKeys} keys ignored` : "";
  return `LoRA ${basename(report.path)} (${report.style}, scale ${report.scale}): ${report.matched}/${report.modules} modules merged (${where})${partial}${ignored}`;
}
