/**
 * The Hub's metadata API through `@huggingface/hub`: a revision pinned to its commit, and the
 * repository's files at that commit (the library follows the tree API's `Link: rel="next"` pages).
 * The token goes only to the Hub's own origin.
 */
import { HubApiError, listFiles, modelInfo } from "@huggingface/hub";
import { authProblem, HubError } from "./errors.js";

export interface HubSettings {
  /** HF_ENDPOINT, without a trailing slash. */
  endpoint: string;
  /** HF_TOKEN, sent as a Bearer token to the endpoint's origin only. */
  token: string | undefined;
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

const COMMIT = /^[0-9a-f]{40}$/;

export class HubClient {
  readonly endpoint: string;
  readonly origin: string;
  readonly token: string | undefined;
  /** The plain fetch (no token added): downloads add the token per hop themselves. */
  readonly fetch: typeof fetch;

  constructor(settings: HubSettings) {
    this.endpoint = settings.endpoint.replace(/\/+$/, "");
    this.origin = new URL(this.endpoint).origin;
    this.token = settings.token;
    this.fetch = settings.fetch ?? fetch;
  }

  /** Authorization for a request to `url`: only to the Hub's own origin, never to a redirect's host. */
  authorizationFor(url: string | URL): Record<string, string> {
    return this.token && new URL(url).origin === this.origin ? { Authorization: `Bearer ${this.token}` } : {};
  }

  /** A fetch for the library that adds the token for the Hub (the library insists on `hf_` tokens). */
  private readonly authorizedFetch: typeof fetch = (input, init) => {
    const url = input instanceof Request ? input.url : input;
    const headers = new Headers(init?.headers);
    for (const [name, value] of Object.entries(this.authorizationFor(url))) headers.set(name, value);
    return this.fetch(input, { ...init, headers });
  };

  /** The commit a revision (branch, tag or commit) points to now. */
  async resolveCommit(repo: string, revision: string): Promise<string> {
    let sha: unknown;
    try {
      const info = await modelInfo({
        name: repo,
        revision,
        hubUrl: this.endpoint,
        additionalFields: ["sha"],
        fetch: this.authorizedFetch,
      });
      sha = info.sha;
    } catch (error) {
      throw this.explain(error, `${repo} at revision "${revision}"`);
    }
    if (typeof sha !== "string" || !COMMIT.test(sha)) {
      throw new HubError("protocol", `The Hub did not give the commit of ${repo} at revision "${revision}".`);
    }
    return sha;
  }

  /** Every file of the repository at `commit`. */
  async listFiles(repo: string, commit: string): Promise<RepoFile[]> {
    const files: RepoFile[] = [];
    try {
      for await (const entry of listFiles({
        repo: { type: "model", name: repo },
        revision: commit,
        recursive: true,
        hubUrl: this.endpoint,
        fetch: this.authorizedFetch,
      })) {
        if (entry.type !== "file") continue;
        files.push({
          path: entry.path,
          size: entry.lfs?.size ?? entry.size,
          gitOid: entry.lfs ? undefined : entry.oid,
          sha256: entry.lfs?.oid,
        });
      }
    } catch (error) {
      throw this.explain(error, `the file list of ${repo}`);
    }
    return files;
  }

  /** A library or network error as one clear HubError. */
  private explain(error: unknown, what: string): HubError {
    if (error instanceof HubError) return error;
    if (error instanceof HubApiError) {
      if (error.statusCode === 401 || error.statusCode === 403)
        return authProblem(error.statusCode, what, this.token !== undefined);
      if (error.statusCode === 404)
        return new HubError("not_found", `The Hub at ${this.endpoint} has no ${what} (HTTP 404).`);
      return new HubError("protocol", `The Hub answered HTTP ${error.statusCode} for ${what}.`, {
        cause: error,
      });
    }
    const reason = error instanceof Error ? (causeMessage(error) ?? error.message) : String(error);
    return new HubError("network", `Could not reach the Hub at ${this.endpoint} for ${what}: ${reason}.`, {
      cause: error,
    });
  }
}

/** fetch's "fetch failed" hides the socket error in `cause`. */
function causeMessage(error: Error): string | undefined {
  const cause = (error as { cause?: unknown }).cause;
  return cause instanceof Error ? cause.message : undefined;
}
