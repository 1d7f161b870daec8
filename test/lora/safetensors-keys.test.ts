/** Reading LoRA files: bounds-checked safetensors, key styles, SGM block names, the merge arithmetic. */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { encodeSafetensors, fixtureLora } from "../../src/fixtures/lora.js";
import { LoraFileError } from "../../src/pipeline/lora/errors.js";
import { LoraProductKernel } from "../../src/pipeline/lora/kernel.js";
import { normaliseLora, sgmToDiffusers } from "../../src/pipeline/lora/keys.js";
import { addLoraProduct } from "../../src/pipeline/lora/math.js";
import { parseSafetensors, tensorValues } from "../../src/pipeline/lora/safetensors.js";
import { float16BitsToFloat32, float32ToFloat16Bits } from "../../src/pipeline/onnx/float16.js";

const FILE = "/srv/loras/style.safetensors";

/** A file with the given header object and `dataBytes` bytes of data. */
function rawFile(header: unknown, dataBytes: number, claimedLength?: bigint): Uint8Array {
  const json = new TextEncoder().encode(JSON.stringify(header));
  const file = new Uint8Array(8 + json.byteLength + dataBytes);
  new DataView(file.buffer).setBigUint64(0, claimedLength ?? BigInt(json.byteLength), true);
  file.set(json, 8);
  return file;
}

function rejects(file: Uint8Array, pattern: RegExp): void {
  assert.throws(
    () => parseSafetensors(file, FILE),
    (error: unknown) => {
      assert.ok(error instanceof LoraFileError, String(error));
      assert.match(error.message, pattern);
      assert.ok(error.message.startsWith(FILE), "the log message names the file");
      assert.match(error.userMessage, /^The LoRA "style\.safetensors" cannot be used: /);
      assert.ok(!error.userMessage.includes("/srv"), "no server path in the user's message");
      return true;
    },
  );
}

describe("safetensors reader", () => {
  it("reads F32, F16 and BF16 tensors and the metadata written by the writer", () => {
    const values = Float32Array.of(1, -2.5, 0.15625, 65504, 3.140625, -0);
    const file = encodeSafetensors(
      [
        { name: "a", dtype: "F32", shape: [2, 3], values },
        { name: "b", dtype: "F16", shape: [6], values },
        { name: "c", dtype: "BF16", shape: [3, 2], values },
      ],
      { format: "pt" },
    );
    const parsed = parseSafetensors(file, FILE);
    assert.deepEqual(parsed.metadata, { format: "pt" });
    assert.deepEqual(parsed.tensors.get("a")!.shape, [2, 3]);
    assert.deepEqual([...tensorValues(parsed.tensors.get("a")!)], [...values]);
    assert.deepEqual([...tensorValues(parsed.tensors.get("b")!)], [...values]);
    // bfloat16 keeps 8 significant bits: 65504 rounds to 65536, 3.140625 to 3.140625.
    assert.deepEqual([...tensorValues(parsed.tensors.get("c")!)], [1, -2.5, 0.15625, 65536, 3.140625, -0]);
  });

  it("reads tensors out of a Node Buffer (whose slice is a view, not a copy)", () => {
    const file = Buffer.from(
      encodeSafetensors([{ name: "w", dtype: "F32", shape: [2], values: Float32Array.of(0.5, -3) }]),
    );
    assert.deepEqual([...tensorValues(parseSafetensors(file, FILE).tensors.get("w")!)], [0.5, -3]);
  });

  it("reads a tensor at an unaligned offset", () => {
    const file = rawFile(
      {
        x: { dtype: "F16", shape: [1], data_offsets: [0, 2] },
        y: { dtype: "F32", shape: [1], data_offsets: [2, 6] },
      },
      6,
    );
    const dataStart = file.byteLength - 6;
    new DataView(file.buffer).setFloat32(dataStart + 2, 1.5, true);
    assert.deepEqual([...tensorValues(parseSafetensors(file, FILE).tensors.get("y")!)], [1.5]);
  });

  it("refuses files shorter than the header length field", () =>
    rejects(new Uint8Array(5), /shorter than its 8-byte/));
  it("refuses a huge header", () =>
    rejects(rawFile({}, 0, 2n ** 40n), /header claims 1099511627776 bytes \(the limit/));
  it("refuses a header longer than the file", () =>
    rejects(rawFile({}, 0, 1000n), /header claims 1000 bytes but the file has/));
  it("refuses a header that is not JSON", () => {
    const file = rawFile({}, 0);
    file[8] = 0x7b;
    file[9] = 0x7b;
    rejects(file, /header is not JSON/);
  });
  it("refuses offsets outside the data", () =>
    rejects(
      rawFile({ w: { dtype: "F32", shape: [4], data_offsets: [0, 16] } }, 8),
      /"w" lies outside the file/,
    ));
  it("refuses a byte count that is not the shape's", () =>
    rejects(
      rawFile({ w: { dtype: "F32", shape: [3], data_offsets: [0, 8] } }, 8),
      /"w" holds 8 bytes, not the 3 F32 values/,
    ));
  it("refuses overlapping tensors", () =>
    rejects(
      rawFile(
        {
          a: { dtype: "F32", shape: [2], data_offsets: [0, 8] },
          b: { dtype: "F32", shape: [2], data_offsets: [4, 12] },
        },
        12,
      ),
      /"a" and "b" overlap/,
    ));
  it("refuses dtypes a LoRA is not read in", () =>
    rejects(
      rawFile({ w: { dtype: "I64", shape: [1], data_offsets: [0, 8] } }, 8),
      /"w" has dtype "I64"; LoRAs are read in F16, BF16 or F32/,
    ));
  it("refuses negative or fractional offsets", () =>
    rejects(
      rawFile({ w: { dtype: "F32", shape: [1], data_offsets: [-4, 0] } }, 8),
      /malformed data_offsets/,
    ));
});

describe("LoRA key styles", () => {
  const modules = [
    {
      component: "unet" as const,
      module: "down_blocks.1.attentions.0.transformer_blocks.0.attn1.to_q",
      shape: [6, 6],
    },
    {
      component: "text_encoder_2" as const,
      module: "text_model.encoder.layers.0.self_attn.q_proj",
      shape: [5, 5],
    },
    { component: "unet" as const, module: "down_blocks.0.resnets.0.conv1", shape: [4, 3, 3, 3] },
  ];

  it("kohya: lora_unet_/lora_te2_ prefixes, lora_down/lora_up and a scalar alpha", () => {
    const parsed = parseSafetensors(
      fixtureLora(modules, { style: "kohya", rank: 2, alpha: 1, seed: 1 }),
      FILE,
    );
    const lora = normaliseLora(parsed);
    assert.equal(lora.style, "kohya");
    assert.deepEqual(
      lora.modules.map((m) => [m.component, m.flatName, m.rank, m.alpha]),
      [
        ["unet", "down_blocks_1_attentions_0_transformer_blocks_0_attn1_to_q", 2, 1],
        ["text_encoder_2", "text_model_encoder_layers_0_self_attn_q_proj", 2, 1],
        ["unet", "down_blocks_0_resnets_0_conv1", 2, 1],
      ],
    );
    assert.deepEqual(lora.modules[2]!.down.shape, [2, 3, 3, 3]);
    assert.deepEqual(lora.modules[2]!.up.shape, [4, 2, 1, 1]);
  });

  it("diffusers/PEFT: unet./text_encoder_2. prefixes, lora_A/lora_B, alpha = rank without alpha keys", () => {
    const lora = normaliseLora(
      parseSafetensors(fixtureLora(modules, { style: "diffusers", rank: 3, seed: 1 }), FILE),
    );
    assert.equal(lora.style, "diffusers");
    assert.deepEqual(
      lora.modules.map((m) => [m.component, m.flatName, m.rank, m.alpha]),
      [
        ["unet", "down_blocks_1_attentions_0_transformer_blocks_0_attn1_to_q", 3, 3],
        ["text_encoder_2", "text_model_encoder_layers_0_self_attn_q_proj", 3, 3],
        ["unet", "down_blocks_0_resnets_0_conv1", 3, 3],
      ],
    );
  });

  it("diffusers: alpha from the adapter metadata in __metadata__", () => {
    const down = {
      name: "unet.mid_block.attentions.0.proj_in.lora_A.weight",
      dtype: "F32" as const,
      shape: [4, 8],
      values: new Float32Array(32),
    };
    const up = {
      name: "unet.mid_block.attentions.0.proj_in.lora_B.weight",
      dtype: "F32" as const,
      shape: [8, 4],
      values: new Float32Array(32),
    };
    const file = encodeSafetensors([down, up], {
      lora_adapter_metadata: JSON.stringify({ "unet.lora_alpha": 2, r: 4 }),
    });
    assert.equal(normaliseLora(parseSafetensors(file, FILE)).modules[0]!.alpha, 2);
  });

  it("counts keys of other adapter kinds, and modules missing a factor, without merging them", () => {
    const entry = (name: string, shape: number[]) => ({
      name,
      dtype: "F32" as const,
      shape,
      values: new Float32Array(shape.reduce((a, b) => a * b, 1)),
    });
    const file = encodeSafetensors([
      entry("lora_unet_mid_block_attentions_0_proj_in.hada_w1_a", [4, 2]),
      entry("lora_unet_mid_block_attentions_0_proj_out.lora_down.weight", [2, 4]),
      entry("lora_unet_mid_block_attentions_0_proj_in.lora_down.weight", [2, 4]),
      entry("lora_unet_mid_block_attentions_0_proj_in.lora_up.weight", [4, 2]),
    ]);
    const lora = normaliseLora(parseSafetensors(file, FILE));
    assert.deepEqual(lora.unknownKeys, ["lora_unet_mid_block_attentions_0_proj_in.hada_w1_a"]);
    assert.equal(lora.malformed.length, 1);
    assert.match(lora.malformed[0]!, /proj_out \(has only its down factor\)/);
    assert.equal(lora.modules.length, 1);
  });
});

describe("SGM block names (sd-scripts' SDXL LoRAs) → diffusers' names, for SDXL's 2 layers per block", () => {
  const cases: [string, string][] = [
    [
      "input_blocks_4_1_transformer_blocks_0_attn1_to_q",
      "down_blocks_1_attentions_0_transformer_blocks_0_attn1_to_q",
    ],
    ["input_blocks_5_1_proj_in", "down_blocks_1_attentions_1_proj_in"],
    [
      "input_blocks_8_1_transformer_blocks_9_ff_net_2",
      "down_blocks_2_attentions_1_transformer_blocks_9_ff_net_2",
    ],
    ["input_blocks_1_0_in_layers_2", "down_blocks_0_resnets_0_conv1"],
    ["input_blocks_4_0_skip_connection", "down_blocks_1_resnets_0_conv_shortcut"],
    ["input_blocks_2_0_emb_layers_1", "down_blocks_0_resnets_1_time_emb_proj"],
    ["input_blocks_3_0_op", "down_blocks_0_downsamplers_0_conv"],
    ["input_blocks_6_0_op", "down_blocks_1_downsamplers_0_conv"],
    [
      "middle_block_1_transformer_blocks_3_attn2_to_k",
      "mid_block_attentions_0_transformer_blocks_3_attn2_to_k",
    ],
    ["middle_block_2_out_layers_3", "mid_block_resnets_1_conv2"],
    [
      "output_blocks_0_1_transformer_blocks_0_attn2_to_v",
      "up_blocks_0_attentions_0_transformer_blocks_0_attn2_to_v",
    ],
    ["output_blocks_2_2_conv", "up_blocks_0_upsamplers_0_conv"],
    ["output_blocks_5_1_proj_out", "up_blocks_1_attentions_2_proj_out"],
    ["output_blocks_5_2_conv", "up_blocks_1_upsamplers_0_conv"],
    ["output_blocks_8_0_skip_connection", "up_blocks_2_resnets_2_conv_shortcut"],
    ["time_embed_0", "time_embedding_linear_1"],
    ["label_emb_0_2", "add_embedding_linear_2"],
    ["down_blocks_1_attentions_0_proj_in", "down_blocks_1_attentions_0_proj_in"],
  ];
  for (const [sgm, diffusers] of cases) {
    it(`${sgm} → ${diffusers}`, () => assert.equal(sgmToDiffusers(sgm, 2), diffusers));
  }
});

describe("the merge arithmetic", () => {
  /** W + factor·up·down in float64, laid out [out, cols]. */
  function expected(
    weight: Float32Array,
    up: Float32Array,
    down: Float32Array,
    out: number,
    rank: number,
    cols: number,
    factor: number,
    transposed: boolean,
  ) {
    const result = new Float64Array(out * cols);
    for (let o = 0; o < out; o++) {
      for (let j = 0; j < cols; j++) {
        let sum = 0;
        for (let r = 0; r < rank; r++) sum += up[o * rank + r]! * down[r * cols + j]!;
        const at = transposed ? j * out + o : o * cols + j;
        result[at] = weight[at]! + factor * sum;
      }
    }
    return result;
  }
  const seeded = (n: number, k: number) =>
    Float32Array.from({ length: n }, (_, i) => Math.sin(i * 12.9898 + k) * 0.5);

  for (const [label, layout, cols] of [
    ["a Linear weight stored [out, in] (Gemm transB=1)", "out-in", 7],
    ["a Linear weight stored transposed [in, out] (MatMul)", "in-out", 7],
    ["a 3x3 Conv weight [out, in, 3, 3]", "out-in", 3 * 9],
  ] as const) {
    it(`adds factor·up·down to ${label}`, () => {
      const [out, rank] = [5, 3];
      const weight = seeded(out * cols, 1);
      const up = seeded(out * rank, 2);
      const down = seeded(rank * cols, 3);
      const want = expected(weight, up, down, out, rank, cols, 0.75, layout === "in-out");
      const got = weight.slice();
      addLoraProduct(got, layout, { up, down, out, rank, columns: cols, factor: 0.75 });
      for (let i = 0; i < got.length; i++)
        assert.ok(Math.abs(got[i]! - want[i]!) < 1e-6, `${i}: ${got[i]} vs ${want[i]}`);
    });

    it(`onnxruntime's kernel gives the same sum, of two LoRAs at once, for ${label} (float32 and float16)`, async () => {
      const [out, rank] = [5, 3];
      const weight = seeded(out * cols, 1);
      const [up1, down1] = [seeded(out * rank, 2), seeded(rank * cols, 3)];
      const [up2, down2] = [seeded(out * 2, 4), seeded(2 * cols, 5)];
      const once = expected(weight, up1, down1, out, rank, cols, -1.25, layout === "in-out");
      const want = expected(Float32Array.from(once), up2, down2, out, 2, cols, 0.5, layout === "in-out");
      const terms = [
        { up: up1, down: down1, rank, factor: -1.25 },
        { up: up2, down: down2, rank: 2, factor: 0.5 },
      ];
      const kernel = new LoraProductKernel();
      try {
        const bytes = new Uint8Array(weight.buffer);
        const got = new Float32Array(
          (await kernel.apply(bytes, "float32", layout, { out, columns: cols }, terms)).slice().buffer,
        );
        assert.equal(got.length, weight.length);
        for (let i = 0; i < got.length; i++)
          assert.ok(Math.abs(got[i]! - want[i]!) < 1e-6, `${i}: ${got[i]} vs ${want[i]}`);
        // float16: the weight widened exactly, the sum in float32, rounded once to nearest even.
        const halves = float32ToFloat16Bits(weight);
        const exactHalf = expected(
          float16BitsToFloat32(halves),
          up1,
          down1,
          out,
          rank,
          cols,
          -1.25,
          layout === "in-out",
        );
        const wantHalf = expected(
          Float32Array.from(exactHalf),
          up2,
          down2,
          out,
          2,
          cols,
          0.5,
          layout === "in-out",
        );
        const gotHalf = await kernel.apply(
          new Uint8Array(halves.buffer),
          "float16",
          layout,
          { out, columns: cols },
          terms,
        );
        const gotValues = float16BitsToFloat32(new Uint16Array(gotHalf.slice().buffer));
        const rounded = float16BitsToFloat32(float32ToFloat16Bits(Float32Array.from(wantHalf)));
        for (let i = 0; i < gotValues.length; i++) {
          const ulp = Math.max(Math.abs(rounded[i]!) * 2 ** -10, 2 ** -24);
          assert.ok(Math.abs(gotValues[i]! - rounded[i]!) <= ulp, `${i}: ${gotValues[i]} vs ${rounded[i]}`);
        }
      } finally {
        await kernel.release();
      }
    });
  }
});
