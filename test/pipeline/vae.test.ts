/** The VAE ends: the fp16 overflow guard and both VAE-encoder output conventions. */
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { DeviceFailureError } from "../../src/errors.js";
import { writeFixtureModels } from "../../src/fixtures/index.js";
import { TorchGenerator } from "../../src/pipeline/noise/index.js";
import { ModelSession, SessionClock } from "../../src/pipeline/onnx/session.js";
import { VaeDecoder, VaeEncoder } from "../../src/pipeline/vae.js";
import { fixtureModels } from "../helpers/fixtures.js";

const clock = new SessionClock();
const sessions: ModelSession[] = [];
const load = async (path: string) => {
  const session = await ModelSession.load(path, { device: "cpu" }, clock);
  sessions.push(session);
  return session;
};

describe("VAE decoder overflow guard", () => {
  let fp16: ModelSession;
  let fp32: ModelSession;
  before(async () => {
    const models = await fixtureModels();
    fp16 = await load(join(models["base-fp16"], "vae_decoder", "model.onnx"));
    fp32 = await load(join(models.base, "vae_decoder", "model.onnx"));
  });
  after(async () => {
    await Promise.all(sessions.splice(0).map((s) => s.release()));
  });

  // Latents this large overflow float16 (max 65504) once unscaled, like the SDXL VAE's activations.
  const overflowing = new Float32Array(4 * 8 * 8).fill(20000);

  it("detects the float16 overflow and re-decodes with the float32 fallback", async () => {
    const decoder = new VaeDecoder(fp16, 0.13025, fp32);
    const rgb = await decoder.decode(overflowing, 8, 8);
    assert.equal(rgb.length, 64 * 64 * 3);
    assert.ok(
      rgb.some((v) => v !== rgb[0]),
      "a real image, not a flat one",
    );
  });

  it("fails with a clear error rather than returning a black image when there is no fallback", async () => {
    const decoder = new VaeDecoder(fp16, 0.13025);
    await assert.rejects(decoder.decode(overflowing, 8, 8), (error: unknown) => {
      return error instanceof DeviceFailureError && /invalid image/.test(error.userMessage);
    });
  });

  it("does not blame the decoder (nor suggest another VAE) for latents that are already invalid", async () => {
    const decoder = new VaeDecoder(fp32, 0.13025, fp32);
    const latents = new TorchGenerator(3n).randn([1, 4, 8, 8]);
    latents[5] = Number.POSITIVE_INFINITY;
    await assert.rejects(decoder.decode(latents, 8, 8), (error: unknown) => {
      assert.ok(error instanceof DeviceFailureError, String(error));
      assert.match(error.userMessage, /while denoising/);
      assert.doesNotMatch(error.userMessage, /VAE/);
      return true;
    });
  });

  it("decodes ordinary latents with the primary decoder alone", async () => {
    const decoder = new VaeDecoder(fp16, 0.13025);
    const latents = new TorchGenerator(3n).randn([1, 4, 8, 8]);
    const rgb = await decoder.decode(latents, 8, 8);
    assert.ok(rgb.some((v) => v !== rgb[0]));
  });
});

describe("VAE encoder output conventions", () => {
  let scratch: string;
  before(async () => {
    scratch = await mkdtemp(join(tmpdir(), "easel-vae-"));
  });
  after(async () => {
    await Promise.all(sessions.splice(0).map((s) => s.release()));
    await rm(scratch, { recursive: true, force: true });
  });

  const pixels = new Float32Array(3 * 64 * 64).map((_, i) => Math.sin(i / 50) * 0.8);

  it("scales a sampled latent_sample output, still drawing the sample's noise to keep diffusers' stream", async () => {
    const models = await fixtureModels();
    const encoder = new VaeEncoder(await load(join(models.base, "vae_encoder", "model.onnx")), 0.13025);
    const generator = new TorchGenerator(1n);
    const latents = await encoder.encode(pixels, 64, 64, generator);
    assert.equal(latents.length, 4 * 8 * 8);
    assert.equal(
      generator.wordsConsumed,
      256,
      "one randn of the latent shape, as diffusers' latent_dist.sample",
    );
  });

  it("samples mean + std * randn from latent_parameters with the request's generator", async () => {
    const models = await writeFixtureModels(scratch, {
      variants: ["base"],
      vaeEncoderOutput: "latent_parameters",
    });
    const encoder = new VaeEncoder(await load(join(models.base, "vae_encoder", "model.onnx")), 0.13025);
    const a = await encoder.encode(pixels, 64, 64, new TorchGenerator(1n));
    const b = await encoder.encode(pixels, 64, 64, new TorchGenerator(1n));
    const c = await encoder.encode(pixels, 64, 64, new TorchGenerator(2n));
    const generator = new TorchGenerator(1n);
    await encoder.encode(pixels, 64, 64, generator);
    assert.equal(
      generator.wordsConsumed,
      256,
      "one randn of the latent shape, as diffusers' latent_dist.sample",
    );
    assert.equal(a.length, 4 * 8 * 8);
    assert.deepEqual(a, b);
    assert.notDeepEqual(a, c);
  });
});
