/** `easel doctor` on EASEL_LORA_DIR: each file's key style, rank and family, and its problems. */
import assert from "node:assert/strict";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { loadConfig } from "../../src/config.js";
import { checkLoras } from "../../src/doctor/loras.js";
import { fixtureLora } from "../../src/fixtures/lora.js";

describe("doctor: LoRAs", () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "easel-doctor-loras-"));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });
  const configFor = (loraDir: string) =>
    loadConfig({
      EASEL_DATA_DIR: join(dir, "data"),
      EASEL_MODELS_DIR: join(dir, "none"),
      EASEL_LORA_DIR: loraDir,
    });

  it("lists each file's style, rank, components and family, failing a LoRA for another family", async () => {
    const loras = join(dir, "loras");
    await mkdir(loras);
    const crossKey = "down_blocks.1.attentions.0.transformer_blocks.0.attn2.to_k";
    await writeFile(
      join(loras, "ink.safetensors"),
      fixtureLora(
        [
          { component: "unet", module: crossKey, shape: [640, 2048] },
          { component: "unet", module: "conv_out", shape: [4, 4, 3, 3] },
        ],
        { style: "kohya", rank: 4, seed: 1 },
      ),
    );
    await writeFile(
      join(loras, "sd15.safetensors"),
      fixtureLora([{ component: "unet", module: crossKey, shape: [640, 768] }], {
        style: "diffusers",
        rank: 2,
        seed: 2,
      }),
    );
    await writeFile(join(loras, "broken.safetensors"), "not safetensors");
    const results = await checkLoras(configFor(loras));
    const byName = new Map(results.map((result) => [result.name, result]));
    assert.equal(byName.get("lora ink")?.status, "ok");
    assert.equal(byName.get("lora ink")?.message, "kohya, rank 4, 2 modules (unet), for SDXL");
    assert.equal(byName.get("lora sd15")?.status, "fail");
    assert.match(
      byName.get("lora sd15")!.message,
      /diffusers, rank 2, 1 modules \(unet\), for SD 1\.5: easel runs SDXL/,
    );
    assert.equal(byName.get("lora broken")?.status, "fail");
    assert.match(byName.get("lora broken")!.message, /The LoRA "broken\.safetensors" cannot be used/);
  });

  it("says when there are none, and fails a bad json naming the file and field", async () => {
    assert.deepEqual(
      (await checkLoras(configFor(join(dir, "absent")))).map((result) => result.status),
      ["ok"],
    );
    const bad = join(dir, "bad");
    await mkdir(bad);
    await writeFile(join(bad, "ink.safetensors"), "x");
    await writeFile(join(bad, "ink.json"), JSON.stringify({ scale: "high" }));
    const [result] = await checkLoras(configFor(bad));
    assert.equal(result?.status, "fail");
    assert.match(result!.message, /ink\.json: field "scale"/);
  });
});
