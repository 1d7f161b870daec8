/**
 * onnxruntime's com.microsoft operators: a model using fused GroupNorm (as Microsoft's optimised
 * SDXL exports do) is refused on the CPU provider by operator name — by doctor, by start, and at
 * load — and the table of operators the CPU provider lacks holds against onnxruntime itself.
 */
import assert from "node:assert/strict";
import { cp, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import onnxProto from "onnx-proto";
import * as ort from "onnxruntime-node";
import { loadConfig } from "../../src/config.js";
import { runDoctor } from "../../src/doctor/index.js";
import { CPU_MISSING_OPERATORS, checkOperators, readCustomOperators } from "../../src/doctor/operators.js";
import { checkBeforeStart, placedModelsOf } from "../../src/doctor/start-checks.js";
import { ModelFolderError } from "../../src/errors.js";
import { groupNormUnetModel } from "../../src/fixtures/contrib-ops.js";
import { loadPipeline } from "../../src/pipeline/index.js";
import { runCli } from "../helpers/cli.js";
import { fixtureModels } from "../helpers/fixtures.js";

const { onnx } = onnxProto;
const { AttributeType } = onnx.AttributeProto;

/** Whether onnxruntime's CPU provider has a kernel for a com.microsoft node with these inputs. */
async function cpuHasKernel(op: string, dims: number[][], attribute: onnxProto.onnx.IAttributeProto[]) {
  const names = dims.map((_, i) => `x${i}`);
  const info = (name: string, d: number[]) => ({
    name,
    type: { tensorType: { elemType: 1, shape: { dim: d.map((v) => ({ dimValue: v })) } } },
  });
  const model = onnx.ModelProto.encode({
    irVersion: 8,
    opsetImport: [
      { domain: "", version: 17 },
      { domain: "com.microsoft", version: 1 },
    ],
    graph: {
      name: "probe",
      node: [{ opType: op, domain: "com.microsoft", input: names, output: ["y"], attribute }],
      input: names.map((n, i) => info(n, dims[i]!)),
      output: [{ name: "y", type: { tensorType: { elemType: 1 } } }],
    },
  }).finish();
  try {
    await (await ort.InferenceSession.create(model, { logSeverityLevel: 4 })).release();
    return true;
  } catch (error) {
    if (/Could not find an implementation|Failed to find kernel/.test(String(error))) return false;
    throw error;
  }
}

describe("com.microsoft operators a device cannot run", () => {
  let scratch: string;
  let folder: string;

  before(async () => {
    scratch = await mkdtemp(join(tmpdir(), "easel-ops-"));
    folder = join(scratch, "groupnorm");
    await cp((await fixtureModels()).base, folder, { recursive: true });
    await rm(join(folder, "unet", "model.onnx_data"));
    await writeFile(join(folder, "unet", "model.onnx"), groupNormUnetModel());
  });
  after(async () => {
    await rm(scratch, { recursive: true, force: true });
  });

  it("the CPU provider has no kernel for the fused SDXL operators the table lists, and has one for those it omits", async () => {
    const groupNorm = [
      { name: "epsilon", type: AttributeType.FLOAT, f: 1e-5 },
      { name: "groups", type: AttributeType.INT, i: 4 },
      { name: "activation", type: AttributeType.INT, i: 0 },
    ];
    assert.equal(await cpuHasKernel("GroupNorm", [[1, 4, 4, 32], [32], [32]], groupNorm), false);
    assert.equal(
      await cpuHasKernel("SkipGroupNorm", [[1, 4, 4, 32], [32], [32], [1, 4, 4, 32]], groupNorm),
      false,
    );
    assert.equal(await cpuHasKernel("BiasSplitGelu", [[1, 16, 64], [64]], []), false);
    assert.equal(await cpuHasKernel("BiasAdd", [[1, 16, 32], [32], [1, 16, 32]], []), false);
    for (const op of ["GroupNorm", "SkipGroupNorm", "BiasSplitGelu", "BiasAdd"]) {
      assert.ok(CPU_MISSING_OPERATORS.has(`com.microsoft.${op}`), op);
    }
    // Fused operators the CPU provider does run are not refused.
    const mha = [{ name: "num_heads", type: AttributeType.INT, i: 2 }];
    assert.equal(
      await cpuHasKernel(
        "MultiHeadAttention",
        [
          [1, 16, 32],
          [1, 16, 32],
          [1, 16, 32],
        ],
        mha,
      ),
      true,
    );
    assert.equal(await cpuHasKernel("FastGelu", [[1, 16, 32]], []), true);
    assert.ok(!CPU_MISSING_OPERATORS.has("com.microsoft.MultiHeadAttention"));
    assert.ok(!CPU_MISSING_OPERATORS.has("com.microsoft.FastGelu"));
  });

  it("reads the operators a model uses outside the standard domain", async () => {
    const operators = await readCustomOperators(join(folder, "unet", "model.onnx"));
    assert.deepEqual(Object.fromEntries(operators), { "com.microsoft.GroupNorm": 1 });
    assert.equal((await readCustomOperators(join(folder, "text_encoder", "model.onnx"))).size, 0);
  });

  it("doctor fails the UNet on cpu by operator name and passes it on a cuda device", async () => {
    const results = await checkOperators([
      { name: "base/unet", path: join(folder, "unet", "model.onnx"), device: "cpu" },
      { name: "base/unet", path: join(folder, "unet", "model.onnx"), device: "cuda:0" },
    ]);
    assert.equal(results.length, 2);
    assert.equal(results[0]!.status, "fail");
    assert.match(
      results[0]!.message,
      /base\/unet uses com\.microsoft\.GroupNorm, which onnxruntime's cpu provider cannot run/,
    );
    assert.equal(results[1]!.status, "ok");
    const report = await runDoctor({
      config: loadConfig({ EASEL_MODEL_DIR: folder, EASEL_DATA_DIR: scratch }),
    });
    const line = report.checks.find((c) => c.name === "base/unet ops cpu");
    assert.equal(line?.status, "fail");
    assert.equal(report.ok, false);
  });

  it("start refuses with doctor's sentence, before loading anything", async () => {
    const config = loadConfig({ EASEL_MODEL_DIR: folder, EASEL_DATA_DIR: scratch });
    assert.deepEqual(
      placedModelsOf(config).map((m) => `${m.name}@${m.device}`),
      [
        "base/text_encoder@cpu",
        "base/text_encoder_2@cpu",
        "base/unet@cpu",
        "base/vae_decoder@cpu",
        "base/vae_encoder@cpu",
      ],
    );
    await assert.rejects(checkBeforeStart(config), /base\/unet uses com\.microsoft\.GroupNorm/);
    const run = await runCli(["start"], {
      env: {
        EASEL_MODEL_DIR: folder,
        EASEL_DATA_DIR: scratch,
        EASEL_WEB_PORT: "0",
        DISCORD_TOKEN: "",
        SLACK_BOT_TOKEN: "",
      },
    });
    assert.equal(run.code, 2);
    assert.match(
      run.stderr,
      /base\/unet uses com\.microsoft\.GroupNorm, which onnxruntime's cpu provider cannot run/,
    );
  });

  it("the pipeline names the operator when loading it anyway", async () => {
    await assert.rejects(
      loadPipeline({ modelDir: folder, device: "cpu" }),
      (error: unknown) =>
        error instanceof ModelFolderError &&
        /uses the operator (com\.microsoft\.)?GroupNorm/.test(error.message),
    );
  });
});
