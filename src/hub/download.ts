/**
 * Downloads one file from the Hub into `<target>.part`, resuming with HTTP Range, hashing as the
 * bytes arrive (a resumed part is hashed first), and renaming it to `<target>` only when its hash
 * matches the listing. Redirects are followed here (`redirect: "manual"`, see redirects.ts) so that
 * the token is sent to the Hub only, never to the storage host a file redirects to.
 */
import { createHash, type Hash } from "node:crypto";
import { createReadStream } from "node:fs";
import { mkdir, open, rename, rm, stat, truncate } from "node:fs/promises";
import { dirname } from "node:path";
import type { HubClient, RepoFile } from "./client.js";
import { authProblem, HubError } from "./errors.js";
import { nextRedirect } from "./redirects.js";

export interface DownloadOptions {
  client: HubClient;
  /** The resolve URL on the Hub. */
  url: string;
  /** The commit the URL names: a response from another commit is refused. */
  commit: string;
  file: RepoFile;
  /** The final path; bytes go to `<target>.part` first. */
  target: string;
  /** Called with how many bytes of the file are on disk, as they grow (a resumed part first). */
  onPosition?: (bytes: number) => void;
  /** Called before a retry after a dropped connection. */
  onRetry?: (attempt: number, reason: string) => void;
  /** Attempts per file before giving up (each resumes where the last stopped). */
  attempts?: number;
  /** A connection that delivers nothing for this long is dropped and resumed. */
  idleTimeoutMs?: number;
  /** Pause before the n-th retry; exponential by default. */
  retryDelayMs?: (attempt: number) => number;
}

/** The hash the listing gives for a file, computed the same way over its bytes. */
export class ContentHash {
  private hash: Hash;

  constructor(private readonly file: RepoFile) {
    this.hash = ContentHash.start(file);
  }

  private static start(file: RepoFile): Hash {
    if (file.sha256) return createHash("sha256");
    // A git blob id covers a header, then the content.
    return createHash("sha1").update(`blob ${file.size}\0`);
  }

  get expected(): string | undefined {
    return this.file.sha256 ?? this.file.gitOid;
  }

  get algorithm(): string {
    return this.file.sha256 ? "sha256" : "git blob sha1";
  }

  update(chunk: Uint8Array): void {
    this.hash.update(chunk);
  }

  reset(): void {
    this.hash = ContentHash.start(this.file);
  }

  digest(): string {
    return this.hash.digest("hex");
  }
}

async function sizeOf(path: string): Promise<number | undefined> {
  try {
    return (await stat(path)).size;
  } catch {
    return undefined;
  }
}

/** Streams a file's bytes into `hash`. */
async function hashFile(path: string, hash: ContentHash): Promise<void> {
  for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 })) hash.update(chunk as Buffer);
}

/** Whether a finished file on disk matches the listing (size, then hash). */
export async function fileMatches(path: string, file: RepoFile): Promise<boolean> {
  if ((await sizeOf(path)) !== file.size) return false;
  const hash = new ContentHash(file);
  if (hash.expected === undefined) return true;
  await hashFile(path, hash);
  return hash.digest() === hash.expected;
}

interface Fetched {
  response: Response;
  /** X-Repo-Commit of the Hub's answer, when it sent one. */
  repoCommit: string | null;
}

/** GET with redirects followed by hand (redirects.ts): the token goes only to the Hub's origin. */
async function getFollowingRedirects(
  client: HubClient,
  url: string,
  headers: Record<string, string>,
  signal: AbortSignal,
  fetchImpl: typeof fetch,
): Promise<Fetched> {
  let current = new URL(url);
  let repoCommit: string | null = null;
  for (let hop = 0; ; hop++) {
    const response = await fetchImpl(current, {
      headers: { ...headers, ...client.authorizationFor(current) },
      redirect: "manual",
      signal,
    });
    repoCommit ??= response.headers.get("x-repo-commit");
    const next = nextRedirect(response, current, hop, url);
    if (!next) return { response, repoCommit };
    await response.body?.cancel();
    current = next;
  }
}

/** A failure worth another attempt (the connection, not the request). */
class Interrupted extends Error {}

function describe(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const cause = (error as { cause?: unknown }).cause;
  return cause instanceof Error ? `${error.message}: ${cause.message}` : error.message;
}

/** Parses `Content-Range: bytes START-END/TOTAL` → START. */
function rangeStart(header: string | null): number | undefined {
  const match = header ? /^bytes (\d+)-\d+\/(\d+|\*)$/.exec(header.trim()) : null;
  return match ? Number(match[1]) : undefined;
}

/**
 * One request: appends to the part file from `have` bytes on. Returns the part's new size.
 * Throws Interrupted for a dropped or stalled connection and HubError for a refused request.
 */
async function fetchInto(
  options: DownloadOptions,
  part: string,
  have: number,
  hash: ContentHash,
): Promise<number> {
  const { client, file } = options;
  const controller = new AbortController();
  const idleMs = options.idleTimeoutMs ?? 60_000;
  let idle = setTimeout(() => controller.abort(), idleMs);
  const touch = () => {
    clearTimeout(idle);
    idle = setTimeout(() => controller.abort(), idleMs);
  };
  try {
    let fetched: Fetched;
    try {
      fetched = await getFollowingRedirects(
        client,
        options.url,
        have > 0 ? { Range: `bytes=${have}-` } : {},
        controller.signal,
        client.fetch,
      );
    } catch (error) {
      if (error instanceof HubError) throw error;
      throw new Interrupted(describe(error));
    }
    const { response, repoCommit } = fetched;
    if (repoCommit && repoCommit !== options.commit) {
      await response.body?.cancel();
      throw new HubError(
        "protocol",
        `The Hub served ${file.path} from commit ${repoCommit}, not the pinned ${options.commit}.`,
      );
    }
    const what = `downloading ${file.path}`;
    if (response.status === 401 || response.status === 403) {
      await response.body?.cancel();
      throw authProblem(response.status, what, client.token !== undefined);
    }
    if (response.status === 404) {
      await response.body?.cancel();
      throw new HubError("not_found", `The Hub has no ${file.path} at commit ${options.commit} (HTTP 404).`);
    }
    if (response.status === 416) {
      // Nothing left to send: the part is already whole (or longer than the file).
      await response.body?.cancel();
      return have;
    }
    if (response.status >= 500 || response.status === 429) {
      await response.body?.cancel();
      throw new Interrupted(`HTTP ${response.status}`);
    }
    if (response.status !== 200 && response.status !== 206) {
      await response.body?.cancel();
      throw new HubError("protocol", `The Hub answered HTTP ${response.status} while ${what}.`);
    }
    let offset = have;
    if (response.status === 206) {
      const start = rangeStart(response.headers.get("content-range"));
      if (start !== have) {
        await response.body?.cancel();
        throw new HubError("protocol", `The server resumed ${file.path} at the wrong offset.`);
      }
    } else if (have > 0) {
      // The server ignored the Range header: start again from the first byte.
      offset = 0;
      hash.reset();
    }
    const handle = await open(part, offset === 0 ? "w" : "a");
    try {
      if (!response.body) return offset;
      for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
        touch();
        if (offset + chunk.byteLength > file.size) {
          throw new HubError(
            "integrity",
            `The server sent more than the ${file.size} bytes listed for ${file.path}.`,
          );
        }
        hash.update(chunk);
        await handle.write(chunk);
        offset += chunk.byteLength;
        options.onPosition?.(offset);
      }
      await handle.sync();
    } catch (error) {
      if (error instanceof HubError) throw error;
      throw new Interrupted(controller.signal.aborted ? `no data for ${idleMs / 1000} s` : describe(error));
    } finally {
      await handle.close();
    }
    if (offset < file.size)
      throw new Interrupted(`the connection closed after ${offset} of ${file.size} bytes`);
    return offset;
  } finally {
    clearTimeout(idle);
  }
}

/**
 * Downloads `options.file` to `options.target`, resuming a `.part` left by an earlier run.
 * The target appears only with the listed hash; a mismatching part is deleted.
 */
export async function downloadFile(options: DownloadOptions): Promise<void> {
  const { file, target } = options;
  const part = `${target}.part`;
  const attempts = options.attempts ?? 5;
  const delay = options.retryDelayMs ?? ((attempt: number) => Math.min(30_000, 500 * 2 ** attempt));
  await mkdir(dirname(target), { recursive: true });
  let freshRetried = false;
  for (let attempt = 1; ; attempt++) {
    let have = (await sizeOf(part)) ?? 0;
    if (have > file.size) {
      await truncate(part, 0);
      have = 0;
    }
    const resumedFrom = have;
    const hash = new ContentHash(file);
    if (have > 0) {
      await hashFile(part, hash);
      options.onPosition?.(have);
    }
    let size = have;
    try {
      if (have < file.size || file.size === 0) size = await fetchInto(options, part, have, hash);
    } catch (error) {
      if (!(error instanceof Interrupted)) throw error;
      if (attempt >= attempts) {
        throw new HubError(
          "network",
          `Downloading ${file.path} kept failing (${error.message}); run the same command again to resume.`,
        );
      }
      options.onRetry?.(attempt, error.message);
      await new Promise((resolve) => setTimeout(resolve, delay(attempt)));
      continue;
    }
    // A 416 leaves the part as it was; the size must now be exact.
    if (size !== file.size || (await sizeOf(part)) !== file.size) {
      await rm(part, { force: true });
      if (attempt >= attempts) throw new HubError("integrity", `${file.path} did not arrive whole.`);
      continue;
    }
    const actual = hash.digest();
    if (hash.expected !== undefined && actual !== hash.expected) {
      await rm(part, { force: true });
      // A part kept from an earlier run may have been the bad half: try once from the first byte.
      if (resumedFrom > 0 && !freshRetried) {
        freshRetried = true;
        options.onRetry?.(attempt, "the resumed file did not match its hash; downloading it again");
        continue;
      }
      throw new HubError(
        "integrity",
        `${file.path} did not match the ${hash.algorithm} the Hub lists for it (expected ${hash.expected}, got ${actual}); it was not kept.`,
      );
    }
    await rename(part, target);
    return;
  }
}
