/**
 * The memory plan: what each device holds (per component, per dtype), its activations, its
 * memory (nvidia-smi, the OS or EASEL_DEVICE_MEMORY), the verdict doctor prints and the same
 * sentence `easel start` refuses with.
 */
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { loadConfig, parseDeviceMemory } from "../../src/config.js";
import { runDoctor } from "../../src/doctor/index.js";
import {
  type ComponentWeights,
  CPU_FLOAT16_RESIDENT_FACTOR,
  memoryPlanChecks,
  memoryPlanFor,
  planMemory,
  readFolderWeights,
} from "../../src/doctor/memory-plan.js";
import { ConfigError } from "../../src/errors.js";
import { convertModelFolder } from "../../src/pipeline/convert/index.js";
import { runCli } from "../helpers/cli.js";
import { fixtureModels } from "../helpers/fixtures.js";

const GiB = 1024 ** 3;

/** SDXL base 1.0's components as the official float32 export stores them (parameters × 4 bytes). */
function sdxlBase(dtype: "float32" | "float16"): ComponentWeights[] {
  const half = dtype === "float16";
  const c = (component: string, parameters: number, converted: boolean): ComponentWeights => ({
    model: "base",
    component,
    parameters,
    bytes: parameters * (half && converted ? 2 : 4),
    dtype: half && converted ? "float16" : "float32",
  });
  return [
    c("text_encoder", 123_060_480, true),
    c("text_encoder_2", 694_659_840, true),
    c("unet", 2_567_463_684, true),
    c("vae_decoder", 49_490_199, false),
    c("vae_encoder", 34_163_592, false),
  ];
}

const memory = (bytes: number) => () => ({ bytes, source: "EASEL_DEVICE_MEMORY" as const });

describe("memory plan", () => {
  it("puts every component on its device, and the text encoders on the CPU when asked", () => {
    const together = planMemory({
      weights: sdxlBase("float16"),
      devices: ["cuda:0"],
      textEncoderDevice: undefined,
      maxCount: 1,
      memoryOf: memory(24 * GiB),
    });
    assert.deepEqual(
      together.devices.map((d) => d.device),
      ["cuda:0"],
    );
    assert.deepEqual(
      together.devices[0]!.holds.map((h) => h.component),
      ["text_encoder", "text_encoder_2", "unet", "vae_decoder", "vae_encoder"],
    );

    const apart = planMemory({
      weights: sdxlBase("float16"),
      devices: ["cuda:0", "cuda:1"],
      textEncoderDevice: "cpu",
      maxCount: 1,
      memoryOf: memory(24 * GiB),
    });
    assert.deepEqual(
      apart.devices.map((d) => d.device),
      ["cuda:0", "cuda:1", "cpu"],
    );
    const gpu = apart.devices[0]!;
    assert.deepEqual(
      gpu.holds.map((h) => h.component),
      ["unet", "vae_decoder", "vae_encoder"],
    );
    assert.equal(gpu.weightBytes, 2_567_463_684 * 2 + (49_490_199 + 34_163_592) * 4);
    // The CPU holds one copy of the encoders per GPU worker.
    const cpu = apart.devices[2]!;
    assert.deepEqual(
      cpu.holds.map((h) => [h.component, h.copies]),
      [
        ["text_encoder", 2],
        ["text_encoder_2", 2],
      ],
    );
    // On the CPU provider float16 weights are resident as float32 copies (measured 2.33× their bytes).
    const resident = (parameters: number) => Math.round(parameters * 2 * CPU_FLOAT16_RESIDENT_FACTOR);
    assert.equal(cpu.weightBytes, 2 * (resident(123_060_480) + resident(694_659_840)));
    assert.equal(cpu.overheadBytes, 0);
    assert.ok(gpu.overheadBytes > 0);
  });

  it("halves the UNet's activations in float16 and scales them with the image count", () => {
    const plan = (dtype: "float32" | "float16", maxCount: number) =>
      planMemory({
        weights: sdxlBase(dtype).filter((w) => w.component === "unet"),
        devices: ["cuda:0"],
        textEncoderDevice: undefined,
        maxCount,
        memoryOf: memory(80 * GiB),
      }).devices[0]!.activationBytes;
    assert.ok(Math.abs(plan("float16", 1) * 2 - plan("float32", 1)) <= 2);
    assert.ok(Math.abs(plan("float32", 4) - 4 * plan("float32", 1)) <= 4);
    assert.ok(plan("float32", 1) > 0);
  });

  it("says what to do when the float32 model does not fit a 12 GiB card", () => {
    const plan = planMemory({
      weights: sdxlBase("float32"),
      devices: ["cuda:0"],
      textEncoderDevice: undefined,
      maxCount: 4,
      memoryOf: memory(12 * GiB),
    });
    const device = plan.devices[0]!;
    assert.equal(device.fits, false);
    assert.ok(device.neededBytes > 12 * GiB);
    assert.match(
      device.verdict,
      /^cuda:0 needs [\d.]+ GB \(weights 13\.9 GB, activations [\d.]+ GB at 1024×1024 with 4 images, CUDA 1\.\d GB\) but has 12\.9 GB \(EASEL_DEVICE_MEMORY\): it does not fit; /,
    );
    assert.match(
      device.verdict,
      /convert the model to float16 \(`easel convert --dtype float16 <in> <out>`\)/,
    );
    assert.match(device.verdict, /move the text encoders off the GPU \(EASEL_TEXT_ENCODER_DEVICE=cpu\)/);
    assert.match(device.verdict, /lower EASEL_MAX_COUNT/);
  });

  it("on a GPU whose weights fit but whose activation estimate does not, warns instead of refusing", () => {
    const plan = planMemory({
      weights: sdxlBase("float16"),
      devices: ["cuda:0"],
      textEncoderDevice: "cpu",
      maxCount: 1,
      memoryOf: memory(8 * GiB),
    });
    const gpu = plan.devices.find((d) => d.device === "cuda:0")!;
    assert.ok(gpu.weightBytes + gpu.overheadBytes <= 8 * GiB, "the float16 UNet and VAE fit 8 GiB");
    assert.ok(gpu.neededBytes > 8 * GiB, "with the CPU-measured activations they do not");
    assert.equal(gpu.fits, "maybe");
    assert.match(
      gpu.verdict,
      /the weights fit, the activation estimate \(measured on the CPU provider, an upper bound for GPUs\) does not/,
    );
    const [line] = memoryPlanChecks({ ...plan, devices: [gpu] });
    assert.equal(line!.status, "warn");
    // The CPU's activations were measured there: past its memory is a refusal.
    const cpu = planMemory({
      weights: sdxlBase("float32"),
      devices: ["cpu"],
      textEncoderDevice: undefined,
      maxCount: 1,
      memoryOf: memory(16 * GiB),
    }).devices[0]!;
    assert.ok(cpu.weightBytes <= 16 * GiB && cpu.neededBytes > 16 * GiB);
    assert.equal(cpu.fits, false);
  });

  it("asks for EASEL_DEVICE_MEMORY when a device's memory cannot be read", () => {
    const plan = planMemory({
      weights: sdxlBase("float16"),
      devices: ["cuda:3"],
      textEncoderDevice: undefined,
      maxCount: 1,
      memoryOf: () => undefined,
    });
    assert.equal(plan.devices[0]!.fits, undefined);
    assert.match(
      plan.devices[0]!.verdict,
      /its memory cannot be read: set EASEL_DEVICE_MEMORY \(e\.g\. cuda:3=12GiB\)/,
    );
  });

  it("parses EASEL_DEVICE_MEMORY in binary and decimal units, and rejects anything else clearly", () => {
    assert.deepEqual(parseDeviceMemory("cuda:0=12GiB, cpu=32GB,cuda:1=7.5 GiB"), {
      "cuda:0": 12 * GiB,
      cpu: 32e9,
      "cuda:1": 7.5 * GiB,
    });
    assert.deepEqual(loadConfig({}).deviceMemory, {});
    for (const bad of ["cuda:0=12", "gpu=12GiB", "cuda:0=-1GiB", "cuda:0=12XB"]) {
      assert.throws(
        () => parseDeviceMemory(bad),
        (e: unknown) => e instanceof ConfigError && /EASEL_DEVICE_MEMORY/.test(e.message),
        bad,
      );
    }
  });
});

describe("memory plan of model folders", () => {
  let scratch: string;
  let models: Awaited<ReturnType<typeof fixtureModels>>;
  let converted: string;

  before(async () => {
    scratch = await mkdtemp(join(tmpdir(), "easel-plan-"));
    models = await fixtureModels();
    converted = join(scratch, "fp16");
    await convertModelFolder(models.base, converted, { dtype: "float16", toolVersion: "0" });
  });
  after(async () => {
    await rm(scratch, { recursive: true, force: true });
  });

  it("reads each component's bytes, dtype and parameters from the folder: float16 counts equal float32", async () => {
    const full = await readFolderWeights(models.base, "base");
    const half = await readFolderWeights(converted, "base");
    assert.deepEqual(
      half.map((w) => [w.component, w.dtype]),
      [
        ["text_encoder", "float16"],
        ["text_encoder_2", "float16"],
        ["unet", "float16"],
        ["vae_decoder", "float32"],
        ["vae_encoder", "float32"],
      ],
    );
    assert.deepEqual(
      half.map((w) => w.parameters),
      full.map((w) => w.parameters),
    );
    const unet = (ws: ComponentWeights[]) => ws.find((w) => w.component === "unet")!;
    assert.ok(unet(half).bytes < 0.6 * unet(full).bytes);
  });

  it("doctor shows the float16 folder's parameter counts equal to the float32 one's", async () => {
    const full = await runDoctor({
      config: loadConfig({ EASEL_MODEL_DIR: models.base, EASEL_DATA_DIR: scratch }),
    });
    const half = await runDoctor({
      config: loadConfig({ EASEL_MODEL_DIR: converted, EASEL_DATA_DIR: scratch }),
    });
    for (const component of ["text_encoder", "text_encoder_2", "unet"]) {
      const of = (report: typeof full) => report.checks.find((c) => c.name === `base/${component}`)!;
      assert.equal(of(half).status, "ok", of(half).message);
      assert.equal(of(half).details?.parameters, of(full).details?.parameters);
      assert.match(of(half).message, /parameters \((float32\+)?float16, /);
      assert.match(of(full).message, /parameters \(float32,/);
    }
  });

  it("uses EASEL_DEVICE_MEMORY over what the OS says, and doctor prints the verdict per device", async () => {
    const config = loadConfig({
      EASEL_MODEL_DIR: converted,
      EASEL_DATA_DIR: scratch,
      EASEL_DEVICE_MEMORY: "cpu=3GiB",
    });
    const plan = await memoryPlanFor(config, { totalMemory: 1024 });
    assert.equal(plan!.devices[0]!.availableBytes, 3 * GiB);
    assert.equal(plan!.devices[0]!.memorySource, "EASEL_DEVICE_MEMORY");
    assert.equal(plan!.devices[0]!.fits, true);
    // A VAE fallback is held beside the model's own decoder.
    const withFallback = loadConfig({
      EASEL_MODEL_DIR: converted,
      EASEL_DATA_DIR: scratch,
      EASEL_VAE_FALLBACK: join(models.base, "vae_decoder", "model.onnx"),
    });
    const holds = (await memoryPlanFor(withFallback))!.devices[0]!.holds.map(
      (h) => `${h.model}/${h.component}`,
    );
    assert.ok(holds.includes("fallback/vae_fallback"), holds.join(", "));
    const report = await runDoctor({ config });
    const line = report.checks.find((c) => c.name === "memory cpu");
    assert.equal(line?.status, "ok");
    assert.match(
      line!.message,
      /^cpu needs .* it has 3\.2 GB \(EASEL_DEVICE_MEMORY\): fits \[base\/text_encoder .* float16, .*base\/unet .* float16, base\/vae_decoder .* float32/,
    );
  });

  it("easel start refuses a plan that cannot fit with doctor's own sentence", async () => {
    const env = {
      EASEL_MODEL_DIR: models.base,
      EASEL_DATA_DIR: scratch,
      EASEL_DEVICE_MEMORY: "cpu=100kB",
      EASEL_MAX_COUNT: "2",
    };
    const report = await runDoctor({ config: loadConfig(env) });
    const line = report.checks.find((c) => c.name === "memory cpu")!;
    assert.equal(line.status, "fail");
    assert.match(
      line.message,
      /but has 100 kB \(EASEL_DEVICE_MEMORY\): it does not fit; convert the model to float16/,
    );
    const run = await runCli(["start"], {
      env: { ...env, EASEL_WEB_PORT: "0", DISCORD_TOKEN: "", SLACK_BOT_TOKEN: "" },
    });
    assert.equal(run.code, 2);
    const sentence = line.message.slice(0, line.message.lastIndexOf(" ["));
    assert.ok(run.stderr.includes(sentence), `${run.stderr}\ndoes not include\n${sentence}`);
  });
});
