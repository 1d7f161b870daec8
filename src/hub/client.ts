/**
 * The Hub's metadata API: a revision pinned to its commit, and the repository's files at that
 * commit (the tree API, paginated with `Link: <…>; rel="next"`). Every request is bounded in time
 * and size, the listing in pages, and each answer is checked against the shape easel relies on
 * before anything is read from it, so a broken or hostile mirror gets a message saying what was
 * wrong instead of a hang or a TypeError. The token goes only to the Hub's own origin.
 */
import { z } from "zod";
import { authProblem, HubError } from "./errors.js";
import { nextRedirect } from "./redirects.js";

export interface HubSettings {
  /** HF_ENDPOINT, without a trailing slash. */
  endpoint: string;
  /** HF_TOKEN, sent as a Bearer token to the endpoint's origin only. */
  token: string | undefined;
  /** The longest one metadata request (the revision, one listing page) may take; 30 s by default. */
  timeoutMs?: number;
  /** The fetch to use (tests may wrap it); global fetch by default. */
  fetch?: typeof fetch;
}

/** One file of the repository at the pinned commit, as the tree API lists it. */
export interface RepoFile {
  path: string;
  size: number;
  /** Git blob id (sha1 of "blob <size>\0" + content) of a file stored in git. */
  gitOid: string | undefined;
  /** sha256 of the content of a file stored with LFS (or Xet). */
  sha256: string | undefined;
}

export const DEFAULT_HUB_TIMEOUT_MS = 30_000;
/** A listing as a whole may take this many metadata timeouts. */
export const LISTING_TIMEOUTS = 10;
/** Pages of one listing: the Hub sends up to 1000 entries a page, so this is far beyond any model. */
export const MAX_LISTING_PAGES = 1000;
/** Entries of one listing, all pages together. */
export const MAX_LISTING_ENTRIES = 100_000;
/** Bytes of one metadata answer. */
export const MAX_ANSWER_BYTES = 16 * 1024 * 1024;

const COMMIT = /^[0-9a-f]{40}$/;
const size = z.number().int().nonnegative();

const revisionAnswer = z.object({ sha: z.string().regex(COMMIT, "not a 40-character commit id") });

const fileEntry = z.object({
  type: z.literal("file"),
  path: z.string().min(1),
  size,
  oid: z.string().regex(COMMIT, "not a git blob id"),
  lfs: z.object({ oid: z.string().regex(/^[0-9a-f]{64}$/, "not a sha256"), size }).optional(),
});
/** Directories (and anything else that is not a file) need only say what they are. */
const listingPage = z.array(z.object({ type: z.string(), path: z.string() }).loose());

/** An answer that is not what was asked for, saying what was wrong with it. */
function notA(expected: string, what: string, reason: string): HubError {
  return new HubError("protocol", `The Hub's answer for ${what} was not ${expected}: ${reason}.`);
}

/** Zod's first complaint as one line: where in the answer (`entry 3, size`), and what was wrong there. */
function firstIssue(error: z.ZodError, entry?: { index: number; path: string }): string {
  const issue = error.issues[0]!;
  const where = [
    ...(entry ? [`entry ${entry.index}${entry.path ? ` (${entry.path})` : ""}`] : []),
    ...issue.path.map((key) => (typeof key === "number" ? `entry ${key}` : String(key))),
  ].join(", ");
  const what = issue.message.replace(/^Invalid input: /, "");
  return where ? `${where}: ${what}` : what;
}

/**
 * `Link: <url>; rel="next"`, resolved against the page it came with; a string saying what is
 * wrong when the target is not an http(s) URL.
 */
function nextPage(link: string | null, page: URL): URL | string | undefined {
  if (!link) return undefined;
  for (const part of link.split(",")) {
    const match = /^\s*<([^>]*)>\s*;(.*)$/.exec(part);
    if (!match || !/\brel\s*=\s*"?next"?/i.test(match[2]!)) continue;
    let next: URL;
    try {
      next = new URL(match[1]!, page);
    } catch {
      return `its next page ${JSON.stringify(match[1])} is not a URL`;
    }
    if (next.protocol !== "https:" && next.protocol !== "http:")
      return `its next page is not an http(s) URL (${next.protocol})`;
    return next;
  }
  return undefined;
}

export class HubClient {
  readonly endpoint: string;
  readonly origin: string;
  readonly token: string | undefined;
  readonly timeoutMs: number;
  /** The plain fetch (no token added): every request adds the token per hop itself. */
  readonly fetch: typeof fetch;

  constructor(settings: HubSettings) {
    this.endpoint = settings.endpoint.replace(/\/+$/, "");
    this.origin = new URL(this.endpoint).origin;
    this.token = settings.token;
    this.timeoutMs = settings.timeoutMs ?? DEFAULT_HUB_TIMEOUT_MS;
    this.fetch = settings.fetch ?? fetch;
  }

  /** Authorization for a request to `url`: only to the Hub's own origin, never to a redirect's host. */
  authorizationFor(url: string | URL): Record<string, string> {
    return this.token && new URL(url).origin === this.origin ? { Authorization: `Bearer ${this.token}` } : {};
  }

  /** The commit a revision (branch, tag or commit) points to now. */
  async resolveCommit(repo: string, revision: string): Promise<string> {
    const what = `${repo} at revision "${revision}"`;
    const url = new URL(`${this.endpoint}/api/models/${repo}/revision/${encodeURIComponent(revision)}`);
    url.searchParams.set("expand", "sha");
    const { body } = await this.getJson(url, what, "a revision");
    const parsed = revisionAnswer.safeParse(body);
    if (!parsed.success) throw notA("a revision", what, firstIssue(parsed.error));
    return parsed.data.sha;
  }

  /** Every file of the repository at `commit`, over all the listing's pages. */
  async listFiles(repo: string, commit: string): Promise<RepoFile[]> {
    const what = `the file list of ${repo}`;
    const notAListing = (reason: string) => notA("a file listing", what, reason);
    const files: RepoFile[] = [];
    const seen = new Set<string>();
    let entries = 0;
    let url: URL | undefined = new URL(`${this.endpoint}/api/models/${repo}/tree/${commit}?recursive=true`);
    const totalMs = LISTING_TIMEOUTS * this.timeoutMs;
    const deadline = performance.now() + totalMs;
    for (let page = 0; url !== undefined; page++) {
      const leftMs = deadline - performance.now();
      if (leftMs <= 0) throw this.tookTooLong(what, totalMs);
      if (seen.has(url.href)) throw notAListing(`its next page ${url.href} is a page it already sent`);
      if (page === MAX_LISTING_PAGES) throw notAListing(`it goes on past ${MAX_LISTING_PAGES} pages`);
      seen.add(url.href);
      const {
        body,
        response,
        url: answered,
      } = await this.getJson(url, what, "a file listing", { leftMs, totalMs });
      const parsed = listingPage.safeParse(body);
      if (!parsed.success) throw notAListing(firstIssue(parsed.error));
      entries += parsed.data.length;
      if (entries > MAX_LISTING_ENTRIES)
        throw notAListing(`it lists more than ${MAX_LISTING_ENTRIES} entries`);
      for (const [index, entry] of parsed.data.entries()) {
        if (entry.type !== "file") continue;
        const file = fileEntry.safeParse(entry);
        if (!file.success) throw notAListing(firstIssue(file.error, { index, path: entry.path }));
        const { path, size, oid, lfs } = file.data;
        files.push({ path, size: lfs?.size ?? size, gitOid: lfs ? undefined : oid, sha256: lfs?.oid });
      }
      const next = nextPage(response.headers.get("link"), answered);
      if (typeof next === "string") throw notAListing(next);
      url = next;
    }
    return files;
  }

  /**
   * GET `url` as JSON within the time limit, following redirects by hand (http(s) only, never
   * from https down to http, the token to the Hub's origin only). Status codes become HubErrors.
   */
  private async getJson(
    url: URL,
    what: string,
    expected: string,
    /** What is left of a bound on several requests together (a listing's pages). */
    budget?: { leftMs: number; totalMs: number },
  ): Promise<{ body: unknown; response: Response; url: URL }> {
    const cut = budget !== undefined && budget.leftMs < this.timeoutMs;
    const signal = AbortSignal.timeout(cut ? Math.max(1, Math.ceil(budget.leftMs)) : this.timeoutMs);
    let current = url;
    try {
      for (let hop = 0; ; hop++) {
        const response = await this.fetch(current, {
          headers: { accept: "application/json", ...this.authorizationFor(current) },
          redirect: "manual",
          signal,
        });
        const next = nextRedirect(response, current, hop, what);
        if (next) {
          await response.body?.cancel();
          current = next;
          continue;
        }
        this.checkStatus(response, what);
        const text = await readCapped(response, MAX_ANSWER_BYTES, what);
        try {
          return { body: JSON.parse(text) as unknown, response, url: current };
        } catch (error) {
          throw notA(expected, what, `not JSON (${error instanceof Error ? error.message : String(error)})`);
        }
      }
    } catch (error) {
      if (error instanceof HubError) throw error;
      if (signal.aborted) {
        if (cut) throw this.tookTooLong(what, budget.totalMs);
        throw new HubError(
          "network",
          `The Hub at ${this.endpoint} did not answer for ${what} within ${this.timeoutMs / 1000} s (EASEL_HUB_TIMEOUT_SECONDS).`,
          { cause: error },
        );
      }
      const reason = error instanceof Error ? (causeMessage(error) ?? error.message) : String(error);
      throw new HubError("network", `Could not reach the Hub at ${this.endpoint} for ${what}: ${reason}.`, {
        cause: error,
      });
    }
  }

  private tookTooLong(what: string, totalMs: number): HubError {
    return new HubError(
      "network",
      `The Hub at ${this.endpoint} took more than ${totalMs / 1000} s in all for ${what} (${LISTING_TIMEOUTS} × EASEL_HUB_TIMEOUT_SECONDS).`,
    );
  }

  private checkStatus(response: Response, what: string): void {
    if (response.ok) return;
    void response.body?.cancel();
    const status = response.status;
    if (status === 401 || status === 403) throw authProblem(status, what, this.token !== undefined);
    if (status === 404)
      throw new HubError("not_found", `The Hub at ${this.endpoint} has no ${what} (HTTP 404).`);
    throw new HubError("protocol", `The Hub answered HTTP ${status} for ${what}.`);
  }
}

/** The body as text, refusing one longer than `limit` bytes without reading the rest. */
async function readCapped(response: Response, limit: number, what: string): Promise<string> {
  if (!response.body) return "";
  const chunks: Uint8Array[] = [];
  let total = 0;
  for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
    total += chunk.byteLength;
    if (total > limit) {
      await response.body.cancel().catch(() => {});
      throw new HubError(
        "protocol",
        `The Hub's answer for ${what} was longer than ${limit / 1024 / 1024} MiB; it is not a model's metadata.`,
      );
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString("utf8");
}

/** fetch's "fetch failed" hides the socket error in `cause`. */
function causeMessage(error: Error): string | undefined {
  const cause = (error as { cause?: unknown }).cause;
  return cause instanceof Error ? cause.message : undefined;
}
