/**
 * What each ONNX component of an SDXL export must look like to the pipeline, checked against the
 * tensor metadata of a loaded session: input names, element types, ranks and the widths that tie
 * the components together (the SDXL contract: ARCHITECTURE.md, "The SDXL contract"). Pure:
 * metadata in, problems out.
 */
import type { TensorInfo } from "../pipeline/onnx/session.js";

export type ComponentName = "text_encoder" | "text_encoder_2" | "unet" | "vae_decoder" | "vae_encoder";
export type Role = "base" | "refiner";

const FLOAT = new Set(["float32", "float16"]);
const IDS = new Set(["int32", "int64"]);
const TIMESTEP = new Set(["float32", "float16", "int32", "int64"]);

interface Expectation {
  /** Allowed element types. */
  types: ReadonlySet<string>;
  /** Allowed ranks. */
  ranks: readonly number[];
  /** Fixed sizes at given axes (negative counts from the end). */
  dims?: Record<number, number>;
}

function expectInput(name: string, expectation: Expectation, info: TensorInfo | undefined): string[] {
  if (!info) return [`has no "${name}" input`];
  const problems: string[] = [];
  if (!expectation.types.has(info.type)) {
    problems.push(`"${name}" is ${info.type}, expected ${[...expectation.types].join(" or ")}`);
  }
  if (!expectation.ranks.includes(info.shape.length)) {
    problems.push(`"${name}" has rank ${info.shape.length}, expected ${expectation.ranks.join(" or ")}`);
    return problems;
  }
  for (const [axisText, size] of Object.entries(expectation.dims ?? {})) {
    const axis = Number(axisText);
    const dim = info.shape.at(axis);
    if (typeof dim === "number" && dim !== size) {
      problems.push(`"${name}" is ${dim} wide at axis ${axis}, expected ${size}`);
    }
  }
  return problems;
}

/** The widths SDXL ties together: prompt embeddings 2048 (base) / 1280 (refiner), time ids 6 / 5. */
export function unetExpectations(role: Role): Record<string, Expectation> {
  return {
    sample: { types: FLOAT, ranks: [4], dims: { 1: 4 } },
    timestep: { types: TIMESTEP, ranks: [0, 1] },
    encoder_hidden_states: { types: FLOAT, ranks: [3], dims: { [-1]: role === "base" ? 2048 : 1280 } },
    text_embeds: { types: FLOAT, ranks: [2], dims: { [-1]: 1280 } },
    time_ids: { types: FLOAT, ranks: [2], dims: { [-1]: role === "base" ? 6 : 5 } },
  };
}

const TEXT_ENCODER_INPUTS: Record<string, Expectation> = { input_ids: { types: IDS, ranks: [2] } };
const VAE_DECODER_INPUTS: Record<string, Expectation> = {
  latent_sample: { types: FLOAT, ranks: [4], dims: { 1: 4 } },
};
const VAE_ENCODER_INPUTS: Record<string, Expectation> = {
  sample: { types: FLOAT, ranks: [4], dims: { 1: 3 } },
};

export interface SessionMetadata {
  inputs: TensorInfo[];
  outputs: TensorInfo[];
}

/** Problems of one component's metadata for its role; empty when it fits. */
export function contractProblems(component: ComponentName, role: Role, metadata: SessionMetadata): string[] {
  const inputs = new Map(metadata.inputs.map((info) => [info.name, info]));
  const outputs = new Map(metadata.outputs.map((info) => [info.name, info]));
  const expected =
    component === "unet"
      ? unetExpectations(role)
      : component === "vae_decoder"
        ? VAE_DECODER_INPUTS
        : component === "vae_encoder"
          ? VAE_ENCODER_INPUTS
          : TEXT_ENCODER_INPUTS;
  const problems = Object.entries(expected).flatMap(([name, expectation]) =>
    expectInput(name, expectation, inputs.get(name)),
  );
  if (component === "text_encoder" || component === "text_encoder_2") {
    const layers = metadata.outputs.filter((info) => /^hidden_states\.\d+$/.test(info.name)).length;
    if (layers < 2) problems.push("has no hidden_states.* outputs (one per layer; the penultimate is used)");
    else {
      const width = outputs.get(`hidden_states.${layers - 2}`)?.shape.at(-1);
      const want = component === "text_encoder" ? 768 : 1280;
      if (typeof width === "number" && width !== want) {
        problems.push(`hidden states are ${width} wide, expected ${want}`);
      }
    }
    if (component === "text_encoder_2" && !outputs.has("text_embeds")) {
      problems.push('has no "text_embeds" output (the pooled, projected embedding the UNet takes)');
    }
  } else {
    const first = metadata.outputs[0];
    if (!first) problems.push("has no outputs");
    else if (!FLOAT.has(first.type) || first.shape.length !== 4) {
      problems.push(
        `output "${first.name}" is ${first.type} of rank ${first.shape.length}, expected a float image tensor of rank 4`,
      );
    }
  }
  return problems;
}

/** `hidden_states.0` … `hidden_states.12` collapse to one entry, so a line stays readable. */
export function describeTensors(infos: readonly TensorInfo[]): string {
  const described: string[] = [];
  const layered = infos.filter((info) => /^hidden_states\.\d+$/.test(info.name));
  const shape = (info: TensorInfo) => `${info.type}[${info.shape.join(",")}]`;
  let layersShown = false;
  for (const info of infos) {
    if (layered.includes(info)) {
      if (layersShown) continue;
      layersShown = true;
      const last = layered.at(-1)!;
      described.push(`hidden_states.0…${last.name.split(".")[1]} ${shape(last)}`);
      continue;
    }
    described.push(`${info.name} ${shape(info)}`);
  }
  return described.join(", ");
}
