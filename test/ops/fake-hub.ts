/**
 * A loopback fake of the Hugging Face Hub as `easel pull` meets it: the revision API, the tree API
 * paginated with `Link: <…>; rel="next"`, `resolve` serving git files itself and redirecting LFS
 * files (302) to a storage server on another host (127.0.0.2) that honours Range. It records every
 * request, can demand a token, serve wrong bytes for a file, or cut a body mid-way; and it can act
 * as a broken mirror (`faults`): a listing whose next page is itself or never ends, metadata that
 * never answers, an answer that is not a listing, an entry edited, a redirect anywhere.
 */
import { createHash } from "node:crypto";
import { readdir, readFile } from "node:fs/promises";
import { createServer, type IncomingHttpHeaders, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { join, relative } from "node:path";

export interface HubFile {
  path: string;
  bytes: Buffer;
  lfs: boolean;
}

export interface RecordedRequest {
  server: "hub" | "storage";
  url: string;
  headers: IncomingHttpHeaders;
}

/** How the tree API misbehaves. */
export type ListingFault =
  /** Every page's `Link: next` points to the page itself. */
  | { kind: "self-link" }
  /** Every page links to a next page that was never seen before, for ever. */
  | { kind: "endless" }
  /** The request is accepted and never answered. */
  | { kind: "silent" }
  /** Every page sends this `Link` header. */
  | { kind: "link"; link: string }
  /** This text is the answer (status 200, JSON content type). */
  | { kind: "body"; body: string }
  /** The first file entry of the first page is changed by `edit`. */
  | { kind: "entry"; edit: (entry: Record<string, unknown>) => void };

export interface HubFaults {
  listing?: ListingFault;
  /** Each listing page is answered this many milliseconds late. */
  listingDelayMs?: number;
  /** The revision API accepts requests and never answers. */
  silentRevision?: boolean;
  /** `resolve` for these paths redirects (302) to the given Location, whatever it is. */
  redirects: Map<string, string>;
}

export interface FakeHubOptions {
  repo: string;
  files: HubFile[];
  /** Tree entries per page. */
  pageSize?: number;
  /** A token every Hub request must carry (storage URLs are presigned and need none). */
  token?: string;
}

const sha256 = (bytes: Buffer) => createHash("sha256").update(bytes).digest("hex");
const gitOid = (bytes: Buffer) =>
  createHash("sha1").update(`blob ${bytes.length}\0`).update(bytes).digest("hex");

/** Every file under a folder, with LFS for the weights as the Hub stores them. */
export async function filesOf(dir: string): Promise<HubFile[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  const files: HubFile[] = [];
  for (const entry of entries) {
    if (!entry.isFile()) continue;
    const path = relative(dir, join(entry.parentPath, entry.name)).split("\\").join("/");
    const bytes = await readFile(join(entry.parentPath, entry.name));
    files.push({ path, bytes, lfs: /\.(onnx|onnx_data|safetensors)$/.test(path) });
  }
  return files.sort((a, b) => a.path.localeCompare(b.path));
}

export class FakeHub {
  readonly commit = createHash("sha1").update("commit-1").digest("hex");
  readonly requests: RecordedRequest[] = [];
  /** Paths whose storage bytes are altered (the listing keeps the true hash). */
  readonly corrupt = new Set<string>();
  /** Paths whose next storage response stops after this many bytes (then the socket is destroyed). */
  readonly cutAfter = new Map<string, number>();
  /** Misbehaviours of a broken or hostile mirror; none by default. */
  readonly faults: HubFaults = { redirects: new Map() };
  private hub!: Server;
  private storage!: Server;
  hubUrl = "";
  storageUrl = "";

  constructor(private readonly options: FakeHubOptions) {}

  async start(): Promise<this> {
    this.hub = createServer((req, res) => this.onHub(req.url ?? "/", req.headers, res));
    this.storage = createServer((req, res) => this.onStorage(req.url ?? "/", req.headers, res));
    const listen = (server: Server, host: string) =>
      new Promise<string>((resolve) =>
        server.listen(0, host, () => resolve(`http://${host}:${(server.address() as AddressInfo).port}`)),
      );
    this.hubUrl = await listen(this.hub, "127.0.0.1");
    this.storageUrl = await listen(this.storage, "127.0.0.2");
    return this;
  }

  async stop(): Promise<void> {
    for (const server of [this.hub, this.storage]) {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
  }

  file(path: string): HubFile {
    const file = this.options.files.find((f) => f.path === path);
    if (!file) throw new Error(`no ${path}`);
    return file;
  }

  private treeEntry(file: HubFile) {
    return {
      type: "file",
      path: file.path,
      size: file.bytes.length,
      oid: file.lfs
        ? gitOid(Buffer.from(`version lfs\noid sha256:${sha256(file.bytes)}\n`))
        : gitOid(file.bytes),
      ...(file.lfs ? { lfs: { oid: sha256(file.bytes), size: file.bytes.length, pointerSize: 134 } } : {}),
    };
  }

  private onHub(url: string, headers: IncomingHttpHeaders, res: import("node:http").ServerResponse) {
    this.requests.push({ server: "hub", url, headers });
    const { repo, token } = this.options;
    if (token !== undefined && headers.authorization !== `Bearer ${token}`) {
      res.writeHead(401, { "content-type": "application/json" });
      res.end(JSON.stringify({ error: "Invalid credentials in Authorization header" }));
      return;
    }
    const parsed = new URL(url, this.hubUrl);
    const path = decodeURIComponent(parsed.pathname);
    if (path === `/api/models/${repo}/revision/main`) {
      if (this.faults.silentRevision) return;
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify({ _id: "1", id: repo, sha: this.commit, lastModified: "2023-07-26T00:00:00Z" }));
      return;
    }
    if (path === `/api/models/${repo}/tree/${this.commit}`) {
      const delay = this.faults.listingDelayMs;
      if (delay === undefined) this.answerListing(url, parsed, res);
      else setTimeout(() => this.answerListing(url, parsed, res), delay);
      return;
    }
    const prefix = `/${repo}/resolve/${this.commit}/`;
    if (path.startsWith(prefix)) {
      const file = this.options.files.find((f) => f.path === path.slice(prefix.length));
      if (!file) {
        res.writeHead(404).end();
        return;
      }
      const common = { "x-repo-commit": this.commit, "x-linked-size": String(file.bytes.length) };
      const redirect = this.faults.redirects.get(file.path);
      if (redirect !== undefined) {
        res.writeHead(302, { ...common, location: redirect }).end();
        return;
      }
      if (file.lfs) {
        res.writeHead(302, {
          ...common,
          location: `${this.storageUrl}/blobs/${sha256(file.bytes)}?path=${encodeURIComponent(file.path)}&sig=presigned`,
        });
        res.end();
        return;
      }
      res.writeHead(200, { ...common, "content-length": String(file.bytes.length) });
      res.end(file.bytes);
      return;
    }
    res.writeHead(404, { "content-type": "application/json" });
    res.end(JSON.stringify({ error: "Repository not found" }));
  }

  /** One page of the tree API (or the configured misbehaviour). */
  private answerListing(url: string, parsed: URL, res: import("node:http").ServerResponse) {
    const { repo } = this.options;
    const pageSize = this.options.pageSize ?? 4;
    const cursor = Number(parsed.searchParams.get("cursor") ?? 0);
    const page = this.options.files.slice(cursor, cursor + pageSize).map((file) => this.treeEntry(file));
    const fault = this.faults.listing;
    if (fault?.kind === "silent") return;
    if (fault?.kind === "body") {
      res.writeHead(200, { "content-type": "application/json" }).end(fault.body);
      return;
    }
    if (fault?.kind === "entry" && cursor === 0) fault.edit(page[0] as Record<string, unknown>);
    const next = cursor + pageSize;
    const pageUrl = (at: number) =>
      `${this.hubUrl}/api/models/${repo}/tree/${this.commit}?recursive=true&cursor=${at}`;
    const link =
      fault?.kind === "link"
        ? { link: fault.link }
        : fault?.kind === "self-link"
          ? { link: `<${this.hubUrl}${url}>; rel="next"` }
          : fault?.kind === "endless"
            ? { link: `<${pageUrl(cursor + 1)}>; rel="next"` }
            : next < this.options.files.length
              ? { link: `<${pageUrl(next)}>; rel="next"` }
              : {};
    res.writeHead(200, { "content-type": "application/json", ...link });
    res.end(
      JSON.stringify([
        ...(cursor === 0 ? [{ type: "directory", path: "unet", size: 0, oid: "0" }] : []),
        ...page,
      ]),
    );
  }

  private onStorage(url: string, headers: IncomingHttpHeaders, res: import("node:http").ServerResponse) {
    this.requests.push({ server: "storage", url, headers });
    const path = new URL(url, this.storageUrl).searchParams.get("path") ?? "";
    const file = this.options.files.find((f) => f.path === path);
    if (!file) {
      res.writeHead(404).end();
      return;
    }
    let bytes = file.bytes;
    if (this.corrupt.has(path)) {
      bytes = Buffer.from(bytes);
      bytes[bytes.length >> 1] = bytes[bytes.length >> 1]! ^ 0xff;
    }
    const range = /^bytes=(\d+)-$/.exec(headers.range ?? "");
    const start = range ? Number(range[1]) : 0;
    if (start >= bytes.length && range) {
      res.writeHead(416, { "content-range": `bytes */${bytes.length}` }).end();
      return;
    }
    const body = bytes.subarray(start);
    res.writeHead(range ? 206 : 200, {
      "content-length": String(body.length),
      ...(range ? { "content-range": `bytes ${start}-${bytes.length - 1}/${bytes.length}` } : {}),
    });
    const cut = this.cutAfter.get(path);
    if (cut !== undefined) {
      this.cutAfter.delete(path);
      // Give the client time to read what was sent: an errored stream drops bytes still queued.
      res.write(body.subarray(0, cut), () => setTimeout(() => res.socket?.destroy(), 150));
      return;
    }
    res.end(body);
  }
}
