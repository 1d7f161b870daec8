/**
 * `--lora` through the web API on the fixture SDXL model, with LoRA files written the way kohya
 * exports them: the image changes, job JSON and buttons keep the LoRA, the info lists the
 * catalogue, and a LoRA for another model fails the job with its clear error.
 */
import assert from "node:assert/strict";
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { test } from "node:test";
import { createHttpAdapter } from "../../src/bots/web/index.js";
import { loadConfig } from "../../src/config.js";
import { fixtureLora } from "../../src/fixtures/lora.js";
import { silentLogger } from "../../src/logger.js";
import { startEasel } from "../../src/main.js";
import { withModelCatalogue } from "../../src/models/catalogue.js";
import { withLoraCatalogue } from "../../src/models/loras.js";
import { fixtureModels } from "../helpers/fixtures.js";
import { Client, type Scope, type ServerEvent, tempDir } from "./support.js";

async function startWithLoras(scope: Scope): Promise<Client> {
  const root = await tempDir(scope);
  const loraDir = join(root, "loras");
  await mkdir(loraDir);
  await writeFile(
    join(loraDir, "ink.safetensors"),
    fixtureLora(
      [
        {
          component: "unet",
          module: "down_blocks.1.attentions.0.transformer_blocks.0.attn2.to_k",
          shape: [4, 2048],
        },
        { component: "unet", module: "conv_out", shape: [4, 4, 3, 3] },
      ],
      { style: "kohya", rank: 2, seed: 8 },
    ),
  );
  await writeFile(
    join(loraDir, "ink.json"),
    JSON.stringify({ label: "Ink", trigger: "ink sketch", scale: 0.9 }),
  );
  // An SD 1.5-shaped LoRA: its cross-attention keys expect 768-wide text states.
  await writeFile(
    join(loraDir, "sd15.safetensors"),
    fixtureLora(
      [
        {
          component: "unet",
          module: "down_blocks.1.attentions.0.transformer_blocks.0.attn2.to_k",
          shape: [640, 768],
        },
      ],
      { style: "diffusers", rank: 2, seed: 1 },
    ),
  );
  const { base } = await fixtureModels();
  const { config: withModels } = await withModelCatalogue(
    loadConfig({
      EASEL_MODEL_DIR: base,
      EASEL_MODELS_DIR: join(root, "no-models"),
      EASEL_LORA_DIR: loraDir,
      EASEL_DEVICES: "cpu",
      EASEL_DATA_DIR: join(root, "data"),
      EASEL_MAX_JOBS_PER_USER: "10",
      EASEL_WEB_PORT: "0",
      EASEL_LOG_LEVEL: "silent",
    }),
  );
  const config = await withLoraCatalogue(withModels);
  let address: { url: string } | undefined;
  const easel = await startEasel(config, {
    logger: silentLogger,
    adapters: [createHttpAdapter({ onListening: (server) => (address = server) })],
    queue: { sweepEveryMs: 0 },
  });
  scope.after(() => easel.stop());
  return new Client(address!.url);
}

/** The job's last event; CPU runs with a LoRA merge get a generous wait. */
async function final(client: Client, jobId: string): Promise<ServerEvent> {
  const isFinal = (event: ServerEvent) => ["done", "failed", "cancelled"].includes(event.event);
  const last = (await client.events(jobId, isFinal, 300_000)).at(-1);
  assert.ok(last && isFinal(last), `job ${jobId} ended without a final event`);
  return last;
}

const FIXED = "--steps 2 --size 512x512 --seed 5";

test("--lora on the fixture model changes the image, and the job and its buttons keep it", {
  timeout: 600_000,
}, async (t) => {
  const client = await startWithLoras(t);
  const info = await client.get("/api/v1/info");
  assert.deepEqual(info.json.loras, [
    { name: "ink", label: "Ink", trigger: "ink sketch", scale: 0.9 },
    { name: "sd15", label: "sd15", trigger: "", scale: 1 },
  ]);

  const image = async (jobId: string): Promise<Buffer> => {
    const done = await final(client, jobId);
    assert.equal(done.event, "done", JSON.stringify(done.data));
    return client.bytes(done.data.images[0].url);
  };

  const plain = await client.post("/api/v1/imagine", { text: `a red fox ${FIXED}` });
  assert.equal(plain.status, 202, plain.text);
  assert.equal(plain.json.job.loras, undefined);
  const plainImage = await image(plain.json.jobId);

  const styled = await client.post("/api/v1/imagine", { text: `a red fox ${FIXED} --lora ink:0.9` });
  assert.equal(styled.status, 202, styled.text);
  assert.deepEqual(styled.json.job.loras, [{ name: "ink", scale: 0.9 }]);
  const styledImage = await image(styled.json.jobId);
  assert.ok(!plainImage.equals(styledImage), "the LoRA changes the image");
  const view = await client.get(`/api/v1/jobs/${styled.json.jobId}`);
  assert.deepEqual(view.json.loras, [{ name: "ink", scale: 0.9 }]);
  assert.match(view.json.caption, /LoRA ink:0\.9/);

  // The API's list form, the same LoRA at scale 0: the merged weights equal the base's, and the
  // encoders read the trigger words after the prompt, so it is the plain model's image of
  // "a red fox, ink sketch" bit for bit, and the LoRA at 0.9 differs from it.
  const zero = await client.post("/api/v1/imagine", {
    text: `a red fox ${FIXED}`,
    options: { lora: [{ name: "ink", scale: 0 }] },
  });
  assert.equal(zero.status, 202, zero.text);
  assert.deepEqual(zero.json.job.loras, [{ name: "ink", scale: 0 }]);
  const zeroImage = await image(zero.json.jobId);
  const typed = await client.post("/api/v1/imagine", { text: `a red fox, ink sketch ${FIXED}` });
  const typedImage = await image(typed.json.jobId);
  assert.ok(zeroImage.equals(typedImage), "scale 0 with the trigger words = the base model with them typed");
  assert.ok(!zeroImage.equals(plainImage), "the trigger words reach the encoders");
  assert.ok(!styledImage.equals(zeroImage), "the LoRA's weights change the image");

  const reroll = await client.post(`/api/v1/jobs/${styled.json.jobId}/actions`, { action: "reroll" });
  assert.equal(reroll.status, 202, reroll.text);
  assert.deepEqual(reroll.json.job.loras, [{ name: "ink", scale: 0.9 }]);
  await image(reroll.json.jobId);
});

test("a LoRA that fits no weight fails its job with the LoRA's message; bad --lora values queue nothing", {
  timeout: 600_000,
}, async (t) => {
  const client = await startWithLoras(t);
  const submitted = await client.post("/api/v1/imagine", { text: `a red fox ${FIXED} --lora sd15` });
  assert.equal(submitted.status, 202, submitted.text);
  const done = await final(client, submitted.json.jobId);
  assert.equal(done.event, "failed");
  assert.match(JSON.stringify(done.data), /The LoRA \\"sd15\.safetensors\\" does not fit this model/);
  assert.doesNotMatch(JSON.stringify(done.data), /\/tmp|easel-/);

  for (const [text, message] of [
    ["a fox --lora nope", /There is no LoRA "nope"; LoRAs: ink, sd15/],
    ["a fox --lora ink:7", /scale of LoRA ink must be a number from -4 to 4/],
    ["a fox --lora ink --lora sd15 --lora ink:1 --lora sd15:1", /At most 3 LoRAs at once; you gave 4/],
  ] as const) {
    const refused = await client.post("/api/v1/imagine", { text });
    assert.equal(refused.status, 400, text);
    assert.match(refused.json.error.message, message);
  }
  const history = await client.get("/api/v1/history");
  assert.equal(history.json.jobs.length, 1);
});
