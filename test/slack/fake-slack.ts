/**
 * A loopback stand-in for Slack, enough for easel's Slack app: the Web API methods it calls (with
 * Slack's wire formats: form-encoded or JSON requests, `{ok, error}` answers, 429 + Retry-After),
 * the external upload URL (bytes kept whole), `response_url`s (which can expire), and a Socket Mode
 * WebSocket server (`apps.connections.open` → ws URL, `hello`, envelopes, acks by envelope_id).
 * Every call is recorded with its time, so tests can check what was posted where, and in what order.
 */
import { randomUUID } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { type WebSocket, WebSocketServer } from "ws";

export interface RecordedCall {
  method: string;
  params: Record<string, unknown>;
  /** The bearer token the call carried (header or `token` parameter). */
  token: string | undefined;
  /** performance.now() when the call arrived. */
  at: number;
  /** What the fake answered: `ok`, or the error it injected. */
  outcome: "ok" | "rate_limited" | string;
}

export interface PostedMessage {
  channel: string;
  ts: string;
  text: string;
  blocks: unknown[] | undefined;
  thread_ts: string | undefined;
  /** Every version, first the posted one, then each update. */
  history: Array<{ text: string; blocks: unknown[] | undefined }>;
}

export interface Upload {
  fileId: string;
  filename: string;
  /** The length announced in files.getUploadURLExternal. */
  length: number;
  /** The bytes that reached the upload URL (undefined until then). */
  bytes: Buffer | undefined;
  contentType: string | undefined;
  /** Set by files.completeUploadExternal. */
  channel: string | undefined;
  title: string | undefined;
  initialComment: string | undefined;
}

export interface Ephemeral {
  channel: string;
  user: string;
  text: string;
  via: "chat.postEphemeral" | "response_url";
}

export interface Envelope {
  envelope_id: string;
  type: string;
  payload: unknown;
  sentAt: number;
  /** performance.now() when the app acked it, and the ack's optional payload. */
  ackedAt?: number;
  ackPayload?: unknown;
}

/** A failure to inject into the next call(s) of a method. */
export type Fault =
  | { error: string }
  | { rateLimited: { retryAfterSeconds: number } }
  | { httpStatus: number };

export interface FakeSlackOptions {
  teamId?: string;
  botUserId?: string;
  botToken?: string;
  appToken?: string;
}

const json = (res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) => {
  res.writeHead(status, { "content-type": "application/json; charset=utf-8", ...headers });
  res.end(JSON.stringify(body));
};

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/** Slack's form encoding: scalar fields, with arrays and objects as JSON strings. */
function parseParams(body: Buffer, contentType: string | undefined): Record<string, unknown> {
  if (body.length === 0) return {};
  if (contentType?.includes("application/json")) return JSON.parse(body.toString("utf8"));
  const params: Record<string, unknown> = {};
  for (const [key, value] of new URLSearchParams(body.toString("utf8"))) {
    params[key] = /^[[{]/.test(value) ? safeJson(value) : value;
  }
  return params;
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

export class FakeSlack {
  readonly teamId: string;
  readonly botUserId: string;
  readonly botToken: string;
  readonly appToken: string;
  readonly calls: RecordedCall[] = [];
  readonly messages: PostedMessage[] = [];
  readonly uploads = new Map<string, Upload>();
  readonly ephemerals: Ephemeral[] = [];
  /** Direct-message channels the bot opened (conversations.open), by user id. */
  readonly directMessages = new Map<string, string>();
  /** Messages removed with chat.delete. */
  readonly deleted: PostedMessage[] = [];
  /** Downloads of files' private URLs: which file, and whether the bot token came with it. */
  readonly privateDownloads: Array<{ file: string; authorised: boolean }> = [];
  /** Files removed with files.delete (their uploads stay in `uploads`). */
  readonly deletedFiles = new Set<string>();
  readonly envelopes: Envelope[] = [];
  /** Channels the bot is not a member of: posting there answers `not_in_channel`. */
  readonly notInChannel = new Set<string>();
  /** Channels that do not exist: `channel_not_found`. */
  readonly missingChannels = new Set<string>();
  /** Socket Mode connections opened so far. */
  connectionsOpened = 0;

  private readonly server: Server;
  private readonly wss: WebSocketServer;
  private readonly sockets = new Set<WebSocket>();
  private readonly faults = new Map<string, Fault[]>();
  private readonly responseUrls = new Map<string, { channel: string; user: string; expired: boolean }>();
  private readonly waiters = new Set<() => void>();
  private nextTs = 1_700_000_000;
  private port = 0;

  private constructor(options: FakeSlackOptions) {
    this.teamId = options.teamId ?? "T0FAKE";
    this.botUserId = options.botUserId ?? "U0BOT";
    this.botToken = options.botToken ?? "xoxb-fake-bot-token";
    this.appToken = options.appToken ?? "xapp-fake-app-token";
    this.server = createServer((req, res) => {
      this.handle(req, res).catch((error: unknown) => json(res, 500, { ok: false, error: String(error) }));
    });
    this.wss = new WebSocketServer({ noServer: true });
    this.server.on("upgrade", (req, socket, head) => {
      if (!req.url?.startsWith("/socket")) return socket.destroy();
      this.wss.handleUpgrade(req, socket, head, (ws) => this.onSocket(ws));
    });
  }

  static async start(options: FakeSlackOptions = {}): Promise<FakeSlack> {
    const fake = new FakeSlack(options);
    await new Promise<void>((resolve) => fake.server.listen(0, "127.0.0.1", resolve));
    fake.port = (fake.server.address() as AddressInfo).port;
    return fake;
  }

  /** The Web API base, for SLACK_API_URL. */
  get apiUrl(): string {
    return `http://127.0.0.1:${this.port}/api/`;
  }

  get baseUrl(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** Calls of one method, in order. */
  callsOf(method: string): RecordedCall[] {
    return this.calls.filter((call) => call.method === method);
  }

  /** The next `times` calls of `method` fail this way. */
  inject(method: string, fault: Fault, times = 1): void {
    const queue = this.faults.get(method) ?? [];
    for (let i = 0; i < times; i++) queue.push(fault);
    this.faults.set(method, queue);
  }

  /** A fresh response_url for a command or action made by `user` in `channel`. */
  responseUrl(channel: string, user: string): string {
    const id = randomUUID();
    this.responseUrls.set(id, { channel, user, expired: false });
    return `${this.baseUrl}/response/${id}`;
  }

  /** Makes a response_url answer 404 `expired_url`, as Slack does after 30 minutes or 5 uses. */
  expire(url: string): void {
    const entry = this.responseUrls.get(url.slice(url.lastIndexOf("/") + 1));
    if (entry) entry.expired = true;
  }

  /** Resolves once `check` returns a value other than undefined/false; rejects after `timeoutMs`. */
  async waitFor<T>(check: () => T | undefined | false, timeoutMs = 10_000, what = "condition"): Promise<T> {
    const first = check();
    if (first !== undefined && first !== false) return first;
    return new Promise<T>((resolve, reject) => {
      const waiter = () => {
        const value = check();
        if (value === undefined || value === false) return;
        clearTimeout(timer);
        this.waiters.delete(waiter);
        resolve(value);
      };
      const timer = setTimeout(() => {
        this.waiters.delete(waiter);
        reject(new Error(`fake Slack: timed out waiting for ${what}`));
      }, timeoutMs);
      this.waiters.add(waiter);
    });
  }

  /** Sends a Socket Mode envelope to every connected app; resolves with it once acked. */
  async deliver(type: "slash_commands" | "interactive", payload: unknown): Promise<Envelope> {
    const socket = await this.waitFor(() => [...this.sockets][0], 10_000, "a Socket Mode connection");
    const envelope: Envelope = {
      envelope_id: randomUUID(),
      type,
      payload,
      sentAt: performance.now(),
    };
    this.envelopes.push(envelope);
    socket.send(
      JSON.stringify({
        envelope_id: envelope.envelope_id,
        type,
        payload,
        accepts_response_payload: type === "slash_commands",
        retry_attempt: 0,
        retry_reason: "",
      }),
    );
    await this.waitFor(() => envelope.ackedAt !== undefined, 10_000, `the ack of ${envelope.envelope_id}`);
    return envelope;
  }

  /** Drops every Socket Mode connection (as Slack does on a refresh); the app should reconnect. */
  dropSockets(): void {
    for (const socket of this.sockets) socket.terminate();
  }

  get socketCount(): number {
    return this.sockets.size;
  }

  async close(): Promise<void> {
    for (const socket of this.sockets) socket.terminate();
    this.wss.close();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private notify(): void {
    for (const waiter of [...this.waiters]) waiter();
  }

  private onSocket(ws: WebSocket): void {
    this.sockets.add(ws);
    ws.on("close", () => {
      this.sockets.delete(ws);
      this.notify();
    });
    ws.on("message", (data) => {
      const message = safeJson(String(data)) as { envelope_id?: string; payload?: unknown };
      const envelope = this.envelopes.find((e) => e.envelope_id === message.envelope_id);
      if (envelope && envelope.ackedAt === undefined) {
        envelope.ackedAt = performance.now();
        envelope.ackPayload = message.payload;
      }
      this.notify();
    });
    ws.send(
      JSON.stringify({
        type: "hello",
        num_connections: this.sockets.size,
        debug_info: { host: "fake-slack", approximate_connection_time: 3600 },
        connection_info: { app_id: "A0FAKE" },
      }),
    );
    this.notify();
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? "/", this.baseUrl);
    const body = await readBody(req);
    if (url.pathname.startsWith("/upload/")) return this.receiveUpload(url, req, body, res);
    if (url.pathname.startsWith("/files-pri/")) return this.servePrivateFile(url, req, res);
    if (url.pathname.startsWith("/response/")) return this.receiveResponse(url, body, res);
    if (!url.pathname.startsWith("/api/")) return json(res, 404, { ok: false, error: "unknown_path" });

    const method = url.pathname.slice("/api/".length);
    const params = parseParams(body, req.headers["content-type"]);
    const auth = req.headers.authorization;
    const token = auth?.startsWith("Bearer ") ? auth.slice(7) : (params.token as string | undefined);
    const call: RecordedCall = { method, params, token, at: performance.now(), outcome: "ok" };
    this.calls.push(call);
    try {
      const fault = this.faults.get(method)?.shift();
      if (fault) {
        if ("rateLimited" in fault) {
          call.outcome = "rate_limited";
          return json(
            res,
            429,
            { ok: false, error: "ratelimited" },
            {
              "retry-after": String(fault.rateLimited.retryAfterSeconds),
            },
          );
        }
        if ("httpStatus" in fault) {
          call.outcome = `http_${fault.httpStatus}`;
          return json(res, fault.httpStatus, { ok: false, error: "fatal_error" });
        }
        call.outcome = fault.error;
        return json(res, 200, { ok: false, error: fault.error });
      }
      const expected = method === "apps.connections.open" ? this.appToken : this.botToken;
      if (token !== expected) {
        call.outcome = "invalid_auth";
        return json(res, 200, { ok: false, error: "invalid_auth" });
      }
      const answer = this.answer(method, params);
      if (answer.ok === false) call.outcome = String(answer.error);
      return json(res, 200, answer);
    } finally {
      this.notify();
    }
  }

  private channelError(channel: unknown): string | undefined {
    if (typeof channel !== "string" || channel === "" || this.missingChannels.has(channel)) {
      return "channel_not_found";
    }
    if (this.notInChannel.has(channel)) return "not_in_channel";
    return undefined;
  }

  private answer(method: string, params: Record<string, unknown>): Record<string, unknown> {
    switch (method) {
      case "auth.test":
        return {
          ok: true,
          url: "https://fake.slack.test/",
          team: "Fake Team",
          user: "easel",
          team_id: this.teamId,
          user_id: this.botUserId,
          bot_id: "B0BOT",
        };
      case "apps.connections.open":
        this.connectionsOpened++;
        return { ok: true, url: `ws://127.0.0.1:${this.port}/socket?ticket=${randomUUID()}` };
      case "chat.postMessage": {
        const error = this.channelError(params.channel);
        if (error) return { ok: false, error };
        const message: PostedMessage = {
          channel: String(params.channel),
          ts: this.ts(),
          text: String(params.text ?? ""),
          blocks: params.blocks as unknown[] | undefined,
          thread_ts: params.thread_ts as string | undefined,
          history: [],
        };
        message.history.push({ text: message.text, blocks: message.blocks });
        this.messages.push(message);
        return { ok: true, channel: message.channel, ts: message.ts, message: { text: message.text } };
      }
      case "chat.update": {
        const error = this.channelError(params.channel);
        if (error) return { ok: false, error };
        const message = this.messages.find((m) => m.channel === params.channel && m.ts === params.ts);
        if (!message) return { ok: false, error: "message_not_found" };
        message.text = String(params.text ?? "");
        message.blocks = params.blocks as unknown[] | undefined;
        message.history.push({ text: message.text, blocks: message.blocks });
        return { ok: true, channel: message.channel, ts: message.ts, text: message.text };
      }
      case "chat.delete": {
        const error = this.channelError(params.channel);
        if (error) return { ok: false, error };
        const index = this.messages.findIndex((m) => m.channel === params.channel && m.ts === params.ts);
        if (index === -1) return { ok: false, error: "message_not_found" };
        const [deleted] = this.messages.splice(index, 1);
        this.deleted.push(deleted!);
        return { ok: true, channel: params.channel, ts: params.ts };
      }
      case "chat.postEphemeral": {
        const error = this.channelError(params.channel);
        if (error) return { ok: false, error };
        this.ephemerals.push({
          channel: String(params.channel),
          user: String(params.user),
          text: String(params.text ?? ""),
          via: "chat.postEphemeral",
        });
        return { ok: true, message_ts: this.ts() };
      }
      case "conversations.open": {
        // The bot's direct message with one user (`users`), opened once and kept.
        const users = String(params.users ?? "");
        if (!/^[UW][A-Z0-9]+$/.test(users)) return { ok: false, error: "user_not_found" };
        const channel = `D${users.slice(1)}`;
        this.directMessages.set(users, channel);
        return { ok: true, channel: { id: channel } };
      }
      case "files.getUploadURLExternal": {
        const length = Number(params.length);
        if (typeof params.filename !== "string" || !Number.isInteger(length) || length <= 0) {
          return { ok: false, error: "invalid_arguments" };
        }
        const fileId = `F${randomUUID().replaceAll("-", "").slice(0, 10).toUpperCase()}`;
        this.uploads.set(fileId, {
          fileId,
          filename: params.filename,
          length,
          bytes: undefined,
          contentType: undefined,
          channel: undefined,
          title: undefined,
          initialComment: undefined,
        });
        return { ok: true, upload_url: `${this.baseUrl}/upload/${fileId}`, file_id: fileId };
      }
      case "files.completeUploadExternal": {
        const files = (params.files ?? []) as Array<{ id: string; title?: string }>;
        const channel = params.channel_id;
        if (channel !== undefined) {
          const error = this.channelError(channel);
          if (error) return { ok: false, error };
        }
        for (const file of files) {
          const upload = this.uploads.get(file.id);
          if (!upload || upload.bytes === undefined) return { ok: false, error: "file_not_found" };
        }
        for (const file of files) {
          const upload = this.uploads.get(file.id)!;
          upload.channel = channel as string | undefined;
          upload.title = file.title;
          upload.initialComment = params.initial_comment as string | undefined;
        }
        return {
          ok: true,
          files: files.map((file) => ({ id: file.id, title: file.title ?? "" })),
        };
      }
      case "files.info": {
        const file = String(params.file ?? "");
        const upload = this.uploads.get(file);
        if (!upload?.channel || this.deletedFiles.has(file)) return { ok: false, error: "file_not_found" };
        const url = `${this.baseUrl}/files-pri/T0FAKE-${file}/${encodeURIComponent(upload.filename)}`;
        return {
          ok: true,
          file: {
            id: file,
            name: upload.filename,
            title: upload.title ?? upload.filename,
            mimetype: upload.contentType ?? "application/octet-stream",
            size: upload.bytes?.length ?? 0,
            url_private: url,
            url_private_download: `${url}?download=1`,
            channels: [upload.channel],
          },
        };
      }
      case "files.delete": {
        const file = String(params.file ?? "");
        if (!this.uploads.get(file)?.channel || this.deletedFiles.has(file)) {
          return { ok: false, error: "file_not_found" };
        }
        this.deletedFiles.add(file);
        return { ok: true };
      }
      default:
        return { ok: false, error: "unknown_method" };
    }
  }

  private ts(): string {
    this.nextTs++;
    return `${this.nextTs}.000100`;
  }

  /**
   * A file's private URL: its bytes with the bot token as `Authorization: Bearer`; without it,
   * Slack's sign-in page (HTML, status 200), as the real one answers.
   */
  private servePrivateFile(url: URL, req: IncomingMessage, res: ServerResponse): void {
    const file = /^\/files-pri\/[^/-]+-([^/]+)\//.exec(url.pathname)?.[1] ?? "";
    const upload = this.uploads.get(file);
    const authorised = req.headers.authorization === `Bearer ${this.botToken}`;
    this.privateDownloads.push({ file, authorised });
    if (!authorised) {
      res.writeHead(200, { "content-type": "text/html" }).end("<!DOCTYPE html><title>Sign in</title>");
      return;
    }
    if (!upload?.bytes || this.deletedFiles.has(file)) {
      res.writeHead(404, { "content-type": "text/plain" }).end("file not found");
      return;
    }
    res.writeHead(200, { "content-type": "application/octet-stream" }).end(upload.bytes);
  }

  /** The upload URL: Slack takes the raw bytes or a multipart form with one file part. */
  private receiveUpload(url: URL, req: IncomingMessage, body: Buffer, res: ServerResponse): void {
    const upload = this.uploads.get(url.pathname.slice("/upload/".length));
    this.calls.push({
      method: "upload",
      params: { path: url.pathname },
      token: undefined,
      at: performance.now(),
      outcome: "ok",
    });
    if (!upload) {
      res.writeHead(404).end("not found");
      this.notify();
      return;
    }
    const contentType = req.headers["content-type"];
    upload.bytes = multipartFile(body, contentType) ?? body;
    upload.contentType = contentType;
    res.writeHead(200, { "content-type": "text/plain" }).end(`OK - ${upload.bytes.length}`);
    this.notify();
  }

  private receiveResponse(url: URL, body: Buffer, res: ServerResponse): void {
    const entry = this.responseUrls.get(url.pathname.slice("/response/".length));
    this.calls.push({
      method: "response_url",
      params: parseParams(body, "application/json"),
      token: undefined,
      at: performance.now(),
      outcome: entry?.expired ? "expired_url" : "ok",
    });
    this.notify();
    if (!entry) return void res.writeHead(404).end("invalid_url");
    if (entry.expired) return void res.writeHead(404).end("expired_url");
    const message = parseParams(body, "application/json") as { text?: string; response_type?: string };
    if (message.response_type === "in_channel") {
      this.messages.push({
        channel: entry.channel,
        ts: this.ts(),
        text: String(message.text ?? ""),
        blocks: undefined,
        thread_ts: undefined,
        history: [{ text: String(message.text ?? ""), blocks: undefined }],
      });
    } else {
      this.ephemerals.push({
        channel: entry.channel,
        user: entry.user,
        text: String(message.text ?? ""),
        via: "response_url",
      });
    }
    res.writeHead(200, { "content-type": "text/plain" }).end("ok");
    this.notify();
  }
}

/** The first file part of a multipart/form-data body, if it is one. */
function multipartFile(body: Buffer, contentType: string | undefined): Buffer | undefined {
  const boundary = contentType?.match(/boundary=(?:"([^"]+)"|([^;]+))/);
  if (!contentType?.startsWith("multipart/form-data") || !boundary) return undefined;
  const delimiter = Buffer.from(`--${boundary[1] ?? boundary[2]}`);
  let start = body.indexOf(delimiter);
  while (start !== -1) {
    const headerEnd = body.indexOf("\r\n\r\n", start);
    const next = body.indexOf(delimiter, headerEnd);
    if (headerEnd === -1 || next === -1) return undefined;
    const headers = body.subarray(start, headerEnd).toString("utf8");
    if (/filename=/i.test(headers)) return body.subarray(headerEnd + 4, next - 2);
    start = next;
  }
  return undefined;
}
