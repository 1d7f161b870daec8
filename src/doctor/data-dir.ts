/** The data dir (job store, images waiting to be posted): writable, and how much disk is free. */
import { mkdir, rm, statfs, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { type CheckResult, fail, formatBytes, ok, warn } from "./types.js";

const LOW = 1e9;
const TOO_LOW = 100e6;

export async function checkDataDir(dataDir: string): Promise<CheckResult> {
  const name = "data dir";
  const probe = join(dataDir, `.easel-doctor-${process.pid}`);
  try {
    await mkdir(dataDir, { recursive: true });
    await writeFile(probe, "ok");
    await rm(probe, { force: true });
  } catch (error) {
    const code =
      (error as NodeJS.ErrnoException).code ?? (error instanceof Error ? error.message : String(error));
    return fail(name, `${dataDir} is not writable (${code}); set EASEL_DATA_DIR to a folder easel may write`);
  }
  let free: number;
  try {
    const fs = await statfs(dataDir);
    free = fs.bavail * fs.bsize;
  } catch {
    return warn(name, `${dataDir} is writable; its free space cannot be read`);
  }
  const message = `${dataDir} is writable, ${formatBytes(free)} free`;
  if (free < TOO_LOW)
    return fail(name, `${message}: too little for the job store and images`, { freeBytes: free });
  if (free < LOW) return warn(name, `${message}: low`, { freeBytes: free });
  return ok(name, message, { freeBytes: free });
}
