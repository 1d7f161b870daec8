/** `easel generate`, `refine`, `tokenize`, `noise` and `schedule` as a user runs them. */
import assert from "node:assert/strict";
import { mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import sharp from "sharp";
import { TorchGenerator } from "../../src/pipeline/noise/index.js";
import { runCli } from "../helpers/cli.js";
import { fixtureModels } from "../helpers/fixtures.js";

describe("easel generate", () => {
  let out: string;
  let models: Awaited<ReturnType<typeof fixtureModels>>;
  before(async () => {
    out = await mkdtemp(join(tmpdir(), "easel-cli-"));
    models = await fixtureModels();
  });
  after(async () => {
    await rm(out, { recursive: true, force: true });
  });

  const generate = (name: string, ...extra: string[]) => {
    // 512x512 unless the test sizes by aspect; a later --width in `extra` overrides this one.
    const size = extra.includes("--aspect") ? [] : ["--width", "512", "--height", "512"];
    return runCli([
      "generate",
      "--model",
      models.base,
      "--prompt",
      "a red fox",
      "--steps",
      "3",
      ...size,
      "--out",
      join(out, name),
      ...extra,
    ]);
  };

  it("writes a PNG of the asked size; the same seed gives the same bytes, another seed others", async () => {
    const [a, ...others] = await Promise.all([
      generate("a.png", "--seed", "5"),
      generate("b.png", "--seed", "5"),
      generate("c.png", "--seed", "6"),
      generate("d.png", "--seed", "5", "--negative", "snow"),
    ]);
    assert.equal(a!.code, 0, a!.stderr);
    for (const run of others) assert.equal(run.code, 0, run.stderr);
    const [pa, pb, pc, pd] = await Promise.all(
      ["a", "b", "c", "d"].map((n) => readFile(join(out, `${n}.png`))),
    );
    const meta = await sharp(pa!).metadata();
    assert.equal(meta.format, "png");
    assert.equal(meta.width, 512);
    assert.equal(meta.height, 512);
    assert.ok(pa!.equals(pb!));
    assert.ok(!pa!.equals(pc!));
    assert.ok(!pa!.equals(pd!), "a negative prompt changes the image");
    assert.match(a!.stdout, /seed 5\s+512x512/);
  });

  it("writes numbered files and the final latents for --count", async () => {
    const run = await generate(
      "many.png",
      "--seed",
      "9",
      "--count",
      "2",
      "--latents",
      join(out, "latents.npy"),
      "--aspect",
      "16:9",
    );
    assert.equal(run.code, 0, run.stderr);
    for (const name of ["many-1.png", "many-2.png"]) {
      const meta = await sharp(await readFile(join(out, name))).metadata();
      assert.deepEqual([meta.width, meta.height], [1344, 768]);
    }
    const npy = await readFile(join(out, "latents.npy"));
    const headerLength = npy.readUInt16LE(8);
    assert.match(npy.subarray(10, 10 + headerLength).toString("latin1"), /'shape': \(2, 4, 96, 168\)/);
    assert.equal(npy.length - 10 - headerLength, 2 * 4 * 96 * 168 * 4);
  });

  it("writes live previews every k steps with --previews", async () => {
    const folder = join(out, "previews");
    const run = await generate(
      "previewed.png",
      "--seed",
      "3",
      "--steps",
      "6",
      "--previews",
      folder,
      "--preview-every",
      "2",
    );
    assert.equal(run.code, 0, run.stderr);
    assert.deepEqual((await readdir(folder)).sort(), ["step-002.jpg", "step-004.jpg", "step-006.jpg"]);
    const meta = await sharp(await readFile(join(folder, "step-002.jpg"))).metadata();
    assert.equal(meta.format, "jpeg");
    assert.equal(Math.max(meta.width!, meta.height!), 128);
  });

  it("prints the random seed it chose", async () => {
    const run = await generate("random.png");
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stderr, /^seed \d+$/m);
  });

  it("runs every fixture variant", async () => {
    for (const variant of ["base-int32", "base-fp16"] as const) {
      const run = await runCli([
        "generate",
        "--model",
        models[variant],
        "--prompt",
        "x",
        "--steps",
        "2",
        "--width",
        "512",
        "--height",
        "512",
        "--seed",
        "1",
        "--out",
        join(out, `${variant}.png`),
      ]);
      assert.equal(run.code, 0, `${variant}: ${run.stderr}`);
    }
    const refined = await generate("refined.png", "--seed", "1", "--refiner", models.refiner, "--steps", "5");
    assert.equal(refined.code, 0, refined.stderr);
    const again = await runCli([
      "refine",
      "--model",
      models.base,
      "--refiner",
      models.refiner,
      "--image",
      join(out, "refined.png"),
      "--prompt",
      "sharper",
      "--steps",
      "4",
      "--upscale",
      "1.5",
      "--seed",
      "1",
      "--out",
      join(out, "up.png"),
    ]);
    assert.equal(again.code, 0, again.stderr);
    const meta = await sharp(await readFile(join(out, "up.png"))).metadata();
    assert.deepEqual([meta.width, meta.height], [768, 768]);
  });

  it("explains bad input in one line with a non-zero exit and no stack trace", async () => {
    const cases: [string[], RegExp][] = [
      [["--width", "1020"], /multiple of 8/],
      [["--width", "4096"], /between 512 and 2048/],
      [["--steps", "0"], /Steps must be between 1 and 150/],
      [["--steps", "151"], /Steps must be between 1 and 150/],
      [["--guidance", "-1"], /Guidance must be between 0 and 30/],
      [["--guidance", "31"], /Guidance/],
      [["--guidance", "NaN"], /must be a number/],
      [["--count", "5"], /count must be between 1 and 4/],
      [["--scheduler", "plms"], /Unknown scheduler "plms"/],
      [["--seed", "-4"], /--seed must be a whole number/],
      [["--aspect", "wide"], /--aspect must look like 16:9/],
    ];
    // Each is refused before any model loads, so the processes are short: run them side by side.
    const runs = await Promise.all(cases.map(([extra]) => generate("bad.png", ...extra)));
    for (const [i, [extra, message]] of cases.entries()) {
      const run = runs[i]!;
      assert.notEqual(run.code, 0, extra.join(" "));
      assert.match(run.stderr, message, extra.join(" "));
      assert.doesNotMatch(run.stderr, /\n\s+at /, "no stack trace");
    }
    const empty = await runCli([
      "generate",
      "--model",
      models.base,
      "--prompt",
      "  ",
      "--out",
      join(out, "e.png"),
    ]);
    assert.notEqual(empty.code, 0);
    assert.match(empty.stderr, /prompt is empty/);
    const notSdxl = await runCli(["generate", "--model", out, "--prompt", "x", "--out", join(out, "e.png")]);
    assert.notEqual(notSdxl.code, 0);
    assert.match(notSdxl.stderr, /model_index\.json: is missing/);
  });
});

describe("easel generate defaults", () => {
  let out: string;
  let models: Awaited<ReturnType<typeof fixtureModels>>;
  before(async () => {
    out = await mkdtemp(join(tmpdir(), "easel-cli-defaults-"));
    models = await fixtureModels();
  });
  after(async () => {
    await rm(out, { recursive: true, force: true });
  });

  const base = (name: string) => [
    "generate",
    "--model",
    models.base,
    "--refiner",
    models.refiner,
    "--prompt",
    "a red fox",
    "--seed",
    "4",
    "--width",
    "512",
    "--height",
    "512",
    "--out",
    join(out, name),
  ];

  it("takes steps, guidance, scheduler and refiner switch left out from EASEL_* settings", async () => {
    // None of these values is a built-in default, so ignoring any setting changes the image.
    const settings = {
      EASEL_DEFAULT_STEPS: "2",
      EASEL_DEFAULT_GUIDANCE: "7",
      EASEL_DEFAULT_SCHEDULER: "ddim",
      EASEL_REFINER_SWITCH: "0.5",
    };
    const flags = ["--steps", "2", "--guidance", "7", "--scheduler", "ddim", "--refiner-switch", "0.5"];
    const previews = join(out, "p");
    const [fromConfig, fromFlags] = await Promise.all([
      runCli([...base("config.png"), "--previews", previews, "--preview-every", "1"], { env: settings }),
      runCli([...base("flags.png"), ...flags]),
    ]);
    assert.equal(fromConfig.code, 0, fromConfig.stderr);
    assert.equal(fromFlags.code, 0, fromFlags.stderr);
    const [a, b] = await Promise.all(["config.png", "flags.png"].map((n) => readFile(join(out, n))));
    assert.ok(a!.equals(b!), "settings from config give the image the same flags give");
    assert.equal((await readdir(previews)).length, 2, "one preview per step, 2 steps");
  });

  it("runs on the first of EASEL_DEVICES unless --device is given", async () => {
    const run = await runCli(base("device.png"), { env: { EASEL_DEVICES: "cuda:7,cpu" } });
    assert.notEqual(run.code, 0, "cuda:7 cannot be used here");
    assert.match(run.stderr, /cuda/i);
  });

  it("names the settings behind its defaults in --help, with the built-in values", async () => {
    const help = await runCli(["generate", "--help"]);
    const text = help.stdout.replace(/\s+/g, " "); // commander wraps at 80 columns
    assert.match(text, /default: EASEL_DEFAULT_STEPS, 30\)/);
    assert.match(text, /default: EASEL_DEFAULT_GUIDANCE, 5\)/);
    assert.match(text, /default: EASEL_DEFAULT_SCHEDULER, euler\)/);
    assert.match(text, /default: EASEL_REFINER_SWITCH, 0\.8\)/);
    assert.match(text, /default: the first of EASEL_DEVICES, cpu\)/);
    assert.match(text, /a multiple of 8 in 512-2048/);
  });

  it("refuses bad settings and upscale factors with the pipeline's limits", async () => {
    const config = await runCli(base("bad.png"), { env: { EASEL_MAX_COUNT: "8" } });
    assert.notEqual(config.code, 0);
    assert.match(config.stderr, /EASEL_MAX_COUNT: must be a whole number from 1 to 4; got "8"/);
    const upscale = await runCli([
      "refine",
      "--image",
      join(out, "missing.png"),
      "--prompt",
      "x",
      "--upscale",
      "3",
    ]);
    assert.notEqual(upscale.code, 0);
    assert.match(upscale.stderr, /--upscale must be 1, 1\.5 or 2; got 3\./);
  });
});

describe("inspection commands", () => {
  let out: string;
  before(async () => {
    out = await mkdtemp(join(tmpdir(), "easel-inspect-"));
  });
  after(async () => {
    await rm(out, { recursive: true, force: true });
  });

  it("tokenize prints both encoders' 77 ids, and one JSON line per prompt with --stdin", async () => {
    const models = await fixtureModels();
    const run = await runCli(["tokenize", "--model", models.base, "a photo of a cat"]);
    assert.equal(run.code, 0, run.stderr);
    const report = JSON.parse(run.stdout) as Record<
      string,
      { input_ids: number[]; truncated_tokens: number }
    >;
    assert.deepEqual(report.tokenizer!.input_ids.slice(0, 7), [49406, 320, 1125, 539, 320, 2368, 49407]);
    assert.equal(report.tokenizer!.input_ids[7], 49407, "tokenizer pads with EOS");
    assert.equal(report.tokenizer_2!.input_ids[7], 0, "tokenizer_2 pads with !");
    assert.equal(report.tokenizer!.truncated_tokens, 0);
    const lines = await runCli(["tokenize", "--model", models.base, "--stdin"], {
      input: "one\ntwo words\n",
    });
    const parsed = lines.stdout
      .trim()
      .split("\n")
      .map((line) => JSON.parse(line) as { prompt: string });
    assert.deepEqual(
      parsed.map((p) => p.prompt),
      ["one", "two words"],
    );
  });

  it("tokenize reads a typed ! as diffusers does with EASEL_OPENCLIP_EXCLAMATION=false", async () => {
    const models = await fixtureModels();
    const idsOf = async (env: Record<string, string>) => {
      const run = await runCli(["tokenize", "--model", models.base, "hi!"], { env });
      assert.equal(run.code, 0, run.stderr);
      return (JSON.parse(run.stdout) as Record<string, { input_ids: number[] }>).tokenizer_2!.input_ids;
    };
    const [openClip, diffusers] = await Promise.all([
      idsOf({ EASEL_OPENCLIP_EXCLAMATION: "true" }),
      idsOf({ EASEL_OPENCLIP_EXCLAMATION: "false" }),
    ]);
    assert.notEqual(openClip[2], 0, "open_clip: ! is an ordinary token");
    assert.equal(diffusers[2], 0, "diffusers: a typed ! becomes id 0");
    assert.equal(openClip[1], diffusers[1]);
  });

  it("noise writes the seed's PyTorch noise, continuing the stream with --then", async () => {
    const file = join(out, "noise.npy");
    const run = await runCli(["noise", "--seed", "42", "--shape", "1,4,8,8", "--then", "1", "--out", file]);
    assert.equal(run.code, 0, run.stderr);
    const npy = await readFile(file);
    const headerLength = npy.readUInt16LE(8);
    assert.match(npy.subarray(10, 10 + headerLength).toString("latin1"), /'shape': \(2, 4, 8, 8\)/);
    const body = npy.subarray(10 + headerLength);
    const values = new Float32Array(body.buffer.slice(body.byteOffset, body.byteOffset + body.byteLength));
    const generator = new TorchGenerator(42n);
    const expected = new Float32Array(512);
    generator.randn([1, 4, 8, 8], expected.subarray(0, 256));
    generator.randn([1, 4, 8, 8], expected.subarray(256));
    assert.deepEqual(values, expected);
  });

  it("schedule prints diffusers' SDXL Euler timesteps", async () => {
    const run = await runCli(["schedule", "--scheduler", "euler", "--steps", "4"]);
    assert.equal(run.code, 0, run.stderr);
    const report = JSON.parse(run.stdout) as {
      timesteps: number[];
      sigmas: number[];
      init_noise_sigma: number;
    };
    assert.deepEqual(report.timesteps, [751, 501, 251, 1]);
    assert.equal(report.sigmas.length, 5);
    assert.equal(report.sigmas[4], 0);
    const trailing = await runCli([
      "schedule",
      "--scheduler",
      "ddim",
      "--steps",
      "4",
      "--spacing",
      "trailing",
    ]);
    assert.deepEqual(
      (JSON.parse(trailing.stdout) as { timesteps: number[] }).timesteps,
      [999, 749, 499, 249],
    );
    const bad = await runCli(["schedule", "--scheduler", "lms", "--steps", "4"]);
    assert.notEqual(bad.code, 0);
    assert.match(bad.stderr, /Unknown scheduler/);
  });
});
