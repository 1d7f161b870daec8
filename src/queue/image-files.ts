/**
 * Finished images on disk, <dataDir>/images/<jobId>-<i>.<ext>, each written by src/files.ts to a
 * temporary name beside it (`.<name>.<random>.tmp`) and renamed, so a crash never leaves a
 * half-written file under a final name.
 */
import { readdir, stat } from "node:fs/promises";
import { join } from "node:path";
import type { EncodedImage } from "../pipeline/types.js";
import { IMAGE_EXTENSIONS } from "../requests/jobs.js";

export { writeFileAtomically } from "../files.js";

export function imageFilePath(
  imagesDir: string,
  jobId: string,
  index: number,
  mime: EncodedImage["mime"],
): string {
  return join(imagesDir, `${jobId}-${index}.${IMAGE_EXTENSIONS[mime]}`);
}

const IMAGE_NAME = /^([0-9a-f]+)-\d+\.(?:png|webp|jpg)$/;
/** writeFileAtomically's temporary name for an image (left behind only by a crash mid-write). */
const TEMPORARY_IMAGE_NAME = /^\.([0-9a-f]+)-\d+\.(?:png|webp|jpg)\.[0-9a-f]+\.tmp$/;

/**
 * Image files in the images folder, and the temporary files of interrupted writes, each with the
 * job id in its name (the sweep deletes those whose job neither owns them nor may still write them).
 * Other names are left alone.
 */
export async function listImageFiles(
  imagesDir: string,
): Promise<Array<{ path: string; jobId: string; temporary: boolean }>> {
  let names: string[];
  try {
    names = await readdir(imagesDir);
  } catch {
    return [];
  }
  return names.flatMap((name) => {
    const match = IMAGE_NAME.exec(name) ?? TEMPORARY_IMAGE_NAME.exec(name);
    return match ? [{ path: join(imagesDir, name), jobId: match[1]!, temporary: name.startsWith(".") }] : [];
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
