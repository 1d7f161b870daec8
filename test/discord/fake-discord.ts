/**
 * A loopback Discord for tests: the REST v10 routes the bot uses (gateway lookup, application
 * commands, interaction callbacks, webhook edits and follow-ups, channel messages to post, edit
 * and delete; JSON and multipart bodies, whose files are kept whole) and the gateway (fake-gateway.ts). It enforces the
 * rules the bot must honour — answer an interaction within 3 s and only once, the interaction token
 * expires, a deferred reply's first follow-up replaces the "thinking" message — records every
 * request, and injects 429s and 5xx on chosen routes.
 */
import { randomBytes } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { FakeGateway } from "./fake-gateway.js";

/** Discord's epoch for snowflakes. */
const DISCORD_EPOCH = 1_420_070_400_000n;
let snowflakeCounter = 0n;

/** A snowflake id (17-19 digits, as discord.js's route hashing expects). */
export function snowflake(): string {
  snowflakeCounter = (snowflakeCounter + 1n) & 0xfffn;
  return String(((BigInt(Date.now()) - DISCORD_EPOCH) << 22n) | snowflakeCounter);
}

/** Permission bits the bot's checks read. */
export const PERMISSIONS = {
  viewChannel: 1n << 10n,
  sendMessages: 1n << 11n,
  embedLinks: 1n << 14n,
  attachFiles: 1n << 15n,
  readMessageHistory: 1n << 16n,
  useApplicationCommands: 1n << 31n,
};
export const ALL_BOT_PERMISSIONS = Object.values(PERMISSIONS).reduce((a, b) => a | b, 0n);

export interface ButtonComponent {
  type: 2;
  style: number;
  label?: string;
  custom_id?: string;
  disabled?: boolean;
}
export interface ActionRow {
  type: 1;
  components: ButtonComponent[];
}
export interface AttachmentObject {
  id: string;
  filename: string;
  size: number;
  url: string;
  proxy_url: string;
  content_type?: string;
  description?: string;
}
/** The JSON part of a message create/edit body. */
export interface MessageBody {
  content?: string | null;
  flags?: number;
  components?: ActionRow[];
  attachments?: Array<{ id: string | number; filename?: string; description?: string }>;
  allowed_mentions?: { parse?: string[]; users?: string[]; roles?: string[]; replied_user?: boolean };
  embeds?: unknown[];
}
export interface CommandDefinition {
  name: string;
  description: string;
  type?: number;
  options?: unknown[];
  contexts?: number[] | null;
  [key: string]: unknown;
}
/** An option as an interaction carries it; a subcommand (type 1) carries its own options. */
export type CommandOptionValue =
  | { name: string; type: number; value: string | number | boolean }
  | { name: string; type: 1; options: CommandOptionValue[] };
interface CallbackBody {
  type: number;
  data?: MessageBody;
}

export interface UploadedFile {
  field: string;
  name: string;
  contentType: string;
  data: Buffer;
}

export interface RecordedRequest {
  /** ms since the fake started (performance.now() based). */
  at: number;
  method: string;
  /** The path after /api/v10, e.g. /channels/123/messages. */
  route: string;
  query: URLSearchParams;
  authorization: string | undefined;
  json: unknown;
  files: UploadedFile[];
  status: number;
}

export interface StoredMessage {
  id: string;
  channelId: string;
  content: string;
  flags: number;
  components: ActionRow[];
  attachments: AttachmentObject[];
  /** Bytes of each attachment by attachment id. */
  files: Map<string, UploadedFile>;
  /** The interaction whose response or follow-up this is. */
  interactionId: string | undefined;
  /** A deferred "thinking" message not yet edited. */
  thinking: boolean;
  deleted: boolean;
  edits: number;
  allowedMentions: MessageBody["allowed_mentions"];
}

export interface FakeChannel {
  id: string;
  guildId: string | undefined;
  name: string;
  nsfw: boolean;
  /** 0 guild text, 1 DM. */
  type: number;
  /** The bot's permissions there (sent as app_permissions). */
  botPermissions: bigint;
}

export interface FakeUser {
  id: string;
  username: string;
}

export interface FakeGuild {
  id: string;
  name: string;
  roles: string[];
}

export interface InteractionRecord {
  id: string;
  token: string;
  type: number;
  channelId: string;
  guildId: string | undefined;
  user: FakeUser;
  dispatchedAt: number;
  /** The message a component sits on. */
  componentMessageId: string | undefined;
  callback: { type: number; at: number; data: MessageBody | undefined } | undefined;
  originalMessageId: string | undefined;
}

export interface Fault {
  method?: string;
  route: RegExp;
  status: 403 | 429 | 500 | 502 | 503;
  /** 429: seconds to wait (sent in the body, Retry-After and X-RateLimit-Reset-After). */
  retryAfter?: number;
  /** How many matching requests fail; default 1. */
  times?: number;
  /** How many requests actually failed. */
  hits?: number;
}

export interface FakeDiscordOptions {
  token?: string;
  applicationId?: string;
  /** Answer window of an interaction (Discord: 3 s). */
  ackDeadlineMs?: number;
  /** Life of an interaction token (Discord: 15 min). */
  tokenLifetimeMs?: number;
  /** Per-file upload limit sent with interactions. */
  attachmentSizeLimit?: number;
  heartbeatIntervalMs?: number;
}

class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly body: Record<string, unknown>,
  ) {
    super(String(body.message));
  }
}

const json = (res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) => {
  if (body === undefined) {
    res.writeHead(status, headers);
    res.end();
    return;
  }
  res.writeHead(status, { "content-type": "application/json", ...headers });
  res.end(JSON.stringify(body));
};

export class FakeDiscord {
  readonly token: string;
  readonly applicationId: string;
  readonly botUser: FakeUser = { id: snowflake(), username: "easel" };
  readonly requests: RecordedRequest[] = [];
  readonly messages = new Map<string, StoredMessage>();
  readonly channels = new Map<string, FakeChannel>();
  /** The bot's direct-message channels, by the user's id. */
  readonly directMessages = new Map<string, FakeChannel>();
  readonly guilds = new Map<string, FakeGuild>();
  /** Registered commands: "global" or a guild id → definitions. */
  readonly commands = new Map<string, Array<CommandDefinition & { id: string }>>();
  readonly interactions = new Map<string, InteractionRecord>();
  readonly gateway: FakeGateway;
  readonly options: Required<FakeDiscordOptions>;
  private readonly faults: Fault[] = [];
  private readonly sourceFiles = new Map<string, { data: Buffer; contentType: string }>();
  /**
   * The signing round of the CDN's attachment URLs: a message read now carries `?ex=<round>`; a
   * URL of an earlier round is refused, as Discord's signed URLs expire (about a day).
   */
  private urlRound = 1;
  private readonly server: Server;
  private readonly listeners = new Set<() => void>();
  private port = 0;
  private readonly started = performance.now();

  constructor(options: FakeDiscordOptions = {}) {
    this.options = {
      token: options.token ?? `fake.${randomBytes(12).toString("hex")}`,
      applicationId: options.applicationId ?? snowflake(),
      ackDeadlineMs: options.ackDeadlineMs ?? 3000,
      tokenLifetimeMs: options.tokenLifetimeMs ?? 15 * 60_000,
      attachmentSizeLimit: options.attachmentSizeLimit ?? 10 * 1024 * 1024,
      heartbeatIntervalMs: options.heartbeatIntervalMs ?? 41_250,
    };
    this.token = this.options.token;
    this.applicationId = this.options.applicationId;
    this.server = createServer((req, res) => void this.handle(req, res));
    this.gateway = new FakeGateway(
      () => this.baseUrl,
      {
        readyData: () => ({
          user: { id: this.botUser.id, username: this.botUser.username, discriminator: "0", bot: true },
          application: { id: this.applicationId, flags: 0 },
          guilds: [...this.guilds.values()].map((guild) => ({ id: guild.id, unavailable: true })),
          private_channels: [],
        }),
        afterReady: () =>
          [...this.guilds.values()].map((guild) => ({ t: "GUILD_CREATE", d: this.guildPayload(guild) })),
      },
      this.options.heartbeatIntervalMs,
    );
    this.gateway.attach(this.server);
  }

  async start(): Promise<this> {
    await new Promise<void>((resolve) => this.server.listen(0, "127.0.0.1", resolve));
    this.port = (this.server.address() as AddressInfo).port;
    return this;
  }

  async close(): Promise<void> {
    this.gateway.close();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  get baseUrl(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** What DISCORD_API_URL is set to (discord.js appends /v10). */
  get apiUrl(): string {
    return `${this.baseUrl}/api`;
  }

  now(): number {
    return performance.now() - this.started;
  }

  // ── World setup ────────────────────────────────────────────────────────────────────────────

  addGuild(name = "guild", roles: string[] = []): FakeGuild {
    const guild = { id: snowflake(), name, roles };
    this.guilds.set(guild.id, guild);
    return guild;
  }

  addChannel(
    guild: FakeGuild | undefined,
    options: Partial<Omit<FakeChannel, "id" | "guildId">> = {},
  ): FakeChannel {
    const channel: FakeChannel = {
      id: snowflake(),
      guildId: guild?.id,
      name: options.name ?? (guild ? "general" : "dm"),
      nsfw: options.nsfw ?? false,
      type: options.type ?? (guild ? 0 : 1),
      botPermissions: options.botPermissions ?? ALL_BOT_PERMISSIONS,
    };
    this.channels.set(channel.id, channel);
    return channel;
  }

  /** A file Discord's CDN would serve (an uploaded attachment), as the attachment object. */
  addSourceAttachment(filename: string, data: Uint8Array, contentType = "image/png"): AttachmentObject {
    const id = snowflake();
    this.sourceFiles.set(id, { data: Buffer.from(data), contentType });
    const url = `${this.baseUrl}/attachments/${id}/${encodeURIComponent(filename)}`;
    return { id, filename, size: data.length, url, proxy_url: url, content_type: contentType };
  }

  /** Downloads of attachment URLs: the path, the URL's signing round, whether it was served. */
  readonly attachmentDownloads: Array<{ path: string; round: string | null; served: boolean }> = [];

  /** Lets every attachment URL handed out so far expire: only a message read again has fresh ones. */
  expireAttachmentUrls(): void {
    this.urlRound++;
  }

  fault(fault: Fault): Fault {
    fault.hits = 0;
    this.faults.push(fault);
    return fault;
  }

  // ── Interactions ───────────────────────────────────────────────────────────────────────────

  /** Dispatches a slash command; `options` as Discord sends them (name, type, value). */
  slashCommand(input: {
    user: FakeUser;
    channel: FakeChannel;
    name?: string;
    options?: CommandOptionValue[];
    attachment?: AttachmentObject;
    roles?: string[];
  }): InteractionRecord {
    const options = [...(input.options ?? [])];
    const resolved: Record<string, unknown> = {};
    if (input.attachment) {
      options.push({ name: "image", type: 11, value: input.attachment.id });
      resolved.attachments = { [input.attachment.id]: input.attachment };
    }
    return this.dispatchInteraction(input.user, input.channel, input.roles ?? [], 2, undefined, {
      id: snowflake(),
      name: input.name ?? "imagine",
      type: 1,
      options,
      resolved,
    });
  }

  /** Dispatches a button press on a message the bot posted. */
  pressButton(input: {
    user: FakeUser;
    message: StoredMessage;
    customId: string;
    roles?: string[];
  }): InteractionRecord {
    const channel = this.channels.get(input.message.channelId);
    if (!channel) throw new Error("unknown channel");
    return this.dispatchInteraction(input.user, channel, input.roles ?? [], 3, input.message, {
      custom_id: input.customId,
      component_type: 2,
    });
  }

  private dispatchInteraction(
    user: FakeUser,
    channel: FakeChannel,
    roles: string[],
    type: number,
    message: StoredMessage | undefined,
    data: Record<string, unknown>,
  ): InteractionRecord {
    const record: InteractionRecord = {
      id: snowflake(),
      token: `itoken-${randomBytes(16).toString("hex")}`,
      type,
      channelId: channel.id,
      guildId: channel.guildId,
      user,
      dispatchedAt: this.now(),
      componentMessageId: message?.id,
      callback: undefined,
      originalMessageId: message?.id,
    };
    this.interactions.set(record.id, record);
    const apiUser = { id: user.id, username: user.username, discriminator: "0", global_name: user.username };
    const payload: Record<string, unknown> = {
      id: record.id,
      application_id: this.applicationId,
      type,
      data,
      token: record.token,
      version: 1,
      channel: this.channelPayload(channel),
      channel_id: channel.id,
      app_permissions: String(channel.botPermissions),
      locale: "en-US",
      entitlements: [],
      authorizing_integration_owners: channel.guildId ? { "0": channel.guildId } : { "1": user.id },
      context: channel.guildId ? 0 : 1,
      attachment_size_limit: this.options.attachmentSizeLimit,
    };
    if (channel.guildId) {
      payload.guild_id = channel.guildId;
      payload.guild_locale = "en-US";
      payload.member = {
        user: apiUser,
        roles,
        permissions: String(ALL_BOT_PERMISSIONS),
        joined_at: new Date().toISOString(),
        deaf: false,
        mute: false,
        flags: 0,
        nick: null,
      };
    } else {
      payload.user = apiUser;
    }
    if (message) payload.message = this.messagePayload(message);
    this.gateway.dispatch("INTERACTION_CREATE", payload);
    return record;
  }

  // ── Queries for tests ──────────────────────────────────────────────────────────────────────

  /** Requests matching a method and a route pattern, in order. */
  calls(method: string, route: RegExp): RecordedRequest[] {
    return this.requests.filter((r) => r.method === method && route.test(r.route));
  }

  /** Resolves when `check` returns a value (re-checked on every request and dispatch). */
  async waitFor<T>(check: () => T | undefined | false, timeoutMs = 10_000, what = "condition"): Promise<T> {
    const first = check();
    if (first) return first;
    return await new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.listeners.delete(listener);
        reject(new Error(`timed out waiting for ${what}`));
      }, timeoutMs);
      const listener = () => {
        const value = check();
        if (!value) return;
        clearTimeout(timer);
        this.listeners.delete(listener);
        resolve(value);
      };
      this.listeners.add(listener);
    });
  }

  /** The message an interaction's responses live in. */
  original(interaction: InteractionRecord): StoredMessage | undefined {
    const record = this.interactions.get(interaction.id);
    return record?.originalMessageId ? this.messages.get(record.originalMessageId) : undefined;
  }

  /** Messages in a channel, oldest first. */
  channelMessages(channelId: string): StoredMessage[] {
    return [...this.messages.values()].filter((m) => m.channelId === channelId && !m.deleted);
  }

  /** Bytes of a message's attachment. */
  file(message: StoredMessage, attachment: AttachmentObject): Buffer {
    return message.files.get(attachment.id)!.data;
  }

  // ── HTTP ───────────────────────────────────────────────────────────────────────────────────

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? "/", this.baseUrl);
    if (req.method === "GET" && url.pathname.startsWith("/attachments/")) {
      const file = this.sourceFiles.get(url.pathname.split("/")[2] ?? "");
      const round = url.searchParams.get("ex");
      const fresh = round === null || round === String(this.urlRound);
      this.attachmentDownloads.push({ path: url.pathname, round, served: file !== undefined && fresh });
      if (!file) return json(res, 404, { message: "Not found" });
      if (!fresh) {
        res.writeHead(404, { "content-type": "text/plain" }).end("This content is no longer available.");
        return;
      }
      res.writeHead(200, { "content-type": file.contentType, "content-length": file.data.length });
      res.end(file.data);
      return;
    }
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const raw = Buffer.concat(chunks);
    const route = decodeURIComponent(url.pathname).replace(/^\/api\/v10/, "");
    const record: RecordedRequest = {
      at: this.now(),
      method: req.method ?? "GET",
      route,
      query: url.searchParams,
      authorization: req.headers.authorization,
      json: undefined,
      files: [],
      status: 0,
    };
    this.requests.push(record);
    try {
      if (!url.pathname.startsWith("/api/v10/"))
        throw new HttpError(404, { message: "404: Not Found", code: 0 });
      await this.parseBody(req, raw, record);
      const fault = this.faults.find(
        (f) =>
          (f.method ?? record.method) === record.method && f.route.test(route) && f.hits! < (f.times ?? 1),
      );
      if (fault) {
        fault.hits!++;
        record.status = fault.status;
        if (fault.status === 429) {
          const after = fault.retryAfter ?? 0.2;
          json(
            res,
            429,
            { message: "You are being rate limited.", retry_after: after, global: false },
            {
              "retry-after": String(after),
              "x-ratelimit-limit": "5",
              "x-ratelimit-remaining": "0",
              "x-ratelimit-reset-after": String(after),
              "x-ratelimit-bucket": "fakebucket",
              "x-ratelimit-scope": "user",
            },
          );
        } else if (fault.status === 403) {
          json(res, 403, { message: "Missing Permissions", code: 50013 });
        } else {
          json(res, fault.status, { message: "Server error", code: 0 });
        }
        return;
      }
      const [status, body] = this.route(record);
      record.status = status;
      json(res, status, body, {
        "x-ratelimit-limit": "5",
        "x-ratelimit-remaining": "4",
        "x-ratelimit-reset-after": "1",
        "x-ratelimit-bucket": `b-${route.split("/")[1] ?? ""}`,
      });
    } catch (error) {
      const status = error instanceof HttpError ? error.status : 500;
      record.status = status;
      json(res, status, error instanceof HttpError ? error.body : { message: String(error), code: 0 });
    } finally {
      for (const listener of [...this.listeners]) listener();
    }
  }

  private async parseBody(req: IncomingMessage, raw: Buffer, record: RecordedRequest): Promise<void> {
    if (raw.length === 0) return;
    const type = req.headers["content-type"] ?? "";
    if (type.startsWith("multipart/form-data")) {
      const form = await new Request("http://fake/", {
        method: "POST",
        headers: { "content-type": type },
        body: raw,
      }).formData();
      for (const [field, value] of form.entries()) {
        if (typeof value === "string") {
          if (field === "payload_json") record.json = JSON.parse(value);
        } else {
          record.files.push({
            field,
            name: value.name,
            contentType: value.type,
            data: Buffer.from(await value.arrayBuffer()),
          });
        }
      }
    } else {
      record.json = JSON.parse(raw.toString("utf8"));
    }
  }

  private requireBot(record: RecordedRequest): void {
    if (record.authorization !== `Bot ${this.token}`)
      throw new HttpError(401, { message: "401: Unauthorized", code: 0 });
  }

  private route(r: RecordedRequest): [number, unknown] {
    const { method, route } = r;
    const commands = /^\/applications\/(\d+)(?:\/guilds\/(\d+))?\/commands$/.exec(route);
    const callback = /^\/interactions\/(\d+)\/([^/]+)\/callback$/.exec(route);
    const webhook = /^\/webhooks\/(\d+)\/([^/]+)(?:\/messages\/(@original|\d+))?$/.exec(route);
    const channelRoute = /^\/channels\/(\d+)$/.exec(route);
    const messages = /^\/channels\/(\d+)\/messages(?:\/(\d+))?$/.exec(route);
    if (method === "GET" && route === "/gateway/bot") {
      this.requireBot(r);
      return [
        200,
        {
          url: this.gateway.url,
          shards: 1,
          session_start_limit: { total: 1000, remaining: 999, reset_after: 0, max_concurrency: 1 },
        },
      ];
    }
    if (method === "GET" && (route === "/applications/@me" || route === "/oauth2/applications/@me")) {
      this.requireBot(r);
      return [200, { id: this.applicationId, name: "easel", flags: 0, bot_public: false, description: "" }];
    }
    if (method === "GET" && route === "/users/@me") {
      this.requireBot(r);
      return [200, { id: this.botUser.id, username: this.botUser.username, discriminator: "0", bot: true }];
    }
    if (method === "POST" && route === "/users/@me/channels") {
      // The bot's direct message with a user: one channel per user, opened on first use.
      this.requireBot(r);
      const recipient = String((r.json as { recipient_id?: unknown } | undefined)?.recipient_id ?? "");
      if (!/^\d+$/.test(recipient)) throw new HttpError(400, { message: "Invalid Form Body", code: 50035 });
      let dm = this.directMessages.get(recipient);
      if (!dm) {
        dm = this.addChannel(undefined, { name: `dm-${recipient}` });
        this.directMessages.set(recipient, dm);
      }
      return [200, { ...this.channelPayload(dm), recipients: [{ id: recipient }] }];
    }
    if (commands) {
      const m = commands;
      this.requireBot(r);
      if (m[1] !== this.applicationId) throw new HttpError(403, { message: "Missing Access", code: 50001 });
      const scope = m[2] ?? "global";
      if (method === "GET") return [200, this.commands.get(scope) ?? []];
      if (method === "PUT") {
        const stored = (r.json as CommandDefinition[]).map((command) => ({
          ...command,
          id: snowflake(),
          application_id: this.applicationId,
          version: snowflake(),
          default_member_permissions: null,
          type: command.type ?? 1,
          nsfw: false,
          ...(m![2] ? { guild_id: m![2] } : {}),
        }));
        this.commands.set(scope, stored);
        return [200, stored];
      }
    }
    if (method === "POST" && callback) {
      return this.interactionCallback(r, callback[1]!, callback[2]!);
    }
    if (webhook) {
      return this.webhook(r, webhook[1]!, webhook[2]!, webhook[3]);
    }
    if (channelRoute && method === "GET") {
      this.requireBot(r);
      const channel = this.channels.get(channelRoute[1]!);
      if (!channel) throw new HttpError(404, { message: "Unknown Channel", code: 10003 });
      return [200, this.channelPayload(channel)];
    }
    if (messages) {
      const m = messages;
      this.requireBot(r);
      const channel = this.channels.get(m[1]!);
      if (!channel) throw new HttpError(404, { message: "Unknown Channel", code: 10003 });
      const needed = PERMISSIONS.viewChannel | PERMISSIONS.sendMessages;
      if (method === "POST" && !m[2]) {
        if ((channel.botPermissions & needed) !== needed) {
          throw new HttpError(403, { message: "Missing Permissions", code: 50013 });
        }
        return [200, this.messagePayload(this.createMessage(channel.id, r, undefined, 0))];
      }
      const message = this.messages.get(m[2] ?? "");
      if (!message || message.channelId !== channel.id || message.deleted) {
        throw new HttpError(404, { message: "Unknown Message", code: 10008 });
      }
      if (method === "GET") return [200, this.messagePayload(message)];
      if (method === "PATCH") return [200, this.messagePayload(this.editMessage(message, r))];
      if (method === "DELETE") {
        // The bot may delete its own messages (interaction replies included) without Manage Messages.
        message.deleted = true;
        return [204, undefined];
      }
    }
    throw new HttpError(404, { message: `404: no fake route for ${method} ${route}`, code: 0 });
  }

  private interactionCallback(r: RecordedRequest, id: string, token: string): [number, unknown] {
    const interaction = this.interactions.get(id);
    if (
      !interaction ||
      interaction.token !== token ||
      r.at - interaction.dispatchedAt > this.options.ackDeadlineMs
    ) {
      throw new HttpError(404, { message: "Unknown interaction", code: 10062 });
    }
    if (interaction.callback) {
      throw new HttpError(400, { message: "Interaction has already been acknowledged.", code: 40060 });
    }
    const body = r.json as CallbackBody;
    interaction.callback = { type: body.type, at: r.at, data: body.data };
    if (body.type === 4 || body.type === 5) {
      const message = this.createMessage(
        interaction.channelId,
        { ...r, json: body.data ?? {} },
        interaction.id,
        body.data?.flags ?? 0,
      );
      message.thinking = body.type === 5;
      interaction.originalMessageId = message.id;
    } else if (body.type === 7) {
      const message = this.messages.get(interaction.componentMessageId ?? "");
      if (message) this.editMessage(message, { ...r, json: body.data ?? {} });
    } else if (body.type !== 6) {
      throw new HttpError(400, { message: `callback type ${body.type} not faked`, code: 50035 });
    }
    if (r.query.get("with_response") === "true") {
      const original = interaction.originalMessageId
        ? this.messages.get(interaction.originalMessageId)
        : undefined;
      return [
        200,
        {
          interaction: {
            id,
            type: interaction.type,
            response_message_loading: body.type === 5,
            response_message_ephemeral: false,
          },
          resource: { type: body.type, ...(original ? { message: this.messagePayload(original) } : {}) },
        },
      ];
    }
    return [204, undefined];
  }

  private webhook(
    r: RecordedRequest,
    appId: string,
    token: string,
    target: string | undefined,
  ): [number, unknown] {
    const interaction = [...this.interactions.values()].find((i) => i.token === token);
    if (appId !== this.applicationId || !interaction) {
      throw new HttpError(404, { message: "Unknown Webhook", code: 10015 });
    }
    if (r.at - interaction.dispatchedAt > this.options.tokenLifetimeMs) {
      throw new HttpError(401, { message: "Invalid Webhook Token", code: 50027 });
    }
    if (!interaction.callback) throw new HttpError(404, { message: "Unknown Message", code: 10008 });
    if (!target) {
      if (r.method !== "POST") throw new HttpError(405, { message: "405: Method Not Allowed", code: 0 });
      const original = interaction.originalMessageId
        ? this.messages.get(interaction.originalMessageId)
        : undefined;
      // A deferred reply's first follow-up takes the place of the "thinking" message.
      if (original?.thinking) return [200, this.messagePayload(this.editMessage(original, r))];
      const body = (r.json ?? {}) as MessageBody;
      return [
        200,
        this.messagePayload(this.createMessage(interaction.channelId, r, interaction.id, body.flags ?? 0)),
      ];
    }
    const messageId = target === "@original" ? interaction.originalMessageId : target;
    const message = this.messages.get(messageId ?? "");
    if (!message || message.deleted) throw new HttpError(404, { message: "Unknown Message", code: 10008 });
    if (r.method === "GET") return [200, this.messagePayload(message)];
    if (r.method === "PATCH") return [200, this.messagePayload(this.editMessage(message, r))];
    if (r.method === "DELETE") {
      message.deleted = true;
      return [204, undefined];
    }
    throw new HttpError(405, { message: "405: Method Not Allowed", code: 0 });
  }

  // ── Messages ───────────────────────────────────────────────────────────────────────────────

  private createMessage(
    channelId: string,
    r: Pick<RecordedRequest, "json" | "files">,
    interactionId: string | undefined,
    flags: number,
  ): StoredMessage {
    const message: StoredMessage = {
      id: snowflake(),
      channelId,
      content: "",
      flags,
      components: [],
      attachments: [],
      files: new Map(),
      interactionId,
      thinking: false,
      deleted: false,
      edits: -1,
      allowedMentions: undefined,
    };
    this.messages.set(message.id, message);
    return this.editMessage(message, r);
  }

  private editMessage(message: StoredMessage, r: Pick<RecordedRequest, "json" | "files">): StoredMessage {
    const body = (r.json ?? {}) as MessageBody;
    message.edits++;
    message.thinking = false;
    if (body.content !== undefined) message.content = body.content ?? "";
    if (body.components !== undefined) message.components = body.components;
    if (body.allowed_mentions !== undefined) message.allowedMentions = body.allowed_mentions;
    if ((message.content?.length ?? 0) > 2000)
      throw new HttpError(400, { message: "Invalid Form Body", code: 50035 });
    // `attachments` lists what the message keeps: existing ids, and new files by their upload index.
    const uploads = new Map(
      r.files.map((file) => [/^files\[(\d+)\]$/.exec(file.field)?.[1] ?? file.field, file]),
    );
    if (body.attachments !== undefined || r.files.length > 0) {
      const listed: NonNullable<MessageBody["attachments"]> = body.attachments ?? [
        ...message.attachments.map((a) => ({ id: a.id })),
        ...[...uploads.keys()].map((id) => ({ id })),
      ];
      const next: AttachmentObject[] = [];
      const files = new Map<string, UploadedFile>();
      for (const entry of listed) {
        const existing = message.attachments.find((a) => a.id === String(entry.id));
        if (existing) {
          next.push(existing);
          files.set(existing.id, message.files.get(existing.id)!);
          continue;
        }
        const upload = uploads.get(String(entry.id));
        if (!upload) throw new HttpError(400, { message: "Invalid Form Body (attachments)", code: 50035 });
        if (upload.data.length > this.options.attachmentSizeLimit) {
          throw new HttpError(413, { message: "Request entity too large", code: 40005 });
        }
        const id = snowflake();
        const filename = entry.filename ?? upload.name;
        const url = `${this.baseUrl}/attachments/${id}/${encodeURIComponent(filename)}`;
        next.push({
          id,
          filename,
          size: upload.data.length,
          url,
          proxy_url: url,
          content_type: upload.contentType,
        });
        files.set(id, upload);
        this.sourceFiles.set(id, { data: upload.data, contentType: upload.contentType });
      }
      message.attachments = next;
      message.files = files;
    }
    return message;
  }

  private messagePayload(message: StoredMessage): Record<string, unknown> {
    const interaction = message.interactionId ? this.interactions.get(message.interactionId) : undefined;
    return {
      id: message.id,
      channel_id: message.channelId,
      author: { id: this.botUser.id, username: this.botUser.username, discriminator: "0", bot: true },
      content: message.content,
      timestamp: new Date().toISOString(),
      edited_timestamp: message.edits > 0 ? new Date().toISOString() : null,
      tts: false,
      mention_everyone: false,
      mentions: [],
      mention_roles: [],
      attachments: message.attachments.map((attachment) => ({
        ...attachment,
        url: `${attachment.url}?ex=${this.urlRound}`,
        proxy_url: `${attachment.proxy_url}?ex=${this.urlRound}`,
      })),
      embeds: [],
      pinned: false,
      type: interaction ? 20 : 0,
      flags: message.flags | (message.thinking ? 128 : 0),
      components: message.components,
      ...(interaction
        ? {
            webhook_id: this.applicationId,
            application_id: this.applicationId,
            interaction_metadata: {
              id: interaction.id,
              type: interaction.type,
              user: { id: interaction.user.id, username: interaction.user.username, discriminator: "0" },
              authorizing_integration_owners: {},
            },
          }
        : {}),
    };
  }

  private channelPayload(channel: FakeChannel): Record<string, unknown> {
    if (!channel.guildId) return { id: channel.id, type: 1, recipients: [], last_message_id: null, flags: 0 };
    return {
      id: channel.id,
      type: channel.type,
      guild_id: channel.guildId,
      name: channel.name,
      nsfw: channel.nsfw,
      position: 0,
      permission_overwrites: [],
      parent_id: null,
      topic: null,
      last_message_id: null,
      rate_limit_per_user: 0,
      flags: 0,
    };
  }

  private guildPayload(guild: FakeGuild): Record<string, unknown> {
    return {
      id: guild.id,
      name: guild.name,
      icon: null,
      owner_id: snowflake(),
      afk_channel_id: null,
      afk_timeout: 300,
      verification_level: 0,
      default_message_notifications: 0,
      explicit_content_filter: 0,
      roles: [guild.id, ...guild.roles].map((id, position) => ({
        id,
        name: id === guild.id ? "@everyone" : `role-${position}`,
        color: 0,
        hoist: false,
        position,
        permissions: "0",
        managed: false,
        mentionable: false,
        flags: 0,
      })),
      emojis: [],
      features: [],
      mfa_level: 0,
      system_channel_flags: 0,
      premium_tier: 0,
      preferred_locale: "en-US",
      nsfw_level: 0,
      joined_at: new Date().toISOString(),
      large: false,
      unavailable: false,
      member_count: 2,
      members: [],
      channels: [...this.channels.values()]
        .filter((c) => c.guildId === guild.id)
        .map((c) => this.channelPayload(c)),
      threads: [],
      presences: [],
      voice_states: [],
      stage_instances: [],
      guild_scheduled_events: [],
      stickers: [],
      soundboard_sounds: [],
    };
  }
}
