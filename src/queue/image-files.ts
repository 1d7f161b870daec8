/**
 * Finished images on disk, <dataDir>/images/<jobId>-<i>.<ext>, each written to a temporary name and
 * renamed, so a crash never leaves a half-written file under a final name.
 */
import { randomBytes } from "node:crypto";
import { readdir, rename, rm, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { EncodedImage } from "../pipeline/types.js";

const EXTENSIONS: Record<EncodedImage["mime"], string> = {
  "image/png": "png",
  "image/webp": "webp",
  "image/jpeg": "jpg",
};

export function imageFilePath(
  imagesDir: string,
  jobId: string,
  index: number,
  mime: EncodedImage["mime"],
): string {
  return join(imagesDir, `${jobId}-${index}.${EXTENSIONS[mime]}`);
}

export async function writeFileAtomically(path: string, data: Uint8Array): Promise<void> {
  const temporary = `${path}.${randomBytes(4).toString("hex")}.tmp`;
  try {
    await writeFile(temporary, data);
    await rename(temporary, path);
  } catch (error) {
    await rm(temporary, { force: true });
    throw error;
  }
}

/** Files in the images folder with the job id their name starts with. */
export async function listImageFiles(imagesDir: string): Promise<Array<{ path: string; jobId: string }>> {
  let names: string[];
  try {
    names = await readdir(imagesDir);
  } catch {
    return [];
  }
  return names.flatMap((name) => {
    const match = /^([0-9a-f]+)-\d+\./.exec(name);
    return match ? [{ path: join(imagesDir, name), jobId: match[1]! }] : [];
  });
}

/** Files in `dir` last written before `before` (ms since the epoch): uploads past their retention. */
export async function listOlderFiles(dir: string, before: number): Promise<string[]> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return [];
  }
  const old: string[] = [];
  for (const name of names) {
    const path = join(dir, name);
    const info = await stat(path).catch(() => undefined);
    if (info?.isFile() && info.mtimeMs < before) old.push(path);
  }
  return old;
}
