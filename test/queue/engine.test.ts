/** What the queue's SDXL engine is loaded with: the config's settings reach the pipeline. */
import assert from "node:assert/strict";
import { join } from "node:path";
import { describe, it } from "node:test";
import { type Config, loadConfig } from "../../src/config.js";
import { ModelFolderError } from "../../src/errors.js";
import { loadEngine, pipelineOptionsOf, type SdxlEngineSpec } from "../../src/queue/engine.js";
import { sdxlEngineFor } from "../../src/queue/index.js";
import { fixtureModels } from "../helpers/fixtures.js";
import { tempDir } from "./support.js";

describe("the SDXL engine", () => {
  it("carries the VAE fallback, the tokenizer quirk, the thread count and the optimised-graph cache from the config", () => {
    const defaults = loadConfig({});
    const config: Config = {
      ...defaults,
      modelDir: "/models/base",
      refinerDir: "/models/refiner",
      vaeFallback: "/models/vae-fp32/model.onnx",
      dataDir: "/var/easel",
      ort: { intraOpThreads: 3, webgpu: { layout: "NCHW", validation: "full" } },
      generation: { ...defaults.generation, openClipExclamation: false },
    };
    const spec = sdxlEngineFor(config, "cuda:1");
    assert.deepEqual(pipelineOptionsOf(spec as SdxlEngineSpec), {
      modelDir: "/models/base",
      refinerDir: "/models/refiner",
      device: "cuda:1",
      intraOpThreads: 3,
      webgpu: { layout: "NCHW", validation: "full" },
      exclamationAsPad: true,
      vaeFallback: "/models/vae-fp32/model.onnx",
      optimizedCache: { dir: "/var/easel/onnx-cache" },
    });
    const plain = pipelineOptionsOf(sdxlEngineFor(loadConfig({}), "cpu") as SdxlEngineSpec);
    assert.equal("vaeFallback" in plain, false);
    assert.equal(plain.exclamationAsPad, false, "open_clip's reading of '!' by default");
  });

  it("loads the fallback decoder with the model, so a missing one is reported at start-up", async (t) => {
    const { base } = await fixtureModels();
    const missing = join(await tempDir(t), "vae-fp32.onnx");
    await assert.rejects(
      loadEngine({ kind: "sdxl", modelDir: base, device: "cpu", vaeFallback: missing }),
      (error: unknown) => error instanceof ModelFolderError && error.path === missing,
    );
    const engine = await loadEngine({
      kind: "sdxl",
      modelDir: base,
      device: "cpu",
      vaeFallback: join(base, "vae_decoder", "model.onnx"),
    });
    await engine.dispose();
  });
});
