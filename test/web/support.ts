/**
 * What the web tests share: easel started for real (startEasel: the embedded queue, the chat
 * service, our http adapter) on a free port and a fresh data folder, with the simulated engine, and
 * an HTTP client that keeps cookies like a browser or `curl -c/-b`.
 */

import { mkdtemp, rm } from "node:fs/promises";
import { request as httpRequest } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before } from "node:test";
import { createHttpAdapter } from "../../src/bots/web/index.js";
import { loadConfig } from "../../src/config.js";
import { silentLogger } from "../../src/logger.js";
import { type Easel, startEasel } from "../../src/main.js";
import type { SimulatedEngineSpec } from "../../src/queue/index.js";

/** A test or a file: what cleans up after it (a TestContext, or node:test's `after`). */
export interface Scope {
  after(fn: () => unknown): void;
}

export async function tempDir(scope: Scope): Promise<string> {
  const path = await mkdtemp(join(tmpdir(), "easel-web-"));
  scope.after(() => rm(path, { recursive: true, force: true }));
  return path;
}

export const FAST_ENGINE: SimulatedEngineSpec = { kind: "simulated", stepMs: 2 };

export interface WebEasel {
  easel: Easel;
  /** `http://127.0.0.1:<port>/` */
  url: string;
  port: number;
  dataDir: string;
  stop(): Promise<void>;
}

export interface StartOptions {
  dataDir?: string;
  /** Settings as environment variables, over the tests' defaults. */
  env?: Record<string, string>;
  engine?: SimulatedEngineSpec;
}

/**
 * easel on the simulated engine (a prompt's `[sim:step-ms=N]` slows one job down), web server on a
 * free loopback port; stopped when the scope ends.
 */
export async function startWebEasel(scope: Scope, options: StartOptions = {}): Promise<WebEasel> {
  const dataDir = options.dataDir ?? (await tempDir(scope));
  const config = loadConfig({
    EASEL_DATA_DIR: dataDir,
    // A model folder is named so that no demo model is written: the simulated engine runs instead.
    EASEL_MODEL_DIR: join(dataDir, "model"),
    EASEL_WEB_PORT: "0",
    EASEL_LOG_LEVEL: "silent",
    ...options.env,
  });
  let address: { url: string; port: number } | undefined;
  const easel = await startEasel(config, {
    logger: silentLogger,
    adapters: [createHttpAdapter({ onListening: (server) => (address = server) })],
    queue: { engineFor: () => options.engine ?? FAST_ENGINE, sweepEveryMs: 0 },
  });
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    await easel.stop();
  };
  scope.after(stop);
  if (!address) throw new Error("the http adapter did not start");
  return { easel, url: address.url, port: address.port, dataDir, stop };
}

/**
 * One easel for a whole test file (started before its first test, stopped after its last), for
 * tests that need no settings of their own; returns a getter.
 */
export function sharedWebEasel(options: StartOptions = {}): () => WebEasel {
  let instance: WebEasel | undefined;
  const cleanups: Array<() => unknown> = [];
  before(async () => {
    instance = await startWebEasel({ after: (fn) => cleanups.push(fn) }, options);
  });
  after(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup();
  });
  return () => {
    if (!instance) throw new Error("the shared easel has not started");
    return instance;
  };
}

export interface Answer {
  status: number;
  headers: Headers;
  text: string;
  // biome-ignore lint/suspicious/noExplicitAny: test answers are inspected field by field
  json: any;
}

/** A client that keeps the cookies it is given, as a browser or `curl -c jar -b jar` does. */
export class Client {
  readonly cookies = new Map<string, string>();

  constructor(
    readonly base: string,
    readonly headers: Record<string, string> = {},
  ) {}

  async call(
    method: string,
    path: string,
    body?: unknown,
    headers: Record<string, string> = {},
  ): Promise<Answer> {
    const response = await fetch(new URL(path, this.base), {
      method,
      headers: {
        ...this.headers,
        ...(body === undefined ? {} : { "content-type": "application/json" }),
        ...this.cookieHeader(),
        ...headers,
      },
      body: body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body),
    });
    this.keep(response.headers);
    const text = await response.text();
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      json = undefined;
    }
    return { status: response.status, headers: response.headers, text, json };
  }

  get = (path: string, headers?: Record<string, string>) => this.call("GET", path, undefined, headers);
  post = (path: string, body: unknown, headers?: Record<string, string>) =>
    this.call("POST", path, body, headers);
  delete = (path: string) => this.call("DELETE", path);

  /** A binary answer's bytes (an image), with the client's cookies. */
  async bytes(path: string): Promise<Buffer> {
    const response = await fetch(new URL(path, this.base), {
      headers: { ...this.headers, ...this.cookieHeader() },
    });
    if (response.status !== 200) throw new Error(`${path} answered ${response.status}`);
    return Buffer.from(await response.arrayBuffer());
  }

  /** A job's events until the server ends the stream (or `until` says stop); each with its parsed data. */
  async events(
    jobId: string,
    until: (event: ServerEvent) => boolean = () => false,
    timeoutMs = 20_000,
  ): Promise<ServerEvent[]> {
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(new Error("event stream timed out")), timeoutMs);
    const events: ServerEvent[] = [];
    try {
      const response = await fetch(new URL(`/api/v1/jobs/${jobId}/events`, this.base), {
        headers: { ...this.headers, ...this.cookieHeader() },
        signal: controller.signal,
      });
      if (response.status !== 200) throw new Error(`event stream answered ${response.status}`);
      if (!response.headers.get("content-type")?.startsWith("text/event-stream")) {
        throw new Error("not an event stream");
      }
      const decoder = new TextDecoder();
      let buffer = "";
      for await (const chunk of response.body!) {
        buffer += decoder.decode(chunk as Uint8Array, { stream: true });
        let end = buffer.indexOf("\n\n");
        while (end !== -1) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          const event = parseEvent(block);
          if (event) {
            events.push(event);
            if (until(event)) {
              controller.abort();
              return events;
            }
          }
          end = buffer.indexOf("\n\n");
        }
      }
      return events;
    } catch (error) {
      if (controller.signal.aborted && events.length > 0 && until(events.at(-1)!)) return events;
      throw error;
    } finally {
      clearTimeout(timer);
    }
  }

  private cookieHeader(): Record<string, string> {
    if (this.cookies.size === 0) return {};
    return { cookie: [...this.cookies].map(([name, value]) => `${name}=${value}`).join("; ") };
  }

  private keep(headers: Headers): void {
    for (const line of headers.getSetCookie()) {
      const [pair] = line.split(";");
      const eq = pair!.indexOf("=");
      this.cookies.set(pair!.slice(0, eq).trim(), pair!.slice(eq + 1).trim());
    }
  }
}

export interface ServerEvent {
  id: string | undefined;
  event: string;
  // biome-ignore lint/suspicious/noExplicitAny: parsed event data is inspected field by field
  data: any;
}

function parseEvent(block: string): ServerEvent | undefined {
  let event = "message";
  let id: string | undefined;
  const data: string[] = [];
  for (const line of block.split("\n")) {
    if (line.startsWith(":") || line === "") continue;
    const colon = line.indexOf(":");
    const field = colon === -1 ? line : line.slice(0, colon);
    const value = colon === -1 ? "" : line.slice(colon + 1).replace(/^ /, "");
    if (field === "event") event = value;
    else if (field === "data") data.push(value);
    else if (field === "id") id = value;
  }
  if (data.length === 0) return undefined;
  return { id, event, data: JSON.parse(data.join("\n")) };
}

/** The final state of a job, followed over its event stream. */
export async function finished(client: Client, jobId: string): Promise<ServerEvent> {
  const events = await client.events(jobId);
  const last = events.at(-1);
  if (!last || !["done", "failed", "cancelled"].includes(last.event)) {
    throw new Error(
      `job ${jobId} stream ended without a final event: ${events.map((e) => e.event).join(",")}`,
    );
  }
  return last;
}

/** A raw request with any Host header (fetch sets Host itself). */
export function rawRequest(
  port: number,
  options: { method?: string; path: string; headers?: Record<string, string>; body?: string },
): Promise<{ status: number; body: string; headers: Record<string, string | string[] | undefined> }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      {
        host: "127.0.0.1",
        port,
        method: options.method ?? "GET",
        path: options.path,
        headers: options.headers,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (chunk: Buffer) => chunks.push(chunk));
        res.on("end", () =>
          resolve({
            status: res.statusCode ?? 0,
            body: Buffer.concat(chunks).toString("utf8"),
            headers: res.headers,
          }),
        );
      },
    );
    req.on("error", reject);
    req.end(options.body);
  });
}
