/**
 * A cache of ONNX Runtime's optimised graphs. Optimising a big graph (the SDXL UNet: 2.6 billion
 * parameters) costs minutes of CPU at every load; the optimised graph saved once (graph file plus
 * one external weights file, as a graph over 2 GB cannot be one protobuf) loads with no further
 * optimisation next time.
 *
 * An entry is keyed by everything that changes the optimised graph: the model's files (path, size,
 * mtime), ONNX Runtime's version, the device, and the CPU (the CPU provider's layout optimisations
 * are specific to the instruction set they were made on). A changed key is a new entry; the
 * model's older entries are removed when the new one is complete. An entry counts only once
 * complete (written to a temporary folder, then renamed), so a crash mid-save leaves no half entry.
 */
import { createHash, randomBytes } from "node:crypto";
import { mkdir, readdir, rename, rm, stat, statfs, writeFile } from "node:fs/promises";
import { cpus } from "node:os";
import { basename, dirname, join, resolve } from "node:path";
import * as ort from "onnxruntime-node";

export interface OptimizedModelCache {
  /** Folder holding the entries (e.g. <dataDir>/onnx-cache). */
  dir: string;
  /** Models whose files are smaller than this load fast anyway and are not cached. Default 256 MiB. */
  minBytes?: number;
}

const DEFAULT_MIN_BYTES = 256 * 1024 * 1024;
const MODEL_FILE = "model.onnx";
const DATA_FILE = "model.onnx.data";
const COMPLETE_MARK = "complete";

/** Where an optimised graph is being written; commit() makes it the entry, abandon() drops it. */
export interface CacheTarget {
  modelPath: string;
  /** The external weights file's name, in the same folder as modelPath. */
  dataFileName: string;
  commit(): Promise<void>;
  abandon(): Promise<void>;
}

export interface CacheEntry {
  /** The cached graph's path when the entry is complete. */
  ready(): Promise<string | undefined>;
  /** A temporary place to save the graph to; undefined when the disk lacks room for a copy. */
  begin(): Promise<CacheTarget | undefined>;
  /** Removes the entry (it would not load). */
  discard(): Promise<void>;
}

/** The files a model's graph may read: the model and the other files of its folder (its weights). */
async function modelFiles(path: string): Promise<Array<{ name: string; size: number; mtimeMs: number }>> {
  const folder = dirname(path);
  const files = [];
  for (const entry of await readdir(folder, { withFileTypes: true })) {
    if (!entry.isFile()) continue;
    const info = await stat(join(folder, entry.name));
    files.push({ name: entry.name, size: info.size, mtimeMs: info.mtimeMs });
  }
  return files.sort((a, b) => (a.name < b.name ? -1 : 1));
}

const hashOf = (value: unknown, length: number) =>
  createHash("sha256").update(JSON.stringify(value)).digest("hex").slice(0, length);

/** The cache entry for a model on a device; undefined when the model is too small to be worth it. */
export async function optimizedEntryOf(
  path: string,
  device: string,
  cache: OptimizedModelCache,
): Promise<CacheEntry | undefined> {
  const modelPath = resolve(path);
  const files = await modelFiles(modelPath);
  const bytes = files.reduce((sum, file) => sum + file.size, 0);
  if (bytes < (cache.minBytes ?? DEFAULT_MIN_BYTES)) return undefined;
  const key = {
    model: modelPath,
    files,
    ort: ort.env.versions,
    device,
    cpu: cpus()[0]?.model ?? "",
    arch: process.arch,
  };
  const prefix = `${basename(dirname(modelPath)).replace(/[^A-Za-z0-9_.-]/g, "_")}-${hashOf(modelPath, 8)}-`;
  const entryDir = join(cache.dir, `${prefix}${hashOf(key, 16)}`);

  return {
    async ready() {
      try {
        await stat(join(entryDir, COMPLETE_MARK));
        return join(entryDir, MODEL_FILE);
      } catch {
        return undefined;
      }
    },

    async discard() {
      await rm(entryDir, { recursive: true, force: true });
    },

    async begin() {
      await mkdir(cache.dir, { recursive: true });
      const free = await statfs(cache.dir);
      if (free.bavail * free.bsize < bytes * 1.1) return undefined;
      const temporary = `${entryDir}.tmp-${process.pid}-${randomBytes(4).toString("hex")}`;
      await mkdir(temporary);
      const abandon = () => rm(temporary, { recursive: true, force: true });
      return {
        modelPath: join(temporary, MODEL_FILE),
        dataFileName: DATA_FILE,
        abandon,
        async commit() {
          try {
            await writeFile(join(temporary, COMPLETE_MARK), `${JSON.stringify(key)}\n`);
            await rename(temporary, entryDir);
          } catch {
            // Another process completed the same entry first, or the disk filled: keep theirs or none.
            await abandon();
            return;
          }
          // This model's entries under older keys (its files changed, ONNX Runtime was upgraded).
          for (const name of await readdir(cache.dir)) {
            const old = join(cache.dir, name);
            if (name.startsWith(prefix) && old !== entryDir && !name.includes(".tmp-")) {
              await rm(old, { recursive: true, force: true });
            }
          }
        },
      };
    },
  };
}
