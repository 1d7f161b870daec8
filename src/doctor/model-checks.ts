/**
 * The doctor's checks of one model folder: the files the pipeline reads (through the pipeline's own
 * folder reader), each tokenizer, and each ONNX component: its weights (parameter count, bytes,
 * external data complete) from the protobuf, then its tensor metadata from a CPU session checked
 * against the SDXL contract. A component stops at its first failure, so one fault is one line.
 */
import { freemem } from "node:os";
import { isEaselError } from "../errors.js";
import { type ModelFolder, readModelFolder } from "../pipeline/model-folder.js";
import { readModelWeights } from "../pipeline/onnx/parameters.js";
import { ModelSession, SessionClock, type TensorInfo } from "../pipeline/onnx/session.js";
import { ClipTokenizer } from "../pipeline/tokenizer/index.js";
import { readTokenizerFolder } from "../pipeline/tokenizer/tokenizer-folder.js";
import { type ComponentName, contractProblems, describeTensors, type Role } from "./sdxl-contract.js";
import { type CheckResult, fail, formatBytes, formatCount, ok, warn } from "./types.js";

export interface ModelCheckOptions {
  /** Load each component on the CPU to read its tensor metadata (default true). */
  loadSessions?: boolean;
  /** Bytes of memory free now (os.freemem by default): a component larger than this is not loaded. */
  freeMemory?: () => number;
}

export interface ModelFolderReport {
  role: Role;
  dir: string;
  results: CheckResult[];
  /** Bytes of weights of every component that could be read (what the model needs in memory). */
  weightBytes: number;
  /** The folder as the pipeline reads it, when it could be read. */
  kind: Role | undefined;
}

const CLIP_VOCAB_SIZE = 49408;

function reason(error: unknown): string {
  if (isEaselError(error)) return error.message;
  return error instanceof Error ? error.message : String(error);
}

function componentsOf(folder: ModelFolder): [ComponentName, string][] {
  const list: [ComponentName, string | undefined][] = [
    ["text_encoder", folder.textEncoder],
    ["text_encoder_2", folder.textEncoder2],
    ["unet", folder.unet],
    ["vae_decoder", folder.vaeDecoder],
    ["vae_encoder", folder.vaeEncoder],
  ];
  return list.filter((entry): entry is [ComponentName, string] => entry[1] !== undefined);
}

async function checkTokenizer(name: string, dir: string): Promise<CheckResult> {
  try {
    const vocabulary = await readTokenizerFolder(dir);
    new ClipTokenizer(vocabulary);
    const size = vocabulary.vocab.size;
    const message = `${size} tokens, ${vocabulary.merges.length} merges, pad ${vocabulary.padToken}`;
    const details = { vocab: size, merges: vocabulary.merges.length, padToken: vocabulary.padToken };
    return size === CLIP_VOCAB_SIZE
      ? ok(name, message, details)
      : warn(
          name,
          `${message} (CLIP's vocabulary has ${CLIP_VOCAB_SIZE}; is this SDXL's tokenizer?)`,
          details,
        );
  } catch (error) {
    return fail(name, reason(error));
  }
}

function tensorList(session: ModelSession, names: readonly string[], kind: "input" | "output"): TensorInfo[] {
  return names.map((name) => (kind === "input" ? session.input(name) : session.output(name)));
}

async function checkComponent(
  name: string,
  component: ComponentName,
  path: string,
  role: Role,
  options: ModelCheckOptions,
): Promise<{ result: CheckResult; bytes: number }> {
  let weights: Awaited<ReturnType<typeof readModelWeights>>;
  try {
    weights = await readModelWeights(path);
  } catch (error) {
    return { result: fail(name, reason(error)), bytes: 0 };
  }
  for (const file of weights.external) {
    if (file.actualBytes === undefined) {
      return {
        result: fail(
          name,
          `${file.path} is missing (${formatBytes(file.requiredBytes)} of the model's weights are stored in it)`,
        ),
        bytes: weights.bytes,
      };
    }
    if (file.actualBytes < file.requiredBytes) {
      return {
        result: fail(
          name,
          `${file.path} is truncated: it holds ${file.actualBytes} bytes, the model needs ${file.requiredBytes} (an interrupted copy or download?)`,
        ),
        bytes: weights.bytes,
      };
    }
  }
  const types = Object.keys(weights.parametersByType).join("+") || "no float";
  const constants =
    weights.constants > 0
      ? `; ${formatCount(weights.constants)} other constant${weights.constants === 1 ? "" : "s"} (${formatBytes(weights.constantBytes)})`
      : "";
  const summary = `${formatCount(weights.parameters)} parameters (${types}, ${formatBytes(weights.bytes - weights.constantBytes)})${constants}`;
  const details: Record<string, unknown> = {
    path,
    parameters: weights.parameters,
    parametersByType: weights.parametersByType,
    constants: weights.constants,
    constantBytes: weights.constantBytes,
    weightBytes: weights.bytes,
    externalData: weights.external.map((file) => ({ location: file.location, bytes: file.actualBytes })),
  };
  if (options.loadSessions === false) return { result: ok(name, summary, details), bytes: weights.bytes };
  const free = (options.freeMemory ?? freemem)();
  if (weights.bytes > free) {
    return {
      result: warn(
        name,
        `${summary}; not loaded to read its tensor metadata: it needs ${formatBytes(weights.bytes)} of memory, ${formatBytes(free)} is free`,
        details,
      ),
      bytes: weights.bytes,
    };
  }
  let session: ModelSession | undefined;
  try {
    session = await ModelSession.load(path, { device: "cpu" }, new SessionClock());
    const metadata = {
      inputs: tensorList(session, session.inputNames, "input"),
      outputs: tensorList(session, session.outputNames, "output"),
    };
    details.inputs = metadata.inputs;
    details.outputs = metadata.outputs;
    const problems = contractProblems(component, role, metadata);
    if (problems.length > 0) {
      return { result: fail(name, `${path}: ${problems.join("; ")}`, details), bytes: weights.bytes };
    }
    const io = `in: ${describeTensors(metadata.inputs)}; out: ${describeTensors(metadata.outputs)}`;
    return { result: ok(name, `${summary}; ${io}`, details), bytes: weights.bytes };
  } catch (error) {
    return { result: fail(name, reason(error), details), bytes: weights.bytes };
  } finally {
    await session?.release();
  }
}

/**
 * Checks the folder configured for `role` (EASEL_MODEL_DIR: base, EASEL_REFINER_DIR: refiner).
 * `role` undefined: whatever model_index.json says it is (for `easel pull`).
 */
export async function checkModelFolder(
  dir: string,
  role: Role | undefined,
  options: ModelCheckOptions = {},
): Promise<ModelFolderReport> {
  const label = role ?? "model";
  const results: CheckResult[] = [];
  let folder: ModelFolder;
  try {
    folder = await readModelFolder(dir);
  } catch (error) {
    results.push(fail(`${label}/files`, reason(error)));
    return { role: role ?? "base", dir, results, weightBytes: 0, kind: undefined };
  }
  const kind = folder.kind;
  const components = componentsOf(folder);
  const listed = components.map(([component]) => component).join(", ");
  if (role !== undefined && kind !== role) {
    const setting = role === "base" ? "EASEL_MODEL_DIR" : "EASEL_REFINER_DIR";
    results.push(
      fail(
        `${label}/files`,
        `${dir} holds an SDXL ${kind}, but ${setting} needs the ${role} (model_index.json)`,
      ),
    );
    return { role, dir, results, weightBytes: 0, kind };
  }
  const resolvedRole: Role = role ?? kind;
  const name = (part: string) => `${role ?? kind}/${part}`;
  results.push(ok(name("files"), `SDXL ${kind} export in ${dir}: ${listed}`));

  for (const [tokenizer, path] of [
    ["tokenizer", folder.tokenizerDir],
    ["tokenizer_2", folder.tokenizer2Dir],
  ] as const) {
    if (path) results.push(await checkTokenizer(name(tokenizer), path));
  }
  let weightBytes = 0;
  for (const [component, path] of components) {
    const { result, bytes } = await checkComponent(name(component), component, path, resolvedRole, options);
    results.push(result);
    weightBytes += bytes;
  }
  return { role: resolvedRole, dir, results, weightBytes, kind };
}
