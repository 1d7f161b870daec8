/**
 * A models folder for catalogue tests: copies of the fixture generator's small SDXL exports
 * (test/helpers/fixtures.ts), each with an optional easel.json, in a fresh temp folder.
 */
import { cp, mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fixtureModels } from "../helpers/fixtures.js";

export interface Scope {
  after(fn: () => unknown): void;
}

export interface ModelFolderSpec {
  /** The fixture variant copied in (default the base export). */
  variant?: "base" | "refiner";
  /** easel.json's content: an object is written as JSON, a string as is; absent = no file. */
  settings?: object | string;
}

/** `<temp>/models/<name>` for each entry; returns the temp root and the models folder. */
export async function modelsFolder(
  scope: Scope,
  folders: Record<string, ModelFolderSpec>,
): Promise<{ root: string; modelsDir: string }> {
  const root = await mkdtemp(join(tmpdir(), "easel-models-"));
  scope.after(() => rm(root, { recursive: true, force: true }));
  const modelsDir = join(root, "models");
  await mkdir(modelsDir);
  const fixtures = await fixtureModels();
  for (const [name, spec] of Object.entries(folders)) {
    const dir = join(modelsDir, name);
    await cp(fixtures[spec.variant ?? "base"], dir, { recursive: true });
    if (spec.settings !== undefined) {
      const text = typeof spec.settings === "string" ? spec.settings : JSON.stringify(spec.settings);
      await writeFile(join(dir, "easel.json"), text);
    }
  }
  return { root, modelsDir };
}
