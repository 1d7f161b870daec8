import assert from "node:assert/strict";
import { join } from "node:path";
import { describe, it } from "node:test";
import * as ort from "onnxruntime-node";
import type { FixtureVariant } from "../../src/fixtures/index.js";
import { fixtureModels } from "../helpers/fixtures.js";

const BOS = 49406;
const EOS = 49407;
/** "a photo of a cat" in SDXL's tokenizers. */
const PROMPT = [320, 1125, 539, 320, 2368];

const f32Scratch = new Float32Array(1);
const u32Scratch = new Uint32Array(f32Scratch.buffer);

/** float32 → float16 bits, truncating the mantissa (precise enough for feeds). */
function float32ToHalf(value: number): number {
  f32Scratch[0] = value;
  const bits = u32Scratch[0];
  const sign = (bits >>> 16) & 0x8000;
  const exponent = ((bits >>> 23) & 0xff) - 127 + 15;
  const mantissa = bits & 0x7fffff;
  if (exponent >= 0x1f) return sign | 0x7c00;
  if (exponent <= 0) return sign | (exponent < -10 ? 0 : (mantissa | 0x800000) >> (14 - exponent));
  return sign | (exponent << 10) | (mantissa >> 13);
}

function decodeHalf(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const exponent = (bits >> 10) & 0x1f;
  const mantissa = bits & 0x3ff;
  if (exponent === 0) return sign * mantissa * 2 ** -24;
  if (exponent === 0x1f) return mantissa === 0 ? sign * Number.POSITIVE_INFINITY : Number.NaN;
  return sign * (1 + mantissa / 1024) * 2 ** (exponent - 15);
}

const HALF_VALUES = Float64Array.from({ length: 65536 }, (_, bits) => decodeHalf(bits));

/** A session plus feeds built from plain numbers in the element type the model declares. */
class Model {
  private constructor(private readonly session: ort.InferenceSession) {}

  static async open(folder: string, name: string): Promise<Model> {
    return new Model(
      await ort.InferenceSession.create(join(folder, name, "model.onnx"), { intraOpNumThreads: 1 }),
    );
  }

  get outputNames(): readonly string[] {
    return this.session.outputNames;
  }

  tensor(input: string, values: ArrayLike<number>, dims: number[]): ort.Tensor {
    const meta = this.session.inputMetadata.find((m) => m.name === input);
    assert.ok(meta?.isTensor, `${input} is declared`);
    const plain = Array.from(values);
    switch (meta.type) {
      case "float32":
        return new ort.Tensor("float32", Float32Array.from(plain), dims);
      case "float16":
        return new ort.Tensor("float16", Uint16Array.from(plain, float32ToHalf), dims);
      case "int64":
        return new ort.Tensor(
          "int64",
          BigInt64Array.from(plain, (v) => BigInt(v)),
          dims,
        );
      case "int32":
        return new ort.Tensor("int32", Int32Array.from(plain), dims);
      default:
        throw new Error(`unexpected input type ${meta.type}`);
    }
  }

  /** Runs with feeds given as [values, dims] and returns every output as float64 numbers. */
  async run(feeds: Record<string, [ArrayLike<number>, number[]]>): Promise<Record<string, Float64Array>> {
    const tensors: Record<string, ort.Tensor> = {};
    for (const [name, [values, dims]] of Object.entries(feeds))
      tensors[name] = this.tensor(name, values, dims);
    const results = await this.session.run(tensors);
    const out: Record<string, Float64Array> = {};
    for (const [name, tensor] of Object.entries(results)) {
      const data = (tensor as ort.Tensor).data;
      out[name] =
        tensor.type === "float16"
          ? Float64Array.from(data as Uint16Array, (bits) => HALF_VALUES[bits])
          : Float64Array.from(data as Float32Array);
    }
    return out;
  }

  release(): Promise<void> {
    return this.session.release();
  }
}

type Feeds = Record<string, [number[], number[]]>;

function promptIds(pad: number, prompt = PROMPT): number[] {
  const ids = new Array(77).fill(pad);
  [BOS, ...prompt, EOS].forEach((id, i) => {
    ids[i] = id;
  });
  return ids;
}

const wave = (count: number, scale: number, phase = 0): number[] =>
  Array.from({ length: count }, (_, i) => scale * Math.sin(0.37 * i + phase));

/** Small but valid feeds for each model, and one perturbation per input. */
function feedsFor(
  model: string,
  variant: FixtureVariant,
): { feeds: Feeds; perturbed: Record<string, Feeds> } {
  const refiner = variant === "refiner";
  const replace = (feeds: Feeds, name: string, values: number[]): Feeds => ({
    ...feeds,
    [name]: [values, feeds[name][1]],
  });
  if (model === "text_encoder" || model === "text_encoder_2") {
    const feeds: Feeds = { input_ids: [promptIds(model === "text_encoder" ? EOS : 0), [1, 77]] };
    const changed = promptIds(model === "text_encoder" ? EOS : 0, [320, 1125, 539, 320, 1929]);
    return { feeds, perturbed: { input_ids: replace(feeds, "input_ids", changed) } };
  }
  if (model === "unet") {
    const context = refiner ? 1280 : 2048;
    const timeIds = refiner ? [1024, 1024, 0, 0, 6] : [1024, 1024, 0, 0, 1024, 1024];
    const scalarTimestep = variant !== "base-int32";
    const feeds: Feeds = {
      sample: [wave(2 * 4 * 8 * 8, 1), [2, 4, 8, 8]],
      timestep: scalarTimestep ? [[501], []] : [[501, 501], [2]],
      encoder_hidden_states: [wave(2 * 77 * context, 1, 1), [2, 77, context]],
      text_embeds: [wave(2 * 1280, 1, 2), [2, 1280]],
      time_ids: [
        [...timeIds, ...timeIds],
        [2, timeIds.length],
      ],
    };
    return {
      feeds,
      perturbed: {
        sample: replace(feeds, "sample", wave(2 * 4 * 8 * 8, 1, 0.5)),
        timestep: replace(feeds, "timestep", scalarTimestep ? [481] : [481, 481]),
        // The UNet pools the sequence by its mean, as cross-attention to a uniform query would.
        encoder_hidden_states: replace(
          feeds,
          "encoder_hidden_states",
          feeds.encoder_hidden_states[0].map((v) => v + 0.25),
        ),
        text_embeds: replace(feeds, "text_embeds", wave(2 * 1280, 1, 2.5)),
        time_ids: replace(
          feeds,
          "time_ids",
          feeds.time_ids[0].map((v, i) => v + (i % timeIds.length === 2 ? 64 : 0)),
        ),
      },
    };
  }
  if (model === "vae_decoder") {
    const feeds: Feeds = { latent_sample: [wave(4 * 4 * 4, 7), [1, 4, 4, 4]] };
    return { feeds, perturbed: { latent_sample: replace(feeds, "latent_sample", wave(4 * 4 * 4, 7, 0.3)) } };
  }
  const feeds: Feeds = { sample: [wave(3 * 16 * 16, 0.9), [1, 3, 16, 16]] };
  return { feeds, perturbed: { sample: replace(feeds, "sample", wave(3 * 16 * 16, 0.9, 0.3)) } };
}

function maxAbsDifference(a: Float64Array, b: Float64Array): number {
  assert.equal(a.length, b.length);
  let max = 0;
  for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs(a[i] - b[i]));
  return max;
}

const MODELS = ["text_encoder", "text_encoder_2", "unet", "vae_decoder", "vae_encoder"];
const VARIANTS: FixtureVariant[] = ["base", "refiner", "base-int32", "base-fp16", "bench"];

describe("fixture models: outputs", () => {
  for (const variant of VARIANTS) {
    it(`${variant}: every output is finite, of sensible scale, and depends on every input`, async () => {
      const folder = (await fixtureModels())[variant];
      for (const name of MODELS) {
        if (variant === "refiner" && name === "text_encoder") continue;
        const model = await Model.open(folder, name);
        try {
          const { feeds, perturbed } = feedsFor(name, variant);
          const reference = await model.run(feeds);
          for (const output of model.outputNames) {
            const values = reference[output];
            assert.ok(values.every(Number.isFinite), `${variant}/${name}.${output} is finite`);
            const large = values.filter((v) => Math.abs(v) > 4).length;
            assert.ok(
              large <= values.length * 0.01,
              `${variant}/${name}.${output}: ${large} values beyond ±4`,
            );
          }
          for (const [input, changedFeeds] of Object.entries(perturbed)) {
            const changed = await model.run(changedFeeds);
            for (const output of model.outputNames) {
              const difference = maxAbsDifference(reference[output], changed[output]);
              assert.ok(
                difference > 1e-3,
                `${variant}/${name}.${output} depends on ${input} (Δ=${difference})`,
              );
            }
          }
        } finally {
          await model.release();
        }
      }
    });
  }

  it("text encoders: positions before EOS ignore the padding after it; pooling reads the EOS position", async () => {
    const folder = (await fixtureModels()).base;
    for (const [name, width] of [
      ["text_encoder", 768],
      ["text_encoder_2", 1280],
    ] as const) {
      const model = await Model.open(folder, name);
      try {
        const eosAt = PROMPT.length + 1;
        const padded = promptIds(0);
        const otherPadding = promptIds(0).map((id, i) => (i > eosAt ? 4000 + i : id));
        const a = await model.run({ input_ids: [padded, [1, 77]] });
        const b = await model.run({ input_ids: [otherPadding, [1, 77]] });
        const upToEos = (eosAt + 1) * width;
        const last = "last_hidden_state";
        assert.equal(maxAbsDifference(a[last].subarray(0, upToEos), b[last].subarray(0, upToEos)), 0);
        assert.ok(maxAbsDifference(a[last].subarray(upToEos), b[last].subarray(upToEos)) > 1e-3);
        if (name === "text_encoder") {
          const atEos = a[last].subarray(eosAt * width, (eosAt + 1) * width);
          assert.deepEqual(
            a.pooler_output,
            Float64Array.from(atEos),
            "pooler_output = last_hidden_state[EOS]",
          );
        } else {
          assert.deepEqual(a.text_embeds, b.text_embeds, "text_embeds only sees tokens up to EOS");
        }
      } finally {
        await model.release();
      }
    }
  });

  it("unet accepts long prompts: encoder_hidden_states of 154 tokens (two 77-token chunks)", async () => {
    const model = await Model.open((await fixtureModels()).base, "unet");
    try {
      const { feeds } = feedsFor("unet", "base");
      const out = await model.run({
        ...feeds,
        encoder_hidden_states: [wave(2 * 154 * 2048, 1), [2, 154, 2048]],
      });
      assert.equal(out.out_sample.length, 2 * 4 * 8 * 8);
      assert.ok(out.out_sample.every(Number.isFinite));
    } finally {
      await model.release();
    }
  });

  it("base-int32 computes what base computes; base-fp16 agrees with base to float16 precision", async () => {
    const models = await fixtureModels();
    for (const name of MODELS) {
      const { feeds } = feedsFor(name, "base");
      const base = await Model.open(models.base, name);
      const fp16 = await Model.open(models["base-fp16"], name);
      const int32 = await Model.open(models["base-int32"], name);
      try {
        const expected = await base.run(feeds);
        const int32Feeds =
          name === "unet" ? { ...feeds, timestep: [[501, 501], [2]] as [number[], number[]] } : feeds;
        const fromInt32 = await int32.run(int32Feeds);
        const fromFp16 = await fp16.run(feeds);
        for (const output of base.outputNames) {
          assert.ok(maxAbsDifference(expected[output], fromInt32[output]) < 1e-5, `${name}.${output} int32`);
          assert.ok(maxAbsDifference(expected[output], fromFp16[output]) < 0.05, `${name}.${output} fp16`);
        }
      } finally {
        await Promise.all([base.release(), fp16.release(), int32.release()]);
      }
    }
  });
});
