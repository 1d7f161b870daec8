/**
 * The canvas loop against diffusers' SDXL inpainting pipeline (test/fixtures/canvas, written by a
 * numpy port that shares no code with easel): the start, the per-step blend of a 4-channel UNet,
 * the 9-channel UNet's input, and the masks' feathering and latent downsampling.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, it } from "node:test";
import { blendLatents, inpaintStart } from "../../src/pipeline/canvas/blend.js";
import { InpaintingUnet } from "../../src/pipeline/canvas/inpainting-unet.js";
import { featherMask, latentMask } from "../../src/pipeline/canvas/mask.js";
import { denoise, type NoisePredictor, ProgressReporter } from "../../src/pipeline/denoise.js";
import { TorchGenerator } from "../../src/pipeline/noise/index.js";
import { createScheduler, parseSchedulerConfig } from "../../src/pipeline/schedulers/index.js";
import { readReference, type StandIn, standInEps } from "../helpers/reference.js";

interface Case {
  id: string;
  unet_channels: 4 | 9;
  steps: number;
  strength: number;
  guidance_scale: number;
  classifier_free_guidance: boolean;
  mask: string;
  t_start: number;
  initial_latents: number[];
  latents_after_step: number[][];
}

interface MaskData {
  feather: number;
  hard: number[];
  soft: number[];
  latent: number[];
}

const fixture = JSON.parse(
  readFileSync(new URL("../fixtures/canvas/inpaint_trajectories.json", import.meta.url), "utf8"),
) as {
  image_size: [number, number];
  masks: Record<string, MaskData>;
  inputs: {
    image_latents: number[];
    noise: number[];
    masked_image_latents: number[];
    stand_in_9: { A: number; B: number };
  };
  cases: Case[];
};

const reference = readReference<{
  configs: Record<string, unknown>;
  stand_in_models: Record<string, StandIn>;
}>("trajectories.json");
const model = reference.stand_in_models.standin_base!;
const [HEIGHT, WIDTH] = fixture.image_size;
const PLANE = 64;
const fl = Math.fround;

function countDiffering(actual: Float32Array, expected: readonly number[]): number {
  assert.equal(actual.length, expected.length);
  let differing = 0;
  for (let i = 0; i < expected.length; i++) if (actual[i] !== expected[i]) differing++;
  return differing;
}

/** The reference's 4-channel stand-in on rows of 4 × 64 values: [uncond; cond] with guidance. */
function standIn4(guidance: number | undefined): NoisePredictor {
  const n = 4 * PLANE;
  const input = new Float32Array(guidance === undefined ? n : 2 * n);
  const output = new Float32Array(input.length);
  return {
    input,
    guidance,
    async run(t) {
      if (guidance === undefined) output.set(standInEps(model, input.subarray(0, n), t, model.cond));
      else {
        output.set(standInEps(model, input.subarray(0, n), t, model.uncond));
        output.set(standInEps(model, input.subarray(n), t, model.cond), n);
      }
      return output;
    },
  };
}

/** The 9-channel stand-in: eps = stand-in(latents) + A·mask + B·masked latents, on rows of 9 × 64. */
function standIn9(guidance: number | undefined): NoisePredictor {
  const { A, B } = fixture.inputs.stand_in_9;
  const rows = guidance === undefined ? 1 : 2;
  const input = new Float32Array(rows * 9 * PLANE);
  const output = new Float32Array(rows * 4 * PLANE);
  return {
    input,
    guidance,
    async run(t) {
      for (let row = 0; row < rows; row++) {
        const at = row * 9 * PLANE;
        const c = guidance !== undefined && row === 0 ? model.uncond : model.cond;
        const eps = standInEps(model, input.subarray(at, at + 4 * PLANE), t, c);
        for (let i = 0; i < 4 * PLANE; i++) {
          const mask = input[at + 4 * PLANE + (i % PLANE)]!;
          const masked = input[at + 5 * PLANE + i]!;
          eps[i] = fl(fl(eps[i]! + fl(A * mask)) + fl(B * masked));
        }
        output.set(eps, row * 4 * PLANE);
      }
      return output;
    },
  };
}

describe("canvas masks against the reference", () => {
  for (const [name, mask] of Object.entries(fixture.masks)) {
    it(`${name}: feathering (exact distance transform) and diffusers' latent downsampling`, () => {
      const hard = Float32Array.from(mask.hard);
      const soft = featherMask(hard, WIDTH, HEIGHT, mask.feather);
      let worst = 0;
      for (let i = 0; i < soft.length; i++) worst = Math.max(worst, Math.abs(soft[i]! - mask.soft[i]!));
      assert.ok(worst <= 1e-7, `${name}: soft mask differs by up to ${worst}`);
      assert.equal(countDiffering(latentMask(soft, WIDTH, HEIGHT), mask.latent), 0);
    });
  }
});

describe("canvas loop against diffusers' inpainting pipeline", () => {
  for (const testCase of fixture.cases) {
    it(`${testCase.id}: start and every step`, async () => {
      const config = parseSchedulerConfig(reference.configs.sdxl_base);
      const scheduler = createScheduler("euler", config, testCase.steps);
      const imageLatents = Float32Array.from(fixture.inputs.image_latents);
      const noise = Float32Array.from(fixture.inputs.noise);
      const mask = Float32Array.from(fixture.masks[testCase.mask]!.latent);
      const start = inpaintStart(scheduler, testCase.steps, testCase.strength, imageLatents, noise);
      assert.equal(start.from, testCase.t_start);
      assert.equal(countDiffering(start.latents, testCase.initial_latents), 0, "initial latents");

      const guidance = testCase.classifier_free_guidance ? testCase.guidance_scale : undefined;
      const latents = start.latents;
      const seen: Float32Array[] = [];
      const progress = new ProgressReporter(testCase.steps - start.from, {
        onProgress: () => seen.push(latents.slice()),
      });
      const unet =
        testCase.unet_channels === 9
          ? new InpaintingUnet(
              standIn9(guidance),
              1,
              mask,
              Float32Array.from(fixture.inputs.masked_image_latents),
            )
          : standIn4(guidance);
      await denoise({
        unet,
        scheduler,
        latents,
        geometry: { count: 1, channels: 4, height: 8, width: 8 },
        generators: [new TorchGenerator(0n)],
        from: start.from,
        to: testCase.steps,
        stage: "base",
        progress,
        signal: undefined,
        ...(testCase.unet_channels === 4 ? { blend: { mask, imageLatents, noise } } : {}),
      });
      assert.equal(seen.length, testCase.latents_after_step.length);
      for (const [i, step] of seen.entries()) {
        assert.equal(countDiffering(step, testCase.latents_after_step[i]!), 0, `${testCase.id} step ${i}`);
      }
    });
  }

  it("the reference's blend is not a no-op: without it the 4-channel run ends elsewhere", async () => {
    const testCase = fixture.cases.find((c) => c.unet_channels === 4 && c.strength < 1)!;
    const scheduler = createScheduler(
      "euler",
      parseSchedulerConfig(reference.configs.sdxl_base),
      testCase.steps,
    );
    const start = inpaintStart(
      scheduler,
      testCase.steps,
      testCase.strength,
      Float32Array.from(fixture.inputs.image_latents),
      Float32Array.from(fixture.inputs.noise),
    );
    await denoise({
      unet: standIn4(testCase.guidance_scale),
      scheduler,
      latents: start.latents,
      geometry: { count: 1, channels: 4, height: 8, width: 8 },
      generators: [new TorchGenerator(0n)],
      from: start.from,
      to: testCase.steps,
      stage: "base",
      progress: new ProgressReporter(testCase.steps, {}),
      signal: undefined,
    });
    // The stand-in is elementwise, so exactly the kept latents (mask 0) end elsewhere.
    const expected = testCase.latents_after_step.at(-1)!;
    const mask = fixture.masks[testCase.mask]!.latent;
    const differing = expected.flatMap((value, i) => (start.latents[i] === value ? [] : [i]));
    assert.ok(differing.length > 0);
    assert.deepEqual(
      differing.filter((i) => mask[i % PLANE] !== 0),
      [],
    );
  });
});

describe("blendLatents", () => {
  it("keeps init where the mask is 0, the latents where it is 1, and mixes a soft value in float32", () => {
    const latents = Float32Array.from([1, 2, 3, 4, 5, 6, 7, 8]);
    const init = Float32Array.from([10, 20, 30, 40, 50, 60, 70, 80]);
    blendLatents(latents, init, Float32Array.from([0, 1, 0.25, 1]));
    assert.deepEqual(
      [...latents],
      [10, 2, fl(fl(0.75 * 30) + fl(0.25 * 3)), 4, 50, 6, fl(0.75 * 70 + 0.25 * 7), 8],
    );
    assert.throws(
      () => blendLatents(new Float32Array(6), new Float32Array(6), new Float32Array(4)),
      RangeError,
    );
  });
});
