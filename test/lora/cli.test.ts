/** `easel generate --lora FILE[:SCALE]` as a user runs it, on the tiny fixture model. */
import assert from "node:assert/strict";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { parseLoraFlag } from "../../src/cli/generate.js";
import { InvalidInputError } from "../../src/errors.js";
import { fixtureLora } from "../../src/fixtures/lora.js";
import { runCli } from "../helpers/cli.js";
import { fixtureModels } from "../helpers/fixtures.js";

describe("--lora FILE[:SCALE]", () => {
  it("reads the scale after the last colon, 1 without one, and keeps colons that are part of the path", () => {
    assert.deepEqual(parseLoraFlag("style.safetensors:0.8"), { path: "style.safetensors", scale: 0.8 });
    assert.deepEqual(parseLoraFlag("slider.safetensors:-1.5"), { path: "slider.safetensors", scale: -1.5 });
    assert.deepEqual(parseLoraFlag("style.safetensors"), { path: "style.safetensors", scale: 1 });
    assert.deepEqual(parseLoraFlag("C:\\loras\\x.safetensors"), {
      path: "C:\\loras\\x.safetensors",
      scale: 1,
    });
    assert.deepEqual(parseLoraFlag("C:\\loras\\x.safetensors:0.5"), {
      path: "C:\\loras\\x.safetensors",
      scale: 0.5,
    });
  });

  it("refuses scales that are not numbers or out of range", () => {
    assert.throws(() => parseLoraFlag("x.safetensors:0.5x"), InvalidInputError);
    assert.throws(() => parseLoraFlag("x.safetensors:9"), /--lora scale must be from -4 to 4; got 9/);
  });
});

describe("easel generate --lora", () => {
  let out: string;
  let base: string;
  let lora: string;
  before(async () => {
    out = await mkdtemp(join(tmpdir(), "easel-lora-cli-"));
    base = (await fixtureModels()).base;
    lora = join(out, "style.safetensors");
    await writeFile(
      lora,
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
  });
  after(async () => {
    await rm(out, { recursive: true, force: true });
  });

  const generate = (name: string, ...extra: string[]) =>
    runCli([
      "generate",
      "--model",
      base,
      "--prompt",
      "a red fox",
      "--steps",
      "2",
      "--width",
      "512",
      "--height",
      "512",
      "--seed",
      "5",
      "--out",
      join(out, name),
      ...extra,
    ]);

  it("merges the LoRA, says what it matched, and changes the image; scale 0 gives the plain image", async () => {
    const [plain, styled, zero] = await Promise.all([
      generate("plain.png"),
      generate("styled.png", "--lora", `${lora}:0.9`),
      generate("zero.png", "--lora", `${lora}:0`),
    ]);
    for (const run of [plain, styled, zero]) assert.equal(run!.code, 0, run!.stderr);
    assert.match(
      styled!.stderr,
      /LoRA style\.safetensors \(kohya, scale 0\.9\): 2\/2 modules merged \(2 unet\)/,
    );
    const [a, b, c] = await Promise.all(
      ["plain", "styled", "zero"].map((n) => readFile(join(out, `${n}.png`))),
    );
    assert.ok(!a!.equals(b!), "the LoRA changes the image");
    assert.ok(a!.equals(c!), "scale 0 is the plain image");
  });

  it("a missing file or a LoRA for another model is a clear error, and no image is written", async () => {
    const missing = await generate("missing.png", "--lora", join(out, "nope.safetensors"));
    assert.notEqual(missing.code, 0);
    assert.match(missing.stderr, /nope\.safetensors: the file does not exist/);
    const sd15 = join(out, "sd15.safetensors");
    await writeFile(
      sd15,
      fixtureLora(
        [
          {
            component: "unet",
            module: "down_blocks.1.attentions.0.transformer_blocks.0.attn2.to_k",
            shape: [640, 768],
          },
        ],
        {
          style: "diffusers",
          rank: 2,
          seed: 1,
        },
      ),
    );
    const mismatched = await generate("mismatched.png", "--lora", sd15);
    assert.notEqual(mismatched.code, 0);
    assert.match(mismatched.stderr, /sd15\.safetensors: it matches no weight of this model/);
    assert.match(mismatched.stderr, /768 \(SD 1\.x\)/);
    await assert.rejects(readFile(join(out, "mismatched.png")));
  });
});
