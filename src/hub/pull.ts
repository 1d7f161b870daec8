/**
 * `easel pull`: an SDXL ONNX export from the Hub into a model folder. The revision is pinned to one
 * commit first, so a branch that moves during a long download cannot mix files of two commits.
 * A state file in the folder records the pull; a finished folder is left alone unless forced.
 */
import { mkdir, readdir, readFile, rename, stat, statfs, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { HubClient, RepoFile } from "./client.js";
import { downloadFile, fileMatches } from "./download.js";
import { HubError } from "./errors.js";
import { isPipelineFile, isTinyVaeFile, REQUIRED_FILES, TINY_VAE_DECODERS } from "./repos.js";

/** Written into the folder: what was pulled, and whether it finished. */
export const PULL_STATE_FILE = ".easel-pull.json";

export interface PullState {
  repo: string;
  revision: string;
  commit: string;
  complete: boolean;
}

export type PullEvent =
  | { kind: "pinned"; repo: string; revision: string; commit: string }
  | { kind: "plan"; files: RepoFile[]; totalBytes: number; presentBytes: number }
  | { kind: "file"; file: RepoFile; index: number; count: number }
  | { kind: "kept"; file: RepoFile }
  | { kind: "position"; file: RepoFile; bytes: number }
  | { kind: "retry"; file: RepoFile; attempt: number; reason: string }
  | { kind: "done"; file: RepoFile };

export interface PullOptions {
  client: HubClient;
  repo: string;
  revision: string;
  dir: string;
  /** Pull into a finished (or foreign) folder, re-checking every file already there. */
  force: boolean;
  /** What the repository holds, which decides the files fetched; default an SDXL export. */
  kind?: "sdxl" | "taesd";
  onEvent?: (event: PullEvent) => void;
  /** Download tuning (tests shorten the waits). */
  download?: { attempts?: number; idleTimeoutMs?: number; retryDelayMs?: (attempt: number) => number };
}

export interface PullResult {
  dir: string;
  commit: string;
  files: RepoFile[];
  /** Bytes this run had to fetch (files not already there, less resumed parts). */
  bytes: number;
}

async function readState(dir: string): Promise<PullState | undefined> {
  try {
    const value = JSON.parse(await readFile(join(dir, PULL_STATE_FILE), "utf8")) as Partial<PullState>;
    if (typeof value.commit === "string" && typeof value.repo === "string") return value as PullState;
  } catch {
    // no state: not a folder we pulled into
  }
  return undefined;
}

async function writeState(dir: string, state: PullState): Promise<void> {
  const path = join(dir, PULL_STATE_FILE);
  await writeFile(`${path}.part`, `${JSON.stringify(state, null, 2)}\n`);
  await rename(`${path}.part`, path);
}

async function entriesOf(dir: string): Promise<string[] | undefined> {
  try {
    return await readdir(dir);
  } catch {
    return undefined;
  }
}

/** Refuses a finished folder, or a folder holding something else, unless forced. */
async function checkTarget(dir: string, force: boolean): Promise<PullState | undefined> {
  const state = await readState(dir);
  if (force) return state;
  if (state?.complete) {
    throw new HubError(
      "refused",
      `${dir} already holds ${state.repo} at commit ${state.commit.slice(0, 12)}; pass --force to pull into it again.`,
    );
  }
  const entries = await entriesOf(dir);
  if (!state && entries && entries.length > 0) {
    throw new HubError(
      "refused",
      `${dir} is not empty and was not written by easel pull; choose another --dir or pass --force.`,
    );
  }
  return state;
}

/** The pipeline's files of the listing, or a clear error when the repository has no ONNX export. */
export function selectPipelineFiles(repo: string, listing: readonly RepoFile[]): RepoFile[] {
  const files = listing.filter((file) => isPipelineFile(file.path));
  const have = new Set(files.map((file) => file.path));
  const missing = REQUIRED_FILES.filter((path) => !have.has(path));
  if (missing.length > 0) {
    throw new HubError(
      "not_onnx",
      `${repo} has no SDXL ONNX export (missing ${missing.join(", ")}); easel needs model_index.json, the tokenizers and the .onnx files of text_encoder_2, unet and vae_decoder.`,
    );
  }
  return files.sort((a, b) => a.path.localeCompare(b.path));
}

/** The tiny-VAE decoder's files of the listing, or a clear error when it has none. */
export function selectTinyVaeFiles(repo: string, listing: readonly RepoFile[]): RepoFile[] {
  const files = listing.filter((file) => isTinyVaeFile(file.path));
  if (!files.some((file) => (TINY_VAE_DECODERS as readonly string[]).includes(file.path))) {
    throw new HubError("not_onnx", `${repo} has no TAESD ONNX decoder (${TINY_VAE_DECODERS.join(" or ")}).`);
  }
  return files.sort((a, b) => a.path.localeCompare(b.path));
}

async function sizeOnDisk(path: string): Promise<number> {
  try {
    return (await stat(path)).size;
  } catch {
    return 0;
  }
}

const GIB = 1024 ** 3;

async function checkFreeSpace(dir: string, neededBytes: number): Promise<void> {
  let free: number;
  try {
    const fs = await statfs(dir);
    free = fs.bavail * fs.bsize;
  } catch {
    return;
  }
  if (free < neededBytes) {
    throw new HubError(
      "refused",
      `${dir} has ${(free / GIB).toFixed(1)} GiB free; the download needs ${(neededBytes / GIB).toFixed(1)} GiB more.`,
    );
  }
}

export function resolveUrl(endpoint: string, repo: string, commit: string, path: string): string {
  const encoded = path.split("/").map(encodeURIComponent).join("/");
  return `${endpoint}/${repo}/resolve/${commit}/${encoded}`;
}

export async function pullModel(options: PullOptions): Promise<PullResult> {
  const { client, repo, revision, dir, force } = options;
  const emit = options.onEvent ?? (() => {});
  const previous = await checkTarget(dir, force);
  const commit = await client.resolveCommit(repo, revision);
  emit({ kind: "pinned", repo, revision, commit });
  const listing = await client.listFiles(repo, commit);
  const files =
    options.kind === "taesd" ? selectTinyVaeFiles(repo, listing) : selectPipelineFiles(repo, listing);

  // A file renamed into place by an unforced run of this same commit was verified then.
  const trusted = !force && previous?.commit === commit;
  const totalBytes = files.reduce((sum, file) => sum + file.size, 0);
  let presentBytes = 0;
  for (const file of files) {
    const path = join(dir, file.path);
    presentBytes += Math.min(file.size, (await sizeOnDisk(path)) || (await sizeOnDisk(`${path}.part`)));
  }
  emit({ kind: "plan", files, totalBytes, presentBytes });
  await mkdir(dir, { recursive: true });
  await checkFreeSpace(dir, totalBytes - presentBytes);
  await writeState(dir, { repo, revision, commit, complete: false });

  let fetched = 0;
  for (const [index, file] of files.entries()) {
    emit({ kind: "file", file, index, count: files.length });
    const target = join(dir, file.path);
    const onDisk = await sizeOnDisk(target);
    if (onDisk === file.size && (trusted || (await fileMatches(target, file)))) {
      emit({ kind: "kept", file });
      continue;
    }
    fetched += file.size - Math.min(file.size, await sizeOnDisk(`${target}.part`));
    await downloadFile({
      client,
      url: resolveUrl(client.endpoint, repo, commit, file.path),
      commit,
      file,
      target,
      ...options.download,
      onPosition: (bytes) => emit({ kind: "position", file, bytes }),
      onRetry: (attempt, reason) => emit({ kind: "retry", file, attempt, reason }),
    });
    emit({ kind: "done", file });
  }
  await writeState(dir, { repo, revision, commit, complete: true });
  return { dir, commit, files, bytes: fetched };
}
