/** EASEL_TEXT_ENCODER_DEVICE: the CLIP encoders load on their own device, with identical output. */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { loadConfig } from "../../src/config.js";
import { ConfigError } from "../../src/errors.js";
import { loadPipeline, type SdxlPipeline } from "../../src/pipeline/index.js";
import { ExecutionProviderError } from "../../src/pipeline/onnx/session.js";
import type { GenerateParams } from "../../src/pipeline/types.js";
import { pipelineOptionsOf } from "../../src/queue/engine.js";
import { fixtureModels } from "../helpers/fixtures.js";

const params: GenerateParams = {
  prompt: "a lighthouse at dusk",
  negativePrompt: "fog",
  width: 512,
  height: 512,
  seed: 21n,
  steps: 4,
  guidance: 6,
  scheduler: "euler",
  count: 2,
};

describe("text encoders on their own device", () => {
  let models: Awaited<ReturnType<typeof fixtureModels>>;
  let together: SdxlPipeline;
  let apart: SdxlPipeline;

  before(async () => {
    models = await fixtureModels();
    together = await loadPipeline({ modelDir: models.base, device: "cpu" });
    apart = await loadPipeline({ modelDir: models.base, device: "cpu", textEncoderDevice: "cpu" });
  });
  after(async () => {
    await together?.dispose();
    await apart?.dispose();
  });

  it("gives bit-identical latents and PNGs with the encoders on the CPU (CPU vs CPU)", async () => {
    const a = await together.generate(params);
    const b = await apart.generate(params);
    assert.ok(Buffer.from(a.latents.buffer).equals(Buffer.from(b.latents.buffer)));
    for (const [i, image] of a.images.entries()) {
      assert.ok(Buffer.from(image.data).equals(Buffer.from(b.images[i]!.data)));
    }
    assert.deepEqual(apart.devices, { textEncoders: "cpu", unet: "cpu", vae: "cpu" });
  });

  it("loads the encoders on the device it names: one without a provider fails by that name", async () => {
    await assert.rejects(
      loadPipeline({ modelDir: models.base, device: "cpu", textEncoderDevice: "cuda:7" }),
      (error: unknown) => error instanceof ExecutionProviderError && error.device === "cuda:7",
    );
  });

  it("reads EASEL_TEXT_ENCODER_DEVICE and hands it to the engine's pipeline", () => {
    assert.equal(loadConfig({}).textEncoderDevice, undefined);
    assert.equal(loadConfig({ EASEL_TEXT_ENCODER_DEVICE: "cpu" }).textEncoderDevice, "cpu");
    assert.throws(() => loadConfig({ EASEL_TEXT_ENCODER_DEVICE: "gpu" }), ConfigError);
    const options = pipelineOptionsOf({
      kind: "sdxl",
      modelDir: "m",
      device: "cuda:0",
      textEncoderDevice: "cpu",
    });
    assert.equal(options.textEncoderDevice, "cpu");
    assert.equal(options.device, "cuda:0");
  });
});
