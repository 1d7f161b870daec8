/**
 * The doctor's check of output moderation: with EASEL_MODERATION on, the classifier is loaded in
 * its own thread exactly as `easel start` loads it, and one generated 1024² image is classified to
 * time it; a classifier that cannot load fails here with the reason `easel start` refuses with.
 */
import sharp from "sharp";
import type { Config } from "../config.js";
import { ImageClassifier } from "../moderation/classifier.js";
import { type CheckResult, fail, ok } from "./types.js";

const NAME = "moderation";
const SIDE = 1024;

/** A 1024² gradient PNG: the size of an SDXL image, made here rather than read from disk. */
async function sampleImage(): Promise<Uint8Array> {
  const rgb = new Uint8Array(SIDE * SIDE * 3);
  for (let y = 0; y < SIDE; y++) {
    for (let x = 0; x < SIDE; x++) {
      const i = (y * SIDE + x) * 3;
      rgb[i] = x >> 2;
      rgb[i + 1] = y >> 2;
      rgb[i + 2] = 128;
    }
  }
  return new Uint8Array(
    await sharp(rgb, { raw: { width: SIDE, height: SIDE, channels: 3 } })
      .png()
      .toBuffer(),
  );
}

export async function checkModeration(config: Pick<Config, "moderation">): Promise<CheckResult> {
  const { mode, model, threshold, nsfwChannels } = config.moderation;
  if (mode === "off")
    return ok(NAME, "output moderation is off (EASEL_MODERATION=off): images are posted unchecked");
  const classifier = new ImageClassifier({ model });
  try {
    const info = await classifier.start();
    const image = await sampleImage();
    const started = performance.now();
    await classifier.classify(image);
    const ms = Math.round(performance.now() - started);
    return ok(
      NAME,
      `${mode} from an unsafe score of ${threshold}${nsfwChannels ? ", NSFW channels too" : ", NSFW channels exempt"}: ` +
        `${info.model} (${info.size}², TensorFlow.js ${info.backend}) loaded in ${info.loadMs} ms, ${ms} ms per ${SIDE}² image`,
      { ...info, classifyMs: ms },
    );
  } catch (error) {
    return fail(
      NAME,
      `${error instanceof Error ? error.message : String(error)}; easel start refuses to run with it`,
    );
  } finally {
    await classifier.stop();
  }
}
