/**
 * A device loads a job's model on demand and keeps EASEL_MODELS_PER_DEVICE of them, unloading the
 * least recently used: the SDXL pipeline on two fixture model folders. A folder removed after its
 * model was loaded shows which models the device still holds: a held one still runs, an unloaded
 * one must be read again and fails.
 */
import assert from "node:assert/strict";
import { rm } from "node:fs/promises";
import { join } from "node:path";
import { describe, it, type TestContext } from "node:test";
import { withModelCatalogue } from "../../src/models/catalogue.js";
import { modelsFolder } from "../models/support.js";
import { openQueue, request, tempDir, testConfig } from "./support.js";

async function queueOnTwoModels(t: TestContext, modelsPerDevice: number) {
  const { modelsDir } = await modelsFolder(t, { photo: {}, turbo: { settings: { preset: "sdxl-turbo" } } });
  const { config } = await withModelCatalogue({
    ...testConfig(await tempDir(t)),
    modelsDir,
    modelsPerDevice,
  });
  const queue = await openQueue(t, { config });
  await queue.start();
  const run = async (model: string) => {
    const { jobId } = await queue.submit(
      request("ann", {
        model,
        width: 512,
        height: 512,
        steps: 1,
        guidance: 0,
        scheduler: "euler-a",
        spacing: "trailing",
      }),
    );
    return queue.wait(jobId);
  };
  return { queue, run, turboDir: join(modelsDir, "turbo") };
}

describe("models on a device", { timeout: 180_000 }, () => {
  it("keeps two models loaded with EASEL_MODELS_PER_DEVICE=2", async (t) => {
    const { run, turboDir } = await queueOnTwoModels(t, 2);
    assert.equal((await run("turbo")).status, "done");
    await rm(turboDir, { recursive: true });
    assert.equal((await run("photo")).status, "done");
    const again = await run("turbo");
    assert.equal(again.status, "done", "turbo is still loaded: its folder is not read again");
  });

  it("unloads the least recently used with EASEL_MODELS_PER_DEVICE=1", async (t) => {
    const { run, turboDir } = await queueOnTwoModels(t, 1);
    assert.equal((await run("turbo")).status, "done");
    await rm(turboDir, { recursive: true });
    assert.equal((await run("photo")).status, "done", "the default model is loaded again");
    const again = await run("turbo");
    assert.equal(again.status, "failed", "turbo was unloaded and its folder is gone");
    assert.equal(again.error?.code, "model_folder");
  });
});

describe("model affinity across devices", () => {
  it("gives a job to the free device that holds its model, not the first free one", async (t) => {
    const { modelsDir } = await modelsFolder(t, { photo: {}, turbo: { settings: { preset: "sdxl-turbo" } } });
    const { config } = await withModelCatalogue({
      ...testConfig(await tempDir(t), { devices: ["cpu", "cuda:0"] }),
      modelsDir,
    });
    const queue = await openQueue(t, { config, engineFor: () => ({ kind: "simulated", stepMs: 5 }) });
    await queue.start();
    const devices = new Map<string, string>();
    queue.on("started", (event) => devices.set(event.jobId, event.device));
    const job = (model: string, prompt = "a fox") =>
      queue.submit(request("ann", { model, prompt, steps: 2, guidance: model === "turbo" ? 0 : 5 }));
    // A slow photo job takes the first device, so the Turbo job goes to the second.
    const photo = await job("photo", "slow [sim:step-ms=300]");
    const turbo = await job("turbo");
    await Promise.all([queue.wait(photo.jobId), queue.wait(turbo.jobId)]);
    assert.equal(devices.get(photo.jobId), "cpu");
    assert.equal(devices.get(turbo.jobId), "cuda:0");
    // Both free now: the next Turbo job goes where Turbo is loaded, the next photo job to the other.
    const again = await job("turbo");
    await queue.wait(again.jobId);
    assert.equal(devices.get(again.jobId), "cuda:0");
    const photoAgain = await job("photo");
    await queue.wait(photoAgain.jobId);
    assert.equal(devices.get(photoAgain.jobId), "cpu");
  });
});
