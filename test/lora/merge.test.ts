/**
 * LoRAs merged into fixture models named as real exports are: the merged weights are W + ΔW in
 * the stored layout and dtype, images change, scale 0 is the base bit for bit, and LoRAs that do
 * not fit are refused with their file named.
 */
import assert from "node:assert/strict";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { after, before, describe, it } from "node:test";
import onnxProto, { type onnx as OnnxTypes } from "onnx-proto";
import * as ort from "onnxruntime-node";
import { writeFullSizeModels } from "../../src/fixtures/full-size/index.js";
import { type FixtureLoraModule, fixtureLora } from "../../src/fixtures/lora.js";
import { GraphBuilder } from "../../src/fixtures/onnx-graph.js";
import { loadPipeline } from "../../src/pipeline/index.js";
import { LoraMismatchError } from "../../src/pipeline/lora/errors.js";
import { type LoraSelection, type ModelComponent, mergeLoras } from "../../src/pipeline/lora/merge.js";
import { indexWeightTargets } from "../../src/pipeline/lora/targets.js";
import { float16BitsToFloat32, float32ToFloat16Bits } from "../../src/pipeline/onnx/float16.js";
import { ModelSession, SessionClock } from "../../src/pipeline/onnx/session.js";
import type { GenerateParams } from "../../src/pipeline/types.js";
import { fixtureModels } from "../helpers/fixtures.js";

const { onnx } = onnxProto;

let scratch: string;
let reduced: string;
let reducedHalf: string;
let tiny: string;
before(async () => {
  scratch = await mkdtemp(join(tmpdir(), "easel-lora-"));
  reduced = (await writeFullSizeModels(join(scratch, "f32"), { depth: "reduced", seed: 3 })).base;
  reducedHalf = (
    await writeFullSizeModels(join(scratch, "f16"), { depth: "reduced", seed: 3, dtype: "float16" })
  ).base;
  tiny = (await fixtureModels()).base;
});
after(async () => {
  await rm(scratch, { recursive: true, force: true });
});

async function writeLora(name: string, bytes: Uint8Array): Promise<string> {
  const path = join(scratch, "loras", name);
  await mkdir(dirname(path), { recursive: true });
  await writeFile(path, bytes);
  return path;
}

const components = (folder: string): ModelComponent[] => [
  { component: "text_encoder", path: join(folder, "text_encoder", "model.onnx") },
  { component: "text_encoder_2", path: join(folder, "text_encoder_2", "model.onnx") },
  { component: "unet", path: join(folder, "unet", "model.onnx") },
];

async function decode(path: string): Promise<OnnxTypes.ModelProto> {
  return onnx.ModelProto.decode(await readFile(path));
}

/** An initializer's values read straight from the model folder (inline or model.onnx_data). */
async function storedValues(
  modelPath: string,
  name: string,
): Promise<{ values: Float32Array; dims: number[]; half: boolean }> {
  const tensor = (await decode(modelPath)).graph!.initializer!.find((t) => t.name === name)!;
  const half = tensor.dataType === onnx.TensorProto.DataType.FLOAT16;
  let bytes: Uint8Array;
  if (tensor.rawData?.byteLength) bytes = tensor.rawData;
  else {
    const entry = (key: string) => tensor.externalData!.find((e) => e.key === key)!.value!;
    const file = await readFile(join(dirname(modelPath), entry("location")));
    const offset = Number(entry("offset"));
    bytes = file.subarray(offset, offset + Number(entry("length")));
  }
  const copy = new Uint8Array(bytes);
  const values = half ? float16BitsToFloat32(new Uint16Array(copy.buffer)) : new Float32Array(copy.buffer);
  return { values, dims: (tensor.dims ?? []).map(Number), half };
}

/** Module → initializer, found by the exporter's node name (independently of the code under test). */
async function weightOf(
  modelPath: string,
  nodeName: string,
): Promise<{ initializer: string; op: string; transB: number }> {
  const graph = (await decode(modelPath)).graph!;
  const node = graph.node!.find((n) => n.name === nodeName);
  assert.ok(node, `no node ${nodeName}`);
  let input = node.input![1]!;
  const cast = graph.node!.find((n) => n.opType === "Cast" && n.output![0] === input);
  if (cast) input = cast.input![0]!;
  const transB = Number(node.attribute?.find((a) => a.name === "transB")?.i ?? 0);
  return { initializer: input, op: node.opType!, transB };
}

/** The LoRA's factors read back from the file (F32), for the expected ΔW. */
async function factorsOf(
  path: string,
  down: string,
  up: string,
): Promise<{ down: Float32Array; up: Float32Array; alpha?: number }> {
  const { parseSafetensors, tensorValues } = await import("../../src/pipeline/lora/safetensors.js");
  const file = parseSafetensors(await readFile(path), path);
  const alphaKey = down.replace(/\.lora_down\.weight$/, ".alpha");
  return {
    down: tensorValues(file.tensors.get(down)!),
    up: tensorValues(file.tensors.get(up)!),
    alpha: file.tensors.has(alphaKey) ? tensorValues(file.tensors.get(alphaKey)!)[0] : undefined,
  };
}

/** The merged initializer's bytes as the session receives them: inline, or in an in-memory file. */
function mergedValues(
  merged: { bytes: Uint8Array; externalData: { path: string; data: Uint8Array }[] },
  name: string,
  half: boolean,
): Float32Array {
  const tensor = onnx.ModelProto.decode(merged.bytes).graph!.initializer!.find((t) => t.name === name)!;
  let bytes: Uint8Array;
  if (tensor.rawData?.byteLength) bytes = new Uint8Array(tensor.rawData);
  else {
    const entry = (key: string) => tensor.externalData!.find((e) => e.key === key)!.value!;
    const data = merged.externalData.find((f) => f.path === entry("location"))!.data;
    bytes = data.slice(Number(entry("offset")), Number(entry("offset")) + Number(entry("length")));
  }
  return half ? float16BitsToFloat32(new Uint16Array(bytes.buffer)) : new Float32Array(bytes.buffer);
}

const TO_Q = "down_blocks.1.attentions.0.transformer_blocks.0.attn1.to_q";

describe("the fixtures are named as the PyTorch exporter names real exports", () => {
  it("Linear layers are MatMuls on transposed onnx::MatMul_<n>, 2-D Linears Gemms on <module>.weight, Convs on <module>.weight", async () => {
    const unet = join(reduced, "unet", "model.onnx");
    const q = await weightOf(unet, "/down_blocks.1/attentions.0/transformer_blocks.0/attn1/to_q/MatMul");
    assert.match(q.initializer, /^onnx::MatMul_\d+$/);
    assert.deepEqual((await storedValues(unet, q.initializer)).dims, [64, 64]);
    const ff = await weightOf(unet, "/down_blocks.1/attentions.0/transformer_blocks.0/ff/net.0/proj/MatMul");
    assert.deepEqual((await storedValues(unet, ff.initializer)).dims, [64, 512], "[in, out]");
    const temb = await weightOf(unet, "/down_blocks.1/resnets.0/time_emb_proj/Gemm");
    assert.deepEqual([temb.initializer, temb.transB], ["down_blocks.1.resnets.0.time_emb_proj.weight", 1]);
    assert.deepEqual((await storedValues(unet, temb.initializer)).dims, [64, 128], "[out, in]");
    const conv = await weightOf(unet, "/down_blocks.1/resnets.0/conv1/Conv");
    assert.equal(conv.initializer, "down_blocks.1.resnets.0.conv1.weight");
    const te = await weightOf(
      join(reduced, "text_encoder", "model.onnx"),
      "/text_model/encoder/layers.0/self_attn/q_proj/MatMul",
    );
    assert.match(te.initializer, /^onnx::MatMul_\d+$/);
  });

  it("the tiny fixture's stand-ins carry module paths too", async () => {
    const unet = join(tiny, "unet", "model.onnx");
    const k = await weightOf(unet, "/down_blocks.1/attentions.0/transformer_blocks.0/attn2/to_k/MatMul");
    assert.match(k.initializer, /^onnx::MatMul_\d+$/);
    assert.equal((await weightOf(unet, "/conv_out/Conv")).initializer, "conv_out.weight");
  });
});

describe("merged weights", () => {
  const modules: FixtureLoraModule[] = [
    { component: "unet", module: TO_Q, shape: [64, 64] },
    {
      component: "unet",
      module: "down_blocks.1.attentions.0.transformer_blocks.0.ff.net.0.proj",
      shape: [512, 64],
    },
    { component: "unet", module: "down_blocks.1.resnets.0.time_emb_proj", shape: [64, 128] },
    { component: "unet", module: "down_blocks.1.resnets.0.conv1", shape: [64, 32, 3, 3] },
    { component: "unet", module: "down_blocks.1.resnets.0.conv_shortcut", shape: [64, 32, 1, 1] },
    { component: "text_encoder", module: "text_model.encoder.layers.0.self_attn.q_proj", shape: [64, 64] },
    { component: "text_encoder_2", module: "text_model.encoder.layers.1.mlp.fc2", shape: [96, 384] },
  ];
  const nodes: Record<string, string> = {
    [TO_Q]: "/down_blocks.1/attentions.0/transformer_blocks.0/attn1/to_q/MatMul",
    "down_blocks.1.attentions.0.transformer_blocks.0.ff.net.0.proj":
      "/down_blocks.1/attentions.0/transformer_blocks.0/ff/net.0/proj/MatMul",
    "down_blocks.1.resnets.0.time_emb_proj": "/down_blocks.1/resnets.0/time_emb_proj/Gemm",
    "down_blocks.1.resnets.0.conv1": "/down_blocks.1/resnets.0/conv1/Conv",
    "down_blocks.1.resnets.0.conv_shortcut": "/down_blocks.1/resnets.0/conv_shortcut/Conv",
    "text_model.encoder.layers.0.self_attn.q_proj": "/text_model/encoder/layers.0/self_attn/q_proj/MatMul",
    "text_model.encoder.layers.1.mlp.fc2": "/text_model/encoder/layers.1/mlp/fc2/MatMul",
  };

  for (const [label, folder] of [
    ["float32", () => reduced],
    ["float16 (stored float16, rounded once)", () => reducedHalf],
  ] as const) {
    it(`equal W + (alpha/rank)·scale·up·down, transposed where the export transposed (${label})`, async () => {
      const lora = await writeLora(
        `all-${label.slice(0, 7)}.safetensors`,
        fixtureLora(modules, { style: "kohya", rank: 4, alpha: 2, seed: 11 }),
      );
      const scale = 0.7;
      const result = await mergeLoras(components(folder()), [{ path: lora, scale }]);
      assert.equal(result.reports[0]!.matched, modules.length);
      for (const m of modules) {
        const modelPath = join(folder(), m.component, "model.onnx");
        const { initializer, op, transB } = await weightOf(modelPath, nodes[m.module]!);
        const base = await storedValues(modelPath, initializer);
        const prefix = { unet: "lora_unet_", text_encoder: "lora_te1_", text_encoder_2: "lora_te2_" }[
          m.component
        ];
        const key = `${prefix}${m.module.replace(/\./g, "_")}`;
        const f = await factorsOf(lora, `${key}.lora_down.weight`, `${key}.lora_up.weight`);
        const [out, ...inner] = m.shape as [number, ...number[]];
        const cols = inner.reduce((a, b) => a * b, 1);
        const transposed = op === "MatMul" || (op === "Gemm" && transB === 0);
        const merged = mergedValues(result.models.get(modelPath)!, initializer, base.half);
        let worst = 0;
        for (let o = 0; o < out; o++) {
          for (let j = 0; j < cols; j++) {
            let delta = 0;
            for (let r = 0; r < 4; r++) delta += f.up[o * 4 + r]! * f.down[r * cols + j]!;
            const at = transposed ? j * out + o : o * cols + j;
            const exact = base.values[at]! + (2 / 4) * scale * delta;
            const want = base.half
              ? float16BitsToFloat32(float32ToFloat16Bits(Float32Array.of(exact)))[0]!
              : exact;
            const tolerance = base.half ? Math.abs(want) * 2 ** -10 + 1e-7 : 1e-6;
            worst = Math.max(worst, Math.abs(merged[at]! - want) - tolerance);
          }
        }
        assert.ok(worst <= 0, `${m.module}: off by ${worst} beyond tolerance`);
      }
    });
  }

  it("several LoRAs on one weight add up; a LoRA at scale 0 adds nothing", async () => {
    const one = await writeLora(
      "one.safetensors",
      fixtureLora([modules[0]!], { style: "kohya", rank: 2, seed: 1 }),
    );
    const two = await writeLora(
      "two.safetensors",
      fixtureLora([modules[0]!], { style: "diffusers", rank: 3, seed: 2 }),
    );
    const modelPath = join(reduced, "unet", "model.onnx");
    const { initializer } = await weightOf(modelPath, nodes[TO_Q]!);
    const base = (await storedValues(modelPath, initializer)).values;
    const valuesAfter = async (selections: LoraSelection[]) =>
      mergedValues(
        (await mergeLoras(components(reduced), selections)).models.get(modelPath)!,
        initializer,
        false,
      );
    const a = await valuesAfter([{ path: one, scale: 1 }]);
    const b = await valuesAfter([{ path: two, scale: -0.5 }]);
    const both = await valuesAfter([
      { path: one, scale: 1 },
      { path: two, scale: -0.5 },
    ]);
    for (let i = 0; i < base.length; i++) {
      assert.ok(Math.abs(both[i]! - (a[i]! + b[i]! - base[i]!)) < 1e-6, `element ${i}`);
    }
    const zero = await mergeLoras(components(reduced), [{ path: one, scale: 0 }]);
    assert.equal(zero.models.size, 0, "nothing to load differently");
    assert.equal(zero.reports[0]!.matched, 1, "the LoRA is still checked");
  });

  it("a MatMul on a Transpose of the Linear's own [out, in] weight (older exports) is merged as is", async () => {
    const dir = join(scratch, "transposed");
    await mkdir(dir, { recursive: true });
    const g = new GraphBuilder("unet");
    const x = g.input("x", "float32", [1, 3]);
    const weight = Float32Array.from({ length: 6 }, (_, i) => i / 10);
    const transposed = g.node("Transpose", [g.namedWeight(`${TO_Q}.weight`, weight, [2, 3])], {
      perm: [1, 0],
    });
    const scope = "/down_blocks.1/attentions.0/transformer_blocks.0/attn1/to_q";
    g.output("y", "float32", [1, 2], g.node("MatMul", [x, transposed], {}, scope));
    const modelPath = join(dir, "model.onnx");
    await writeFile(modelPath, g.encode().model);
    const lora = await writeLora(
      "transposed.safetensors",
      fixtureLora([{ component: "unet", module: TO_Q, shape: [2, 3] }], { style: "kohya", rank: 1, seed: 2 }),
    );
    const f = await factorsOf(
      lora,
      `lora_unet_${TO_Q.replace(/\./g, "_")}.lora_down.weight`,
      `lora_unet_${TO_Q.replace(/\./g, "_")}.lora_up.weight`,
    );
    const merged = (
      await mergeLoras([{ component: "unet", path: modelPath }], [{ path: lora, scale: 1 }])
    ).models.get(modelPath)!;
    const got = mergedValues(merged, `${TO_Q}.weight`, false);
    for (let o = 0; o < 2; o++) {
      for (let i = 0; i < 3; i++) {
        const want = weight[o * 3 + i]! + f.up[o]! * f.down[i]!;
        assert.ok(Math.abs(got[o * 3 + i]! - want) < 1e-6, `[${o}, ${i}]`);
      }
    }
  });

  it("an SGM-named (sd-scripts SDXL) LoRA reaches the same weights as its diffusers-named twin", async () => {
    // The reduced UNet has 1 ResNet per level, so down_blocks.1.attentions.0 is input block 1 + 1·2 + 0 = 3.
    const sgm = await writeLora(
      "sgm.safetensors",
      fixtureLora([{ ...modules[0]!, fileName: "input_blocks_3_1_transformer_blocks_0_attn1_to_q" }], {
        style: "kohya",
        rank: 2,
        seed: 5,
      }),
    );
    const plain = await writeLora(
      "plain.safetensors",
      fixtureLora([modules[0]!], { style: "kohya", rank: 2, seed: 5 }),
    );
    const modelPath = join(reduced, "unet", "model.onnx");
    const { initializer } = await weightOf(modelPath, nodes[TO_Q]!);
    const merged = async (path: string) =>
      mergedValues(
        (await mergeLoras(components(reduced), [{ path, scale: 1 }])).models.get(modelPath)!,
        initializer,
        false,
      );
    assert.deepEqual(await merged(sgm), await merged(plain));
  });
});

describe("LoRAs that do not fit", () => {
  it("an SD 1.5 LoRA on SDXL: an error naming the file, what the LoRA is for and what the model is", async () => {
    const sd15 = await writeLora(
      "sd15-style.safetensors",
      fixtureLora(
        [
          {
            component: "unet",
            module: "down_blocks.1.attentions.0.transformer_blocks.0.attn2.to_k",
            shape: [640, 768],
          },
          {
            component: "unet",
            module: "down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_q",
            shape: [320, 320],
          },
          {
            component: "text_encoder",
            module: "text_model.encoder.layers.11.self_attn.q_proj",
            shape: [768, 768],
          },
        ],
        { style: "kohya", rank: 4, seed: 1 },
      ),
    );
    await assert.rejects(mergeLoras(components(reduced), [{ path: sd15, scale: 1 }]), (error: unknown) => {
      assert.ok(error instanceof LoraMismatchError);
      assert.ok(error.message.startsWith(sd15));
      assert.match(
        error.message,
        /matches no weight of this model: 1 of its module names exist here with other weight shapes/,
      );
      assert.match(error.message, /UNet cross-attention width 768 \(SD 1\.x\)/);
      assert.match(
        error.message,
        /the model is text_encoder \+ text_encoder_2 \+ unet, UNet cross-attention width 160/,
      );
      assert.match(error.userMessage, /^The LoRA "sd15-style\.safetensors" does not fit this model: /);
      assert.ok(!error.userMessage.includes(scratch));
      return true;
    });
  });

  it("a LoRA partly outside the model is merged where it fits and the rest counted", async () => {
    const partial = await writeLora(
      "partial.safetensors",
      fixtureLora(
        [
          { component: "unet", module: TO_Q, shape: [64, 64] },
          {
            component: "unet",
            module: "down_blocks.2.attentions.1.transformer_blocks.9.attn1.to_q",
            shape: [96, 96],
          },
          {
            component: "unet",
            module: "down_blocks.1.attentions.0.transformer_blocks.0.attn1.to_k",
            shape: [32, 64],
          },
        ],
        { style: "diffusers", rank: 2, seed: 1 },
      ),
    );
    const { reports } = await mergeLoras(components(reduced), [{ path: partial, scale: 1 }]);
    assert.deepEqual(
      { matched: reports[0]!.matched, unmatched: reports[0]!.unmatched, wrongShape: reports[0]!.wrongShape },
      { matched: 1, unmatched: 1, wrongShape: 1 },
    );
  });

  it("Q/K/V packed by onnxruntime's optimiser: refused by name", async () => {
    const dir = join(scratch, "packed");
    await mkdir(dir, { recursive: true });
    const g = new GraphBuilder("unet");
    const x = g.input("x", "float32", [1, 8]);
    const attn1 = "/down_blocks.1/attentions.0/transformer_blocks.0/attn1";
    const qkv = g.node(
      "MatMul",
      [x, g.namedWeight("qkv_weight", new Float32Array(8 * 24), [8, 24])],
      {},
      attn1,
    );
    const outWeight = g.namedWeight(g.exportedWeightName("MatMul"), new Float32Array(24 * 8), [24, 8]);
    g.output("y", "float32", [1, 8], g.node("MatMul", [qkv, outWeight], {}, `${attn1}/to_out.0`));
    // onnxruntime's optimiser names the packed projection MatMul_QKV.
    const decoded = onnx.ModelProto.decode(g.encode().model);
    decoded.graph!.node!.find((n) => n.name === `${attn1}/MatMul`)!.name = `${attn1}/MatMul_QKV`;
    await writeFile(join(dir, "model.onnx"), onnx.ModelProto.encode(decoded).finish());
    assert.deepEqual(indexWeightTargets(decoded).packedAttention, [
      "/down_blocks.1/attentions.0/transformer_blocks.0/attn1/MatMul_QKV",
    ]);
    const lora = await writeLora(
      "qkv.safetensors",
      fixtureLora(
        [
          { component: "unet", module: TO_Q, shape: [8, 8] },
          {
            component: "unet",
            module: "down_blocks.1.attentions.0.transformer_blocks.0.attn1.to_out.0",
            shape: [8, 24],
          },
        ],
        { style: "kohya", rank: 2, seed: 1 },
      ),
    );
    await assert.rejects(
      mergeLoras([{ component: "unet", path: join(dir, "model.onnx") }], [{ path: lora, scale: 1 }]),
      (error: unknown) => {
        assert.ok(error instanceof LoraMismatchError);
        assert.match(
          error.message,
          /lora_unet_down_blocks_1_attentions_0_transformer_blocks_0_attn1_to_q|unet\.down_blocks/,
        );
        assert.match(
          error.message,
          /packs into one weight \(\/down_blocks\.1\/attentions\.0\/transformer_blocks\.0\/attn1\/MatMul_QKV/,
        );
        return true;
      },
    );
  });
});

describe("sessions with merged weights", () => {
  it("a merge too big to go inline is repacked into in-memory files, with the same result", async () => {
    const modelPath = join(reduced, "text_encoder_2", "model.onnx");
    const lora = await writeLora(
      "te2.safetensors",
      fixtureLora(
        [{ component: "text_encoder_2", module: "text_model.encoder.layers.0.mlp.fc1", shape: [384, 96] }],
        {
          style: "kohya",
          rank: 4,
          seed: 9,
        },
      ),
    );
    const te2: ModelComponent[] = [{ component: "text_encoder_2", path: modelPath }];
    const inline = (await mergeLoras(te2, [{ path: lora, scale: 1 }])).models.get(modelPath)!;
    const repacked = (
      await mergeLoras(te2, [{ path: lora, scale: 1 }], { inlineLimitBytes: 0, chunkBytes: 4 * 1024 ** 2 })
    ).models.get(modelPath)!;
    assert.equal(inline.externalData.length, 0, "inline: the rest is read from the model's folder");
    assert.ok(
      repacked.externalData.length > 1,
      `repacked into several in-memory files: ${repacked.externalData.map((f) => f.data.byteLength)}`,
    );
    const ids = new ort.Tensor(
      "int64",
      BigInt64Array.from({ length: 77 }, (_, i) => BigInt(i === 0 ? 49406 : i === 1 ? 320 : 49407)),
      [1, 77],
    );
    const run = async (merged?: typeof inline) => {
      const session = await ModelSession.load(modelPath, { device: "cpu" }, new SessionClock(), merged);
      try {
        return (await session.run({ input_ids: ids }, ["text_embeds"])).text_embeds!.data as Float32Array;
      } finally {
        await session.release();
      }
    };
    const [base, a, b] = [await run(), await run(inline), await run(repacked)];
    assert.deepEqual(a, b);
    assert.notDeepEqual(a, base);
  });
});

describe("images with LoRAs (tiny SDXL fixture)", () => {
  const params: GenerateParams = {
    prompt: "a lighthouse at dusk",
    width: 512,
    height: 512,
    seed: 42n,
    steps: 3,
    guidance: 5,
    scheduler: "euler",
    count: 1,
  };
  const tinyModules: FixtureLoraModule[] = [
    {
      component: "unet",
      module: "down_blocks.1.attentions.0.transformer_blocks.0.attn2.to_k",
      shape: [4, 2048],
    },
    { component: "unet", module: "conv_out", shape: [4, 4, 3, 3] },
    { component: "text_encoder_2", module: "text_model.encoder.layers.0.mlp.fc1", shape: [1280, 32] },
  ];

  async function imageWith(loras: LoraSelection[]): Promise<Buffer> {
    const pipeline = await loadPipeline({
      modelDir: tiny,
      device: "cpu",
      ...(loras.length ? { loras } : {}),
    });
    try {
      return Buffer.from((await pipeline.generate(params)).images[0]!.data);
    } finally {
      await pipeline.dispose();
    }
  }

  it("a LoRA in either key style changes the image; at scale 0 the image is the base's bit for bit", async () => {
    const kohya = await writeLora(
      "tiny-kohya.safetensors",
      fixtureLora(tinyModules, { style: "kohya", rank: 2, alpha: 1, seed: 3, dtype: "F16" }),
    );
    const diffusers = await writeLora(
      "tiny-diffusers.safetensors",
      fixtureLora(tinyModules, { style: "diffusers", rank: 2, seed: 4, dtype: "BF16" }),
    );
    const base = await imageWith([]);
    const withKohya = await imageWith([{ path: kohya, scale: 1 }]);
    const withDiffusers = await imageWith([{ path: diffusers, scale: 0.8 }]);
    const atZero = await imageWith([{ path: kohya, scale: 0 }]);
    assert.ok(!withKohya.equals(base), "kohya LoRA changes the image");
    assert.ok(!withDiffusers.equals(base), "diffusers LoRA changes the image");
    assert.ok(!withKohya.equals(withDiffusers));
    assert.ok(atZero.equals(base), "scale 0 is the base model bit for bit");
  });

  it("the pipeline reports what each LoRA matched", async () => {
    const kohya = await writeLora(
      "tiny-report.safetensors",
      fixtureLora(tinyModules, { style: "kohya", rank: 2, seed: 3 }),
    );
    const pipeline = await loadPipeline({
      modelDir: tiny,
      device: "cpu",
      loras: [{ path: kohya, scale: 0.5 }],
    });
    try {
      assert.deepEqual(
        pipeline.loraReports.map((r) => [r.matched, r.modules, r.matchedByComponent]),
        [[3, 3, { unet: 2, text_encoder_2: 1 }]],
      );
    } finally {
      await pipeline.dispose();
    }
  });
});
