/**
 * The real classifier (nsfwjs on TensorFlow.js' wasm backend, in its own thread) on pictures made
 * by test/moderation/images.ts: scores pinned within a tolerance, different pictures scored
 * differently, a model folder scoring as the built-in it was exported from, and models and images
 * that cannot be used failing with the reason.
 */
import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import sharp from "sharp";
import {
  ClassificationError,
  ClassifierLoadError,
  ImageClassifier,
} from "../../src/moderation/classifier.js";
import { type ClassScores, NSFW_CLASSES, unsafeScore } from "../../src/moderation/decision.js";
import { type Picture, picturePng } from "./images.js";

/** Within this of the pinned value per class: room for another CPU's float rounding, not for another model. */
const TOLERANCE = 0.01;

/** MobileNetV2Mid (the default) on the 1024² pictures, measured with nsfwjs 4.3.0, tfjs 4.22.0, sharp 0.35. */
const PINNED: Record<Picture, ClassScores> = {
  gradient: { Drawing: 0.0953, Hentai: 0.0371, Neutral: 0.8667, Porn: 0.0004, Sexy: 0.0005 },
  noise: { Drawing: 0.0253, Hentai: 0.0106, Neutral: 0.9635, Porn: 0.0002, Sexy: 0.0004 },
  shapes: { Drawing: 0.0003, Hentai: 0, Neutral: 0.9996, Porn: 0, Sexy: 0 },
};

function assertNear(actual: ClassScores, expected: ClassScores, tolerance: number, what: string): void {
  for (const name of NSFW_CLASSES) {
    assert.ok(
      Math.abs(actual[name] - expected[name]) <= tolerance,
      `${what}: ${name} is ${actual[name]}, expected ${expected[name]} ± ${tolerance}`,
    );
  }
}

async function tempFolder(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "easel-moderation-"));
  after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/**
 * nsfwjs' MobileNetV2 written out as a TensorFlow.js model folder (model.json + its weight file),
 * from the bundles nsfwjs ships: what an operator's own model folder looks like.
 */
async function exportedMobileNetV2(): Promise<string> {
  const { MobileNetV2Model } = await import("nsfwjs/models/mobilenet_v2");
  const json = (await MobileNetV2Model.modelJson()).default as {
    weightsManifest: Array<{ paths: string[] }>;
  };
  const dir = await tempFolder();
  await writeFile(join(dir, "model.json"), JSON.stringify(json));
  const [bundle] = MobileNetV2Model.weightBundles;
  const weights = Buffer.from((await bundle!()).default, "base64");
  await writeFile(join(dir, json.weightsManifest[0]!.paths[0]!), weights);
  return dir;
}

describe("the moderation classifier", () => {
  const classifier = new ImageClassifier({ model: "MobileNetV2Mid" });
  before(() => classifier.start());
  after(() => classifier.stop());

  it("scores the generated pictures as pinned, each summing to 1", async () => {
    for (const picture of ["gradient", "noise", "shapes"] as const) {
      const scores = await classifier.classify(await picturePng(picture));
      assertNear(scores, PINNED[picture], TOLERANCE, picture);
      const sum = NSFW_CLASSES.reduce((total, name) => total + scores[name], 0);
      assert.ok(Math.abs(sum - 1) < 1e-4, `${picture}'s classes sum to ${sum}`);
    }
  });

  it("gives two different pictures different scores, and one picture the same scores twice", async () => {
    const gradient = await classifier.classify(await picturePng("gradient"));
    const noise = await classifier.classify(await picturePng("noise"));
    const again = await classifier.classify(await picturePng("gradient"));
    assert.notDeepEqual(gradient, noise);
    assert.ok(Math.abs(unsafeScore(gradient) - unsafeScore(noise)) > 0.01);
    assert.deepEqual(again, gradient);
  });

  it("reads the other image types easel keeps, and other sizes (squashed to the model's side)", async () => {
    const png = await picturePng("gradient");
    for (const [type, image] of [
      ["webp", await sharp(png).webp({ lossless: true }).toBuffer()],
      ["jpeg", await sharp(png).jpeg({ quality: 95 }).toBuffer()],
      ["512² png", await picturePng("gradient", 512)],
    ] as const) {
      assertNear(await classifier.classify(new Uint8Array(image)), PINNED.gradient, 0.05, `${type} gradient`);
    }
  });

  it("fails an image it cannot decode with a ClassificationError, and goes on with the next", async () => {
    await assert.rejects(classifier.classify(new Uint8Array([0x89, 0x50, 0x4e, 0x47, 1, 2, 3])), (error) => {
      assert.ok(error instanceof ClassificationError, String(error));
      assert.equal(error.code, "moderation");
      assert.match(error.userMessage, /not posted/);
      return true;
    });
    assertNear(await classifier.classify(await picturePng("shapes")), PINNED.shapes, TOLERANCE, "after");
  });
});

describe("a classifier from a model folder", () => {
  it("scores like the built-in model it was exported from", async (t) => {
    const folder = new ImageClassifier({ model: await exportedMobileNetV2() });
    const builtIn = new ImageClassifier({ model: "MobileNetV2" });
    t.after(() => Promise.all([folder.stop(), builtIn.stop()]));
    const [info] = await Promise.all([folder.start(), builtIn.start()]);
    assert.equal(info.size, 224, "the side read from model.json");
    assert.equal(info.backend, "wasm");
    const image = await picturePng("noise");
    assertNear(await folder.classify(image), await builtIn.classify(image), 1e-5, "folder against built-in");
  });

  const loadFailure = async (model: string, reason: RegExp) => {
    const classifier = new ImageClassifier({ model });
    after(() => classifier.stop());
    await assert.rejects(classifier.start(), (error) => {
      assert.ok(error instanceof ClassifierLoadError, String(error));
      assert.equal(error.code, "config");
      assert.match(
        error.message,
        /^The moderation classifier \(EASEL_MODERATION_MODEL=.*\) cannot be loaded: /,
      );
      assert.match(error.message, reason);
      assert.ok(!error.userMessage.includes(model), "the chat user's message names no path");
      return true;
    });
    // Nothing is ever classified by a classifier that did not load.
    await assert.rejects(classifier.classify(await picturePng("gradient", 64)), ClassificationError);
  };

  it("fails to load a folder that does not exist, saying so", async () => {
    const missing = join(await tempFolder(), "no-such-model");
    await loadFailure(missing, /no-such-model\/model\.json does not exist/);
  });

  it("fails to load a model.json that is not JSON", async () => {
    const dir = await tempFolder();
    await writeFile(join(dir, "model.json"), "{ this is not json");
    await loadFailure(dir, /model\.json cannot be read as JSON/);
  });

  it("fails to load a model whose weight file is cut short", async () => {
    const dir = await exportedMobileNetV2();
    const { readFile } = await import("node:fs/promises");
    const json = JSON.parse(await readFile(join(dir, "model.json"), "utf8")) as {
      weightsManifest: Array<{ paths: string[] }>;
    };
    const shard = join(dir, json.weightsManifest[0]!.paths[0]!);
    await writeFile(shard, (await readFile(shard)).subarray(0, 1000));
    await loadFailure(dir, /hold 1000 bytes; model\.json's manifest needs \d+: a file is cut short/);
  });
});
