/**
 * The demo model: with EASEL_MODEL_DIR unset, easel runs on the project's tiny SDXL-shaped fixture
 * (random weights, noise-like images), written once under the data folder, so that a fresh install
 * starts and answers end to end before anyone downloads gigabytes.
 */
import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdir, rename, rm } from "node:fs/promises";
import { dirname, join } from "node:path";
import type { Config } from "./config.js";
import { writeFixtureModels } from "./fixtures/index.js";
import type { Logger } from "./logger.js";

/** Writes the demo model to `config.modelDir` when the config asks for it and it is not there yet. */
export async function ensureDemoModel(
  config: Pick<Config, "demoModel" | "modelDir">,
  logger: Logger,
): Promise<void> {
  if (!config.demoModel) return;
  if (existsSync(join(config.modelDir, "model_index.json"))) {
    logger.info(
      { modelDir: config.modelDir },
      "using the demo model (EASEL_MODEL_DIR is unset): images are noise",
    );
    return;
  }
  // Written beside its final place and renamed, so a crash never leaves half a model there.
  const parent = dirname(config.modelDir);
  const staging = join(parent, `.staging-${randomBytes(4).toString("hex")}`);
  await mkdir(parent, { recursive: true });
  try {
    const { base } = await writeFixtureModels(staging, { variants: ["base"] });
    await rename(base, config.modelDir);
  } finally {
    await rm(staging, { recursive: true, force: true });
  }
  logger.warn(
    { modelDir: config.modelDir },
    "wrote the demo model (EASEL_MODEL_DIR is unset): images are noise; set EASEL_MODEL_DIR to an SDXL ONNX export",
  );
}
