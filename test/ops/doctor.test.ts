import assert from "node:assert/strict";
import { cp, mkdir, mkdtemp, rm, stat, truncate, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { loadConfig } from "../../src/config.js";
import { checkChatSettings } from "../../src/doctor/chat.js";
import { checkDevice, diagnoseCudaFailure } from "../../src/doctor/devices.js";
import { parseNvidiaSmi } from "../../src/doctor/gpu-info.js";
import { type DoctorReport, runDoctor } from "../../src/doctor/index.js";
import { checkDeviceMemory } from "../../src/doctor/memory.js";
import { checkNodeVersion } from "../../src/doctor/node-version.js";
import { loaderFlags } from "../../src/doctor/probe-process.js";
import { GraphBuilder } from "../../src/fixtures/onnx-graph.js";
import { runCli } from "../helpers/cli.js";
import { fixtureModels } from "../helpers/fixtures.js";

const failures = (report: DoctorReport) => report.checks.filter((check) => check.status === "fail");

describe("easel doctor on model folders", () => {
  let models: Awaited<ReturnType<typeof fixtureModels>>;
  let work: string;
  let copies = 0;

  before(async () => {
    models = await fixtureModels();
    work = await mkdtemp(join(tmpdir(), "easel-doctor-"));
  });
  after(async () => {
    await rm(work, { recursive: true, force: true });
  });

  /** A writable copy of the base fixture, broken by `breakIt`. */
  const brokenBase = async (breakIt: (dir: string) => Promise<void>) => {
    const dir = join(work, `base-${copies++}`);
    await cp(models.base, dir, { recursive: true });
    await breakIt(dir);
    return dir;
  };
  const doctor = (env: Record<string, string>) =>
    runDoctor({ config: loadConfig({ EASEL_DATA_DIR: join(work, "data"), ...env }) });

  it("passes good base and refiner folders, with every component's parameters and tensors", async () => {
    const report = await doctor({ EASEL_MODEL_DIR: models.base, EASEL_REFINER_DIR: models.refiner });
    assert.deepEqual(failures(report), []);
    assert.equal(report.ok, true);
    const names = report.checks.map((check) => check.name);
    for (const name of [
      "base/tokenizer",
      "base/text_encoder",
      "base/unet",
      "base/vae_decoder",
      "refiner/unet",
    ]) {
      assert.ok(names.includes(name), `no ${name} check`);
    }
    const unet = report.checks.find((check) => check.name === "base/unet")!;
    assert.match(unet.message, /parameters \(float32/);
    assert.match(unet.message, /time_ids float32\[batch_size,6\]/);
    assert.match(
      report.checks.find((check) => check.name === "refiner/unet")!.message,
      /time_ids float32\[batch_size,5\]/,
    );
    assert.ok((unet.details?.parameters as number) > 0);
  });

  it("a missing file is one fail line naming it", async () => {
    const dir = await brokenBase((d) => rm(join(d, "text_encoder_2", "model.onnx")));
    const report = await doctor({ EASEL_MODEL_DIR: dir });
    const failed = failures(report);
    assert.equal(failed.length, 1, JSON.stringify(failed));
    assert.equal(failed[0]!.name, "base/files");
    assert.match(failed[0]!.message, /text_encoder_2\/model\.onnx: is missing/);
  });

  it("a UNet without time_ids is one fail line", async () => {
    const dir = await brokenBase(async (d) => {
      const graph = new GraphBuilder("unet");
      const sample = graph.input("sample", "float32", ["batch_size", 4, "height", "width"]);
      graph.input("timestep", "float32", []);
      graph.input("encoder_hidden_states", "float32", ["batch_size", "sequence_length", 2048]);
      graph.input("text_embeds", "float32", ["batch_size", 1280]);
      graph.output("out_sample", "float32", ["batch_size", 4, "height", "width"], sample);
      await writeFile(join(d, "unet", "model.onnx"), graph.encode().model);
    });
    const failed = failures(await doctor({ EASEL_MODEL_DIR: dir }));
    assert.equal(failed.length, 1, JSON.stringify(failed));
    assert.equal(failed[0]!.name, "base/unet");
    assert.match(failed[0]!.message, /has no "time_ids" input/);
  });

  it("a truncated .onnx_data is one fail line with the sizes", async () => {
    const dir = await brokenBase(async (d) => {
      const data = join(d, "unet", "model.onnx_data");
      await truncate(data, Math.floor((await stat(data)).size / 2));
    });
    const failed = failures(await doctor({ EASEL_MODEL_DIR: dir }));
    assert.equal(failed.length, 1, JSON.stringify(failed));
    assert.equal(failed[0]!.name, "base/unet");
    assert.match(
      failed[0]!.message,
      /model\.onnx_data is truncated: it holds \d+ bytes, the model needs \d+/,
    );
  });

  it("a tokenizer with an empty vocabulary is one fail line", async () => {
    const dir = await brokenBase((d) => writeFile(join(d, "tokenizer", "vocab.json"), "{}"));
    const failed = failures(await doctor({ EASEL_MODEL_DIR: dir }));
    assert.equal(failed.length, 1, JSON.stringify(failed));
    assert.equal(failed[0]!.name, "base/tokenizer");
    assert.match(failed[0]!.message, /vocab\.json: has no <\|startoftext\|> token/);
  });

  it("a refiner folder configured as the base model is one fail line", async () => {
    const failed = failures(await doctor({ EASEL_MODEL_DIR: models.refiner }));
    assert.equal(failed.length, 1);
    assert.match(failed[0]!.message, /holds an SDXL refiner, but EASEL_MODEL_DIR needs the base/);
  });

  it("an unavailable CUDA device is one fail line with the reason", async () => {
    const report = await doctor({ EASEL_MODEL_DIR: models.base, EASEL_DEVICES: "cuda:0" });
    const failed = failures(report);
    assert.equal(failed.length, 1, JSON.stringify(failed));
    assert.equal(failed[0]!.name, "device cuda:0");
    assert.match(failed[0]!.message, /CUDA/);
    assert.match(failed[0]!.message, /does not fall back to the CPU/);
  });

  it("as a command: exit 1 and the fail line for a broken folder; --json gives one object", async () => {
    const dir = await brokenBase((d) => rm(join(d, "vae_decoder", "model.onnx")));
    const env = { EASEL_MODEL_DIR: dir, EASEL_DATA_DIR: join(work, "data"), EASEL_DEVICES: "cpu" };
    const lines = await runCli(["doctor"], { env });
    assert.equal(lines.code, 1);
    assert.match(lines.stdout, /^fail {2}base\/files {2,}.*vae_decoder\/model\.onnx: is missing/m);
    assert.match(lines.stdout, /^ok {4}node /m);
    assert.match(lines.stdout, /1 check failed/);
    const json = await runCli(["doctor", "--json"], { env: { ...env, EASEL_MODEL_DIR: models.base } });
    assert.equal(json.code, 0, json.stderr);
    const report = JSON.parse(json.stdout) as DoctorReport;
    assert.equal(report.ok, true);
    assert.ok(report.checks.some((check) => check.name === "base/unet" && check.status === "ok"));
  });
});

describe("easel doctor's CUDA diagnosis", () => {
  it("runs the real probe process and names the library onnxruntime could not load", async () => {
    // A bin folder that has the CUDA provider library but not its shared helper: the probe's
    // session creation fails and onnxruntime's log says which file is missing.
    const bin = await mkdtemp(join(tmpdir(), "easel-ortbin-"));
    await mkdir(bin, { recursive: true });
    await writeFile(join(bin, "libonnxruntime_providers_cuda.so"), "");
    const result = await checkDevice("cuda:0", { binDir: bin, gpus: undefined });
    await rm(bin, { recursive: true, force: true });
    assert.equal(result.status, "fail");
    assert.match(
      result.message,
      /CUDA provider does not load on GPU 0: onnxruntime-node's libonnxruntime_providers_shared\.so is missing/,
    );
  });

  it("names cuDNN, cuBLAS, the driver or the device from onnxruntime's messages", () => {
    const cudnn =
      "Failed to load library libonnxruntime_providers_cuda.so with error: libcudnn.so.9: cannot open shared object file: No such file or directory";
    assert.match(diagnoseCudaFailure(cudnn, 0), /^cuDNN 9 is missing \(libcudnn\.so\.9/);
    const cublas = "error: libcublasLt.so.12: cannot open shared object file: No such file or directory";
    assert.match(diagnoseCudaFailure(cublas, 0), /^cuBLAS of CUDA 12 is missing \(libcublasLt\.so\.12/);
    assert.match(
      diagnoseCudaFailure("CUDA failure 35: CUDA driver version is insufficient for CUDA runtime version", 0),
      /driver is too old/,
    );
    assert.match(diagnoseCudaFailure("CUDA failure 101: invalid device ordinal", 3), /no CUDA device 3/);
  });

  it("flags a driver older than CUDA 12 needs before probing", async () => {
    const bin = await mkdtemp(join(tmpdir(), "easel-ortbin-"));
    await writeFile(join(bin, "libonnxruntime_providers_cuda.so"), "");
    const gpus = parseNvidiaSmi("0, NVIDIA GeForce RTX 3090, 24576, 470.182.03\n");
    let probed = false;
    const result = await checkDevice("cuda:0", {
      binDir: bin,
      gpus,
      probe: async () => {
        probed = true;
        return { ok: true, log: "" };
      },
    });
    await rm(bin, { recursive: true, force: true });
    assert.equal(result.status, "fail");
    assert.match(result.message, /driver 470\.182\.03 is too old for CUDA 12/);
    assert.equal(probed, false);
  });
});

describe("easel doctor's other checks", () => {
  it("compares the weights with the machine's or the GPU's memory", () => {
    const gpus = parseNvidiaSmi("0, NVIDIA L4, 23034, 550.54.15\n1, NVIDIA T4, 15360, 550.54.15\n");
    assert.equal(gpus[1]!.memoryBytes, 15360 * 1024 * 1024);
    const machine = { totalMemory: 32e9, gpus };
    assert.equal(checkDeviceMemory("cuda:0", 13e9, machine).status, "ok");
    assert.equal(checkDeviceMemory("cuda:1", 14.5e9, machine).status, "warn");
    assert.equal(checkDeviceMemory("cuda:1", 20e9, machine).status, "fail");
    assert.equal(checkDeviceMemory("cuda:2", 1e9, machine).status, "warn");
    assert.equal(checkDeviceMemory("cpu", 40e9, machine).status, "fail");
  });

  it("checks token shapes without printing them, and says which adapters run", () => {
    const secret = "MTIzNDU2Nzg5MDEyMzQ1Njc4.GhIjKl.abcdefghijklmnopqrstuvwxyz0123456789AB";
    const good = checkChatSettings(
      loadConfig({
        DISCORD_TOKEN: secret,
        SLACK_BOT_TOKEN: "xoxb-1-2-abc",
        SLACK_APP_TOKEN: "xapp-1-A-1-abc",
      }),
    );
    assert.deepEqual(
      good.map((c) => c.status),
      ["ok", "ok", "ok"],
    );
    assert.match(good[2]!.message, /^Discord, Slack \(Socket Mode\); \/healthz/);
    const bad = checkChatSettings(
      loadConfig({
        DISCORD_TOKEN: "not-a-token",
        SLACK_BOT_TOKEN: "xoxp-user-token",
        SLACK_SIGNING_SECRET: "0123456789abcdef0123456789abcdef",
      }),
    );
    assert.deepEqual(
      bad.map((c) => c.status),
      ["fail", "fail", "ok"],
    );
    assert.match(bad[0]!.message, /three dot-separated parts/);
    assert.match(bad[1]!.message, /does not start with xoxb-/);
    for (const check of [...good, ...bad]) {
      assert.ok(
        ![secret, "not-a-token", "xoxp-user-token", "xoxb-1-2-abc"].some((t) => check.message.includes(t)),
      );
    }
  });

  it("reads the Node version against the engines range", () => {
    assert.equal(checkNodeVersion("20.20.2", ">=20.9").status, "ok");
    assert.equal(checkNodeVersion("18.19.0", ">=20.9").status, "fail");
    assert.equal(checkNodeVersion("20.8.1", ">=20.9").status, "fail");
  });

  it("a data dir that cannot be written fails", async () => {
    const file = join(await mkdtemp(join(tmpdir(), "easel-data-")), "a-file");
    await writeFile(file, "");
    const report = await runDoctor({ config: loadConfig({ EASEL_DATA_DIR: join(file, "data") }) });
    const failed = failures(report);
    assert.deepEqual(
      failed.map((c) => c.name),
      ["data dir"],
    );
    assert.match(failed[0]!.message, /is not writable \(ENOTDIR\)/);
  });
});

describe("the CUDA probe's process", () => {
  it("inherits loader flags but never code to evaluate", () => {
    assert.deepEqual(
      loaderFlags(["--import", "tsx", "-e", "spawnAgain()", "--inspect=9229", "--test-reporter=spec"]),
      ["--import", "tsx"],
    );
    assert.deepEqual(loaderFlags(["--eval=x", "--print", "y", "--max-old-space-size=4096"]), [
      "--max-old-space-size=4096",
    ]);
  });
});
