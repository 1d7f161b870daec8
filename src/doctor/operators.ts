/**
 * Operators outside the standard ONNX domain (onnxruntime's fused `com.microsoft` kernels, as in
 * Microsoft's optimised SDXL exports) that a device's provider cannot run, named before any model
 * loads: `easel doctor` fails the model on that device, `easel start` refuses to start.
 */
import { readFile } from "node:fs/promises";
import onnxProto from "onnx-proto";
import { ConfigError } from "../errors.js";
import { type CheckResult, fail, ok } from "./types.js";

const { onnx } = onnxProto;

/**
 * `com.microsoft` operators onnxruntime's CPU provider has no kernel for (CUDA/ROCm only),
 * checked against onnxruntime-node 1.30 (test/ops/operators.test.ts pins the ones SDXL exports
 * use). The CUDA provider runs these, and falls back to the CPU for the rest.
 */
export const CPU_MISSING_OPERATORS: ReadonlySet<string> = new Set([
  "com.microsoft.GroupNorm",
  "com.microsoft.SkipGroupNorm",
  "com.microsoft.BiasSplitGelu",
  "com.microsoft.BiasAdd",
  "com.microsoft.NhwcConv",
  "com.microsoft.GemmFastGelu",
  "com.microsoft.BiasDropout",
]);

/** `domain.op` of every node outside the standard domain, with how many nodes use it. */
export async function readCustomOperators(modelPath: string): Promise<Map<string, number>> {
  const model = onnx.ModelProto.decode(await readFile(modelPath));
  const operators = new Map<string, number>();
  for (const node of model.graph?.node ?? []) {
    if (!node.domain || node.domain === "ai.onnx") continue;
    const name = `${node.domain}.${node.opType}`;
    operators.set(name, (operators.get(name) ?? 0) + 1);
  }
  return operators;
}

/** The operators of `operators` that `device`'s provider lacks. */
export function missingOperators(device: string, operators: Iterable<string>): string[] {
  if (device !== "cpu") return [];
  return [...operators].filter((op) => CPU_MISSING_OPERATORS.has(op)).sort();
}

export interface PlacedModel {
  /** e.g. "base/unet". */
  name: string;
  path: string;
  device: string;
}

/** The sentence doctor prints and start refuses with. */
function missingSentence(model: PlacedModel, missing: readonly string[]): string {
  return (
    `${model.name} uses ${missing.join(", ")}, which onnxruntime's ${model.device} provider cannot run: ` +
    "run it on a cuda device, or use a standard ONNX export (optimum-cli export onnx) or `easel convert` of one"
  );
}

/** One result per placed model that uses operators outside the standard domain. */
export async function checkOperators(models: readonly PlacedModel[]): Promise<CheckResult[]> {
  const results: CheckResult[] = [];
  const cache = new Map<string, Map<string, number>>();
  for (const model of models) {
    let operators = cache.get(model.path);
    if (!operators) {
      operators = await readCustomOperators(model.path);
      cache.set(model.path, operators);
    }
    if (operators.size === 0) continue;
    const missing = missingOperators(model.device, operators.keys());
    const name = `${model.name} ops ${model.device}`;
    const details = { operators: Object.fromEntries(operators), missing };
    results.push(
      missing.length > 0
        ? fail(name, missingSentence(model, missing), details)
        : ok(name, `uses ${[...operators.keys()].sort().join(", ")}; ${model.device} runs them`, details),
    );
  }
  return results;
}

/** Thrown by `easel start` when a model uses operators its device cannot run. */
export class UnsupportedOperatorError extends ConfigError {}

export async function assertOperatorsSupported(models: readonly PlacedModel[]): Promise<void> {
  const failing = (await checkOperators(models)).filter((r) => r.status === "fail");
  if (failing.length > 0) throw new UnsupportedOperatorError(failing.map((r) => r.message).join("\n"));
}
