import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { isHelpRequest, parseImagine } from "../../src/commands/imagine.js";
import type { GenerationRequest } from "../../src/requests/request.js";
import { alice, assertInvalid, config, countingSeeds, plainConfig } from "./support.js";

const nsfwAlice = { ...alice, nsfwChannel: true };

/** Parses in an NSFW channel so negative prompts are the user's alone. */
function parse(
  text: string,
  options?: Record<string, string | number | boolean>,
  cfg = config,
): GenerationRequest {
  return parseImagine({ text, options }, nsfwAlice, cfg, countingSeeds());
}

describe("parseImagine defaults", () => {
  it("fills every setting from config when only a prompt is given", () => {
    const request = parseImagine({ text: "a lighthouse at dusk" }, alice, config, countingSeeds(42n));
    assert.deepEqual(request, {
      model: "demo",
      prompt: "a lighthouse at dusk",
      negativePrompt: "nsfw, nudity",
      width: 1024,
      height: 1024,
      seed: "42",
      steps: 30,
      guidance: 5,
      scheduler: "euler",
      count: 1,
      refiner: { enabled: true, switchAt: 0.8 },
      requester: alice,
    });
  });

  it("leaves the refiner off and the negative prompt absent when neither is configured or asked", () => {
    const request = parseImagine({ text: "a cat" }, nsfwAlice, plainConfig, countingSeeds());
    assert.deepEqual(request.refiner, { enabled: false });
    assert.equal(request.negativePrompt, undefined);
  });

  it("takes limits and defaults from config", () => {
    const custom = {
      ...config,
      generation: { ...config.generation, defaultSteps: 12, maxSteps: 20, defaultCount: 2 },
    };
    const request = parse("a cat", undefined, custom);
    assert.equal(request.steps, 12);
    assert.equal(request.count, 2);
    assertInvalid(
      () => parse("a cat --steps 21", undefined, custom),
      "steps",
      "Steps must be between 1 and 20; you gave 21.",
    );
  });

  it("wraps a random seed source's output into 64 bits", () => {
    const request = parseImagine({ text: "a cat" }, alice, config, () => -1n);
    assert.equal(request.seed, "18446744073709551615");
  });

  it("draws a random seed that leaves room for seed + count - 1", () => {
    const top = parseImagine({ text: "a cat --n 4" }, alice, config, () => -1n);
    assert.equal(top.seed, "18446744073709551612");
    const fits = parseImagine({ text: "a cat --n 4" }, alice, config, () => -5n);
    assert.equal(fits.seed, "18446744073709551611");
  });
});

describe("parseImagine flags", () => {
  it("reads the issue's example", () => {
    const request = parse("a lighthouse at dusk --ar 16:9 --seed 7 --no fog --refiner");
    assert.equal(request.prompt, "a lighthouse at dusk");
    assert.deepEqual([request.width, request.height], [1344, 768]);
    assert.equal(request.seed, "7");
    assert.equal(request.negativePrompt, "fog");
    assert.deepEqual(request.refiner, { enabled: true, switchAt: 0.8 });
  });

  it("accepts every alias", () => {
    const aliases: Array<[string, (r: GenerationRequest) => unknown, unknown]> = [
      ["--ar 3:2", (r) => r.width, 1216],
      ["--aspect 3:2", (r) => r.width, 1216],
      ["--no fog", (r) => r.negativePrompt, "fog"],
      ["--neg fog", (r) => r.negativePrompt, "fog"],
      ["--negative fog", (r) => r.negativePrompt, "fog"],
      ["--cfg 7.5", (r) => r.guidance, 7.5],
      ["--guidance 7.5", (r) => r.guidance, 7.5],
      ["--sampler ddim", (r) => r.scheduler, "ddim"],
      ["--scheduler ddim", (r) => r.scheduler, "ddim"],
      ["--n 3", (r) => r.count, 3],
      ["--count 3", (r) => r.count, 3],
      ["--steps 12", (r) => r.steps, 12],
      ["--seed 9", (r) => r.seed, "9"],
      ["--size 1024x768", (r) => r.height, 768],
      ["--refiner", (r) => r.refiner.enabled, true],
      ["--no-refiner", (r) => r.refiner.enabled, false],
    ];
    for (const [flag, pick, expected] of aliases) assert.equal(pick(parse(`a cat ${flag}`)), expected, flag);
  });

  it("finds flags anywhere, in any case, with = or a space, and after autocorrected dashes", () => {
    const request = parse("--AR=9:16 a cat —steps 20 in a hat –SEED=5 --cfg=3");
    assert.equal(request.prompt, "a cat in a hat");
    assert.deepEqual(
      [request.width, request.height, request.steps, request.seed, request.guidance],
      [768, 1344, 20, "5", 3],
    );
  });

  it("reads quoted values with straight, single and typographic quotes", () => {
    assert.equal(parse('a cat --no "fog, rain" at sea').negativePrompt, "fog, rain");
    assert.equal(parse("a cat --no 'fog, rain' at sea").negativePrompt, "fog, rain");
    assert.equal(parse("a cat --no “fog, rain” at sea").negativePrompt, "fog, rain");
    assert.equal(parse("a cat --no ‘fog, rain’ at sea").negativePrompt, "fog, rain");
    assert.equal(parse('a cat --no="fog --ar 2:3" at sea').negativePrompt, "fog --ar 2:3");
    assert.equal(parse('a cat --no "fog" at sea').prompt, "a cat at sea");
    assert.equal(parse('a cat --sampler "DPM++ 2M Karras"').scheduler, "dpmpp-2m-karras");
  });

  it("runs an unquoted negative prompt to the next flag", () => {
    const request = parse("a cat --no fog, rain, blurry background --seed 3");
    assert.equal(request.negativePrompt, "fog, rain, blurry background");
    assert.equal(request.prompt, "a cat");
    assert.equal(request.seed, "3");
  });

  it("keeps quotes and single dashes inside the prompt as typed", () => {
    const request = parse(`a "neon" sign saying 'open' -- well-lit, x--y -n 3`);
    assert.equal(request.prompt, `a "neon" sign saying 'open' -- well-lit, x--y -n 3`);
  });

  it("collapses white space and control characters in the prompt", () => {
    assert.equal(parse("  a\tcat\n\n in   a hat\u0007 ").prompt, "a cat in a hat");
  });

  it("reads on/off after a switch as its value", () => {
    assert.equal(parse("a cat --refiner off").refiner.enabled, false);
    assert.equal(parse("a cat --refiner=no").refiner.enabled, false);
    assert.equal(parse("a cat --refiner yes").refiner.enabled, true);
    assert.equal(parse("a cat --no-refiner off").refiner.enabled, true);
    assert.equal(parse("a cat --refiner dog").prompt, "a cat dog");
  });

  it("accepts scheduler names in several spellings", () => {
    const spellings: Record<string, string> = {
      euler: "euler",
      Euler_A: "euler-a",
      "euler-ancestral": "euler-a",
      "dpm++2m-karras": "dpmpp-2m-karras",
      DPMPP_2M_KARRAS: "dpmpp-2m-karras",
      DDIM: "ddim",
    };
    for (const [typed, name] of Object.entries(spellings))
      assert.equal(parse(`a cat --sampler ${typed}`).scheduler, name);
  });

  it("canonicalises seeds and accepts the full 64-bit range", () => {
    assert.equal(parse("a cat --seed 0").seed, "0");
    assert.equal(parse("a cat --seed 007").seed, "7");
    assert.equal(parse("a cat --seed 18446744073709551615").seed, "18446744073709551615");
  });

  it("refuses a seed too large for the image count, since image i uses seed + i", () => {
    assert.equal(parse("a cat --seed 18446744073709551612 --n 4").seed, "18446744073709551612");
    assertInvalid(
      () => parse("a cat --seed 18446744073709551615 --n 4"),
      "seed",
      "Seed 18446744073709551615 is too large for 4 images: image i uses seed + i, so the seed may be at most 18446744073709551612.",
    );
    assertInvalid(
      () => parse("a cat", { seed: "18446744073709551614", count: 3 }),
      "seed",
      /too large for 3 images.*at most 18446744073709551613\.$/,
    );
    const twoByDefault = { ...config, generation: { ...config.generation, defaultCount: 2 } };
    assertInvalid(
      () => parse("a cat --seed 18446744073709551615", undefined, twoByDefault),
      "seed",
      /2 images/,
    );
  });

  it("maps a free W:H ratio to the nearest bucket", () => {
    const request = parse("a cat --ar 2.39:1");
    assert.deepEqual([request.width, request.height], [1536, 640]);
  });
});

describe("parseImagine structured options", () => {
  it("reads every option from the structured record", () => {
    const request = parse("a cat", {
      negative: "fog",
      aspect: "2:3",
      refiner: false,
      seed: "123",
      steps: 25,
      guidance: 6.5,
      scheduler: "euler-a",
      count: 2,
    });
    assert.deepEqual(
      [request.negativePrompt, request.width, request.height, request.refiner.enabled, request.seed],
      ["fog", 832, 1216, false, "123"],
    );
    assert.deepEqual(
      [request.steps, request.guidance, request.scheduler, request.count],
      [25, 6.5, "euler-a", 2],
    );
    assert.deepEqual(
      [parse("a cat", { size: "1536x640" }).width, parse("a cat", { seed: 5 }).seed],
      [1536, "5"],
    );
  });

  it("merges with text flags that set other options", () => {
    const request = parse("a cat --seed 7", { steps: 20 });
    assert.deepEqual([request.seed, request.steps], ["7", 20]);
  });

  it("accepts numbers given as strings (web forms)", () => {
    const request = parse("a cat", { steps: "20", guidance: "4.5", count: "2", refiner: "off" });
    assert.deepEqual(
      [request.steps, request.guidance, request.count, request.refiner.enabled],
      [20, 4.5, 2, false],
    );
  });

  it("skips options present but undefined", () => {
    const options = { steps: undefined } as unknown as Record<string, number>;
    assert.equal(parse("a cat", options).steps, 30);
  });
});

describe("parseImagine errors", () => {
  const cases: Array<[string, Record<string, string | number | boolean> | undefined, string, string]> = [
    ["", undefined, "prompt", "Please describe the image you want, e.g. `/imagine a lighthouse at dusk`."],
    [
      "   --seed 5 ",
      undefined,
      "prompt",
      "Please describe the image you want, e.g. `/imagine a lighthouse at dusk`.",
    ],
    [
      "--no fog a lighthouse",
      undefined,
      "prompt",
      'Your prompt is empty: everything after --no up to the next flag is the negative prompt. Put --no last, or quote it: --no "fog".',
    ],
    ["a cat --stpes 3", undefined, "--stpes", "Unknown flag --stpes. Did you mean --steps?"],
    ["a cat --gudiance 3", undefined, "--gudiance", "Unknown flag --gudiance. Did you mean --guidance?"],
    ["a cat --ar16:9", undefined, "--ar16:9", "Unknown flag --ar16:9. Did you mean --ar 16:9?"],
    ["a cat --v 6", undefined, "--v", "Unknown flag --v. Type `/imagine help` to see the flags."],
    [
      "a cat --stylize 100",
      undefined,
      "--stylize",
      "Unknown flag --stylize. Type `/imagine help` to see the flags.",
    ],
    ["a cat --steps", undefined, "--steps", "--steps needs a value, e.g. --steps 30."],
    ["a cat --seed --ar 1:1", undefined, "--seed", "--seed needs a value, e.g. --seed 7."],
    ["a cat --no", undefined, "--no", '--no needs a value, e.g. --no "fog, rain".'],
    ["a cat --ar= 1:1", undefined, "--ar", "--ar needs a value, e.g. --ar 16:9."],
    ['a cat --no "fog', undefined, "--no", "The quote after --no is never closed."],
    ["a cat --steps 0", undefined, "steps", "Steps must be between 1 and 150; you gave 0."],
    ["a cat --steps 151", undefined, "steps", "Steps must be between 1 and 150; you gave 151."],
    ["a cat --steps 2.5", undefined, "steps", "Steps must be a whole number; you gave 2.5."],
    ["a cat --steps many", undefined, "steps", 'Steps must be a whole number; you gave "many".'],
    ["a cat --n 5", undefined, "count", "Count must be between 1 and 4; you gave 5."],
    ["a cat --n 0", undefined, "count", "Count must be between 1 and 4; you gave 0."],
    ["a cat --cfg 31", undefined, "guidance", "Guidance must be between 1 and 30; you gave 31."],
    ["a cat --cfg 0.5", undefined, "guidance", "Guidance must be between 1 and 30; you gave 0.5."],
    ["a cat --cfg NaN", undefined, "guidance", 'Guidance must be a number; you gave "NaN".'],
    ["a cat --cfg Infinity", undefined, "guidance", 'Guidance must be a number; you gave "Infinity".'],
    ["a cat --cfg 1e1", undefined, "guidance", 'Guidance must be a number; you gave "1e1".'],
    ["a cat --cfg 0x10", undefined, "guidance", 'Guidance must be a number; you gave "0x10".'],
    [
      "a cat --seed -1",
      undefined,
      "seed",
      "Seed must be a whole number from 0 to 18446744073709551615; you gave -1.",
    ],
    [
      "a cat --seed 18446744073709551616",
      undefined,
      "seed",
      "Seed must be a whole number from 0 to 18446744073709551615; you gave 18446744073709551616.",
    ],
    [
      "a cat --seed lucky",
      undefined,
      "seed",
      'Seed must be a whole number from 0 to 18446744073709551615; you gave "lucky".',
    ],
    [
      "a cat --ar wide",
      undefined,
      "aspect",
      'Aspect ratio must look like 16:9 (width:height, both above 0); you gave "wide".',
    ],
    [
      "a cat --ar 16:0",
      undefined,
      "aspect",
      'Aspect ratio must look like 16:9 (width:height, both above 0); you gave "16:0".',
    ],
    [
      "a cat --size 1000x700",
      undefined,
      "size",
      'Size must be WIDTHxHEIGHT with each side a multiple of 8 from 512 to 2048, e.g. 1152x896; you gave "1000x700".',
    ],
    [
      "a cat --size 4096x4096",
      undefined,
      "size",
      'Size must be WIDTHxHEIGHT with each side a multiple of 8 from 512 to 2048, e.g. 1152x896; you gave "4096x4096".',
    ],
    [
      "a cat --sampler plms",
      undefined,
      "scheduler",
      'Scheduler must be one of euler, euler-a, dpmpp-2m-karras, ddim, lcm; you gave "plms".',
    ],
    ["a cat --refiner=maybe", undefined, "refiner", 'Refiner must be on or off; you gave "maybe".'],
    ["a cat --seed 1 --seed 2", undefined, "seed", "You gave --seed twice; keep one."],
    [
      "a cat --ar 1:1 --aspect 4:3",
      undefined,
      "aspect",
      "You set aspect ratio twice (--ar and --aspect); keep one.",
    ],
    [
      "a cat --refiner --no-refiner",
      undefined,
      "refiner",
      "You set refiner twice (--refiner and --no-refiner); keep one.",
    ],
    [
      "a cat --steps 20",
      { steps: 20 },
      "steps",
      "You set steps twice (--steps and the steps option); keep one.",
    ],
    ["a cat --n 2", { count: 3 }, "count", "You set count twice (--n and the count option); keep one."],
    [
      "a cat --ar 16:9 --size 1024x768",
      undefined,
      "size",
      "Use either an aspect ratio or an exact size, not both.",
    ],
    [
      "a cat",
      { aspect: "16:9", size: "1024x768" },
      "size",
      "Use either an aspect ratio or an exact size, not both.",
    ],
    ["a cat", { style: "raw" }, "style", 'Unknown option "style".'],
    ["a cat", { prompt: "a dog" }, "prompt", 'Unknown option "prompt".'],
    ["a cat", { steps: Number.NaN }, "steps", "Steps must be a whole number; you gave NaN."],
    [
      "a cat",
      { guidance: Number.POSITIVE_INFINITY },
      "guidance",
      "Guidance must be a number; you gave Infinity.",
    ],
    ["a cat", { steps: true }, "steps", "Steps must be a whole number; you gave true."],
    [
      "a cat",
      { seed: -3 },
      "seed",
      "Seed must be a whole number from 0 to 18446744073709551615; you gave -3.",
    ],
    // A JSON number past 2^53 has already lost digits, so it is refused rather than rounded.
    [
      "a cat",
      { seed: 2 ** 60 },
      "seed",
      `Seed must be a whole number from 0 to 18446744073709551615; you gave ${2 ** 60}.`,
    ],
  ];

  for (const [text, options, field, message] of cases) {
    it(`${JSON.stringify(text)}${options ? ` with ${JSON.stringify(options)}` : ""} → ${field}`, () => {
      assertInvalid(() => parse(text, options), field, message);
    });
  }

  it("refuses the refiner when none is installed, but accepts turning it off", () => {
    assertInvalid(
      () => parse("a cat --refiner", undefined, plainConfig),
      "refiner",
      "This bot has no refiner model set up, so the refiner can't be turned on.",
    );
    assert.equal(parse("a cat --no-refiner", undefined, plainConfig).refiner.enabled, false);
  });

  it("refuses prompts and negative prompts over 1000 characters", () => {
    const long = "a".repeat(1001);
    assertInvalid(() => parse(long), "prompt", "Prompt is 1001 characters long; the limit is 1000.");
    assertInvalid(
      () => parse(`a cat --no "${long}"`),
      "negative",
      "Negative prompt is 1001 characters long; the limit is 1000.",
    );
    assert.equal(parse("a".repeat(1000)).prompt.length, 1000);
  });

  it("echoes long or odd values shortened and on one line", () => {
    assertInvalid(
      () => parse(`a cat --ar "${"x".repeat(50)}\nmore"`),
      "aspect",
      `Aspect ratio must look like 16:9 (width:height, both above 0); you gave "${"x".repeat(31)}…".`,
    );
    assertInvalid(() => parse("a cat --sampler `x`"), "scheduler", /you gave "'x'"\.$/);
  });
});

describe("isHelpRequest", () => {
  it("recognises help on its own only", () => {
    for (const text of ["help", " HELP ", "--help", "-h", "?"])
      assert.equal(isHelpRequest({ text }), true, text);
    for (const text of ["help me draw a cat", "a cat", ""])
      assert.equal(isHelpRequest({ text }), false, text);
  });
});
