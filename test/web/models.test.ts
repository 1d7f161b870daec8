/**
 * Two models in a models folder, offered through the web API: the info listing, `--model` with a
 * Turbo preset (512², 1 step, guidance 0, its scheduler), buttons that keep the model, and an
 * unknown model refused with nothing queued.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { test } from "node:test";
import { createHttpAdapter } from "../../src/bots/web/index.js";
import { loadConfig } from "../../src/config.js";
import { silentLogger } from "../../src/logger.js";
import { type Easel, startEasel } from "../../src/main.js";
import { withModelCatalogue } from "../../src/models/catalogue.js";
import { modelsFolder } from "../models/support.js";
import { Client, FAST_ENGINE, finished, type Scope } from "./support.js";

async function startWithModels(scope: Scope): Promise<{ client: Client; easel: Easel }> {
  const { root, modelsDir } = await modelsFolder(scope, {
    turbo: { settings: { preset: "sdxl-turbo" } },
    photo: { settings: { label: "Photo", description: "A photographic fine-tune", steps: 20 } },
  });
  const { config } = await withModelCatalogue(
    loadConfig({
      EASEL_DATA_DIR: join(root, "data"),
      EASEL_MODELS_DIR: modelsDir,
      EASEL_DEFAULT_MODEL: "photo",
      EASEL_MAX_JOBS_PER_USER: "10",
      EASEL_WEB_PORT: "0",
      EASEL_LOG_LEVEL: "silent",
    }),
  );
  let address: { url: string } | undefined;
  const easel = await startEasel(config, {
    logger: silentLogger,
    adapters: [createHttpAdapter({ onListening: (server) => (address = server) })],
    queue: { engineFor: () => FAST_ENGINE, sweepEveryMs: 0 },
  });
  scope.after(() => easel.stop());
  return { client: new Client(address!.url), easel };
}

test("the info lists the catalogue with each model's defaults, the default first", async (t) => {
  const { client } = await startWithModels(t);
  const info = await client.get("/api/v1/info");
  assert.equal(info.status, 200);
  assert.deepEqual(info.json.models, [
    {
      name: "photo",
      label: "Photo",
      description: "A photographic fine-tune",
      default: true,
      defaults: { steps: 20, guidance: 5, scheduler: "euler", width: 1024, height: 1024 },
      maxSteps: 150,
      minGuidance: 1,
    },
    {
      name: "turbo",
      label: "SDXL-Turbo",
      description: "Stability's distilled SDXL: 512x512 in 1-4 steps, no guidance",
      default: false,
      defaults: { steps: 1, guidance: 0, scheduler: "euler-a", width: 512, height: 512 },
      maxSteps: 4,
      minGuidance: 0,
    },
  ]);
  assert.match(info.json.help, /--model/);
});

test("a bare `a fox --model turbo` runs at 512x512, 1 step, guidance 0 on Euler ancestral; buttons keep the model", async (t) => {
  const { client } = await startWithModels(t);
  const submitted = await client.post("/api/v1/imagine", { text: "a fox --model turbo" });
  assert.equal(submitted.status, 202, submitted.text);
  assert.equal(submitted.json.job.model, "turbo");
  assert.deepEqual(submitted.json.job.settings, {
    steps: 1,
    guidance: 0,
    scheduler: "euler-a",
    width: 512,
    height: 512,
  });
  const done = await finished(client, submitted.json.jobId);
  assert.equal(done.event, "done");
  assert.match(done.data.caption, /turbo · seed \d+ · 512x512 · 1 steps · cfg 0 · euler-a/);

  const path = `/api/v1/jobs/${submitted.json.jobId}/actions`;
  for (const body of [{ action: "reroll" }, { action: "vary", index: 0, strength: "subtle" }]) {
    const pressed = await client.post(path, body);
    assert.equal(pressed.status, 202, pressed.text);
    assert.equal(pressed.json.job.model, "turbo", body.action);
    assert.equal(pressed.json.job.settings.steps, 1, body.action);
    assert.equal(pressed.json.job.settings.guidance, 0, body.action);
    await finished(client, pressed.json.jobId);
  }
  // Upscale keeps the model too; its size is the upscaled one.
  const upscaled = await client.post(path, { action: "upscale", index: 0 });
  assert.equal(upscaled.status, 202, upscaled.text);
  assert.equal(upscaled.json.job.model, "turbo");
  assert.equal(upscaled.json.job.settings.width, 1024);
  await finished(client, upscaled.json.jobId);

  // Guidance 0 is the Turbo model's to take; the default model keeps guidance at least 1.
  const zero = await client.post("/api/v1/imagine", { text: "a fox --model turbo --cfg 0 --steps 4" });
  assert.equal(zero.status, 202, zero.text);
  await finished(client, zero.json.jobId);
  const tooMany = await client.post("/api/v1/imagine", { text: "a fox --model turbo --steps 5" });
  assert.equal(tooMany.status, 400);
  assert.match(tooMany.json.error.message, /Steps must be between 1 and 4/);
  const zeroOnPhoto = await client.post("/api/v1/imagine", { text: "a fox --cfg 0" });
  assert.equal(zeroOnPhoto.status, 400);
  assert.match(zeroOnPhoto.json.error.message, /Guidance must be between 1 and 30/);
  const photo = await client.post("/api/v1/imagine", { text: "a fox" });
  assert.equal(photo.json.job.model, "photo");
  assert.deepEqual(photo.json.job.settings, {
    steps: 20,
    guidance: 5,
    scheduler: "euler",
    width: 1024,
    height: 1024,
  });
  await finished(client, photo.json.jobId);
});

test("an unknown model is refused with the models on offer, and nothing is queued", async (t) => {
  const { client } = await startWithModels(t);
  const refused = await client.post("/api/v1/imagine", { text: "a fox --model rocket" });
  assert.equal(refused.status, 400);
  assert.match(refused.json.error.message, /Model must be one of photo, turbo; you gave "?rocket/);
  const structured = await client.post("/api/v1/imagine", { text: "a fox", options: { model: "TURBO" } });
  assert.equal(structured.status, 202, structured.text);
  assert.equal(structured.json.job.model, "turbo");
  await finished(client, structured.json.jobId);
  const history = await client.get("/api/v1/history");
  assert.equal(history.json.jobs.length, 1);
});

test("a free device takes a job for the model it holds first, overtaking a waiting job at most once", async (t) => {
  const { client, easel } = await startWithModels(t);
  const started: string[] = [];
  easel.queue.on("started", (event) => started.push(event.jobId));
  const submit = async (text: string) => {
    const answer = await client.post("/api/v1/imagine", { text });
    assert.equal(answer.status, 202, answer.text);
    return answer.json.jobId as string;
  };
  // The device runs a slow Turbo job while a photo job and two Turbo jobs wait, in that order.
  const t0 = await submit("first [sim:step-ms=1000] --model turbo --steps 4");
  const p1 = await submit("photo --steps 2");
  const t1 = await submit("second --model turbo");
  const t2 = await submit("third --model turbo");
  for (const id of [t0, p1, t1, t2]) await finished(client, id);
  // Still holding Turbo, the device takes t1 past p1 once; t2 may not pass p1 again.
  assert.deepEqual(started, [t0, t1, p1, t2]);
});
