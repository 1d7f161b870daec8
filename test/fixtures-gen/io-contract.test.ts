import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import * as ort from "onnxruntime-node";
import type { FixtureVariant } from "../../src/fixtures/index.js";
import { fixtureModels } from "../helpers/fixtures.js";

interface Io {
  name: string;
  type: string;
  shape: (number | string)[];
}

const B = "batch_size";

/** The standard SDXL ONNX export's tensors, written out independently of the generator. */
function expectedModels(variant: FixtureVariant): Record<string, { inputs: Io[]; outputs: Io[] } | null> {
  const refiner = variant === "refiner";
  const f = variant === "base-fp16" ? "float16" : "float32";
  const ids = variant === "base-int32" ? "int32" : "int64";
  const hidden = (count: number, width: number): Io[] =>
    Array.from({ length: count }, (_, i) => ({ name: `hidden_states.${i}`, type: f, shape: [B, 77, width] }));
  const inputIds: Io[] = [{ name: "input_ids", type: ids, shape: [B, 77] }];
  return {
    text_encoder: refiner
      ? null
      : {
          inputs: inputIds,
          outputs: [
            { name: "last_hidden_state", type: f, shape: [B, 77, 768] },
            { name: "pooler_output", type: f, shape: [B, 768] },
            ...hidden(13, 768),
          ],
        },
    text_encoder_2: {
      inputs: inputIds,
      outputs: [
        { name: "text_embeds", type: f, shape: [B, 1280] },
        { name: "last_hidden_state", type: f, shape: [B, 77, 1280] },
        ...hidden(33, 1280),
      ],
    },
    unet: {
      inputs: [
        { name: "sample", type: f, shape: [B, 4, "height", "width"] },
        variant === "base-int32"
          ? { name: "timestep", type: "int64", shape: [B] }
          : { name: "timestep", type: f, shape: [] },
        { name: "encoder_hidden_states", type: f, shape: [B, "sequence_length", refiner ? 1280 : 2048] },
        { name: "text_embeds", type: f, shape: [B, 1280] },
        { name: "time_ids", type: f, shape: [B, refiner ? 5 : 6] },
      ],
      outputs: [{ name: "out_sample", type: f, shape: [B, 4, "height", "width"] }],
    },
    vae_decoder: {
      inputs: [{ name: "latent_sample", type: f, shape: [B, 4, "height_latent", "width_latent"] }],
      outputs: [{ name: "sample", type: f, shape: [B, 3, "height", "width"] }],
    },
    vae_encoder: {
      inputs: [{ name: "sample", type: f, shape: [B, 3, "height", "width"] }],
      outputs: [{ name: "latent_sample", type: f, shape: [B, 4, "height_latent", "width_latent"] }],
    },
  };
}

function describeIo(metadata: readonly ort.InferenceSession.ValueMetadata[]): Io[] {
  return metadata.map((m) => {
    assert.ok(m.isTensor, `${m.name} is a tensor`);
    return { name: m.name, type: m.type, shape: [...m.shape] };
  });
}

const VARIANTS: FixtureVariant[] = ["base", "refiner", "base-int32", "base-fp16", "bench"];

describe("fixture model folders: tensor names, element types and shapes", () => {
  for (const variant of VARIANTS) {
    it(`${variant}: every model loads in onnxruntime-node and matches the SDXL export's I/O`, async () => {
      const folder = (await fixtureModels())[variant];
      for (const [model, expected] of Object.entries(expectedModels(variant))) {
        const path = join(folder, model, "model.onnx");
        if (expected === null) {
          assert.equal(existsSync(join(folder, model)), false, `${variant} has no ${model}/`);
          continue;
        }
        const session = await ort.InferenceSession.create(path, { intraOpNumThreads: 1 });
        try {
          assert.deepEqual(
            session.inputNames,
            expected.inputs.map((io) => io.name),
            `${variant}/${model} inputs`,
          );
          assert.deepEqual(
            session.outputNames,
            expected.outputs.map((io) => io.name),
            `${variant}/${model} outputs`,
          );
          assert.deepEqual(
            describeIo(session.inputMetadata),
            expected.inputs,
            `${variant}/${model} input metadata`,
          );
          assert.deepEqual(
            describeIo(session.outputMetadata),
            expected.outputs,
            `${variant}/${model} output metadata`,
          );
        } finally {
          await session.release();
        }
      }
    });
  }

  it("base-fp16: every floating-point input and output is float16, ids stay int64", async () => {
    const folder = (await fixtureModels())["base-fp16"];
    for (const model of ["text_encoder", "text_encoder_2", "unet", "vae_decoder", "vae_encoder"]) {
      const session = await ort.InferenceSession.create(join(folder, model, "model.onnx"));
      try {
        for (const io of [...describeIo(session.inputMetadata), ...describeIo(session.outputMetadata)]) {
          assert.equal(io.type, io.name === "input_ids" ? "int64" : "float16", `${model}.${io.name}`);
        }
      } finally {
        await session.release();
      }
    }
  });
});
