/** `easel generate` and `easel schedule` with the settings of distilled models, as a user runs them. */
import assert from "node:assert/strict";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import sharp from "sharp";
import { runCli } from "../helpers/cli.js";
import { fixtureModels } from "../helpers/fixtures.js";

describe("easel generate with fast settings", () => {
  let out: string;
  let models: Awaited<ReturnType<typeof fixtureModels>>;
  before(async () => {
    out = await mkdtemp(join(tmpdir(), "easel-cli-fast-"));
    models = await fixtureModels();
  });
  after(async () => {
    await rm(out, { recursive: true, force: true });
  });

  const generate = (name: string, ...extra: string[]) =>
    runCli([
      "generate",
      "--model",
      models.base,
      "--prompt",
      "a red fox",
      "--width",
      "512",
      "--height",
      "512",
      "--seed",
      "3",
      "--out",
      join(out, name),
      ...extra,
    ]);

  it("--scheduler lcm --steps 4 --guidance 0 writes the image from 4 UNet runs at batch 1", async () => {
    const [lcm, again, turbo] = await Promise.all([
      generate("lcm.png", "--scheduler", "lcm", "--steps", "4", "--guidance", "0"),
      generate("lcm-again.png", "--scheduler", "lcm", "--steps", "4", "--guidance", "0"),
      generate(
        "turbo.png",
        "--scheduler",
        "euler-a",
        "--spacing",
        "trailing",
        "--steps",
        "1",
        "--guidance",
        "0",
      ),
    ]);
    for (const run of [lcm, again, turbo]) assert.equal(run!.code, 0, run!.stderr);
    assert.match(lcm!.stderr, /4 UNet runs at batch 1/);
    assert.match(turbo!.stderr, /1 UNet run at batch 1/);
    const [a, b] = await Promise.all(["lcm.png", "lcm-again.png"].map((n) => readFile(join(out, n))));
    assert.ok(a!.equals(b!));
    const meta = await sharp(a!).metadata();
    assert.equal(meta.width, 512);
    assert.equal(meta.height, 512);
  });

  it("with guidance the UNet batch doubles", async () => {
    const run = await generate("guided.png", "--scheduler", "lcm", "--steps", "2", "--guidance", "1.5");
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stderr, /2 UNet runs at batch 2/);
  });

  it("names a bad --spacing or --prediction and writes nothing", async () => {
    const spacing = await generate("bad-spacing.png", "--spacing", "evenly");
    assert.notEqual(spacing.code, 0);
    assert.match(spacing.stderr, /--spacing must be leading, trailing or linspace; got "evenly"/);
    const prediction = await generate("bad-prediction.png", "--prediction", "flow");
    assert.notEqual(prediction.code, 0);
    assert.match(prediction.stderr, /--prediction must be epsilon, v_prediction or sample/);
    const ancestral = await generate("bad-pair.png", "--scheduler", "euler-a", "--prediction", "sample");
    assert.notEqual(ancestral.code, 0);
    assert.match(ancestral.stderr, /Euler ancestral cannot sample/);
    await assert.rejects(readFile(join(out, "bad-spacing.png")));
  });
});

describe("easel schedule for distilled models", () => {
  const schedule = async (...args: string[]) => {
    const run = await runCli(["schedule", ...args]);
    assert.equal(run.code, 0, run.stderr);
    return JSON.parse(run.stdout) as {
      timesteps: number[];
      sigmas: number[] | null;
      init_noise_sigma: number;
      c_skip?: number[];
      c_out?: number[];
    };
  };

  it("prints SDXL-Turbo's trailing Euler-ancestral and LCM's schedules", async () => {
    const turbo = await schedule("--scheduler", "euler-a", "--steps", "4", "--spacing", "trailing");
    assert.deepEqual(turbo.timesteps, [999, 749, 499, 249]);
    assert.equal(turbo.init_noise_sigma, turbo.sigmas![0]);
    const euler = await schedule("--scheduler", "euler", "--steps", "2", "--spacing", "trailing");
    assert.deepEqual(euler.timesteps, [999, 499]);
    const lcm = await schedule("--scheduler", "lcm", "--steps", "4");
    assert.deepEqual(lcm.timesteps, [999, 759, 499, 259]);
    assert.equal(lcm.sigmas, null);
    assert.equal(lcm.init_noise_sigma, 1);
    assert.equal(lcm.c_out!.length, 4);
    assert.equal(lcm.c_skip!.length, 4);
  });
});
