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
