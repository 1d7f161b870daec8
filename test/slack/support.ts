/**
 * easel's real composition root with only the Slack adapter, against the loopback Slack: the
 * config comes from the same settings `npm start` reads, Bolt's WebClient talks to the fake through
 * SLACK_API_URL, and tests drive it with signed HTTP requests or Socket Mode envelopes.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { slackAdapter } from "../../src/bots/slack/index.js";
import { loadConfig } from "../../src/config.js";
import { silentLogger } from "../../src/logger.js";
import { type Easel, startEasel } from "../../src/main.js";
import { fixtureModels } from "../helpers/fixtures.js";
import type { FakeSlack, PostedMessage } from "./fake-slack.js";
import {
  blockActionsPayload,
  formBody,
  interactiveBody,
  type PostResult,
  postSigned,
  slashCommandPayload,
} from "./signed.js";

export const SECRET = "8f742231b10e8888abcd99eeefff85a5";
export const CHANNEL = "C0GENERAL";
export const USER = "U0ADA";

/** A fresh folder; `remove` when done. */
export async function tempDir(): Promise<{ path: string; remove: () => Promise<void> }> {
  const path = await mkdtemp(join(tmpdir(), "easel-slack-"));
  return { path, remove: () => rm(path, { recursive: true, force: true }) };
}

/** A port that was free a moment ago (Bolt's receiver gets a fixed port, as SLACK_PORT gives it). */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

export interface SlackEaselOptions {
  mode: "http" | "socket";
  dataDir: string;
  /** Simulated devices with this step time; default the fixture SDXL pipeline. */
  simulatedStepMs?: number;
  /** More settings (EASEL_…). */
  env?: Record<string, string>;
}

export interface SlackEasel {
  easel: Easel;
  /** HTTP mode: Bolt's /slack/events. */
  eventsUrl: string;
  stop(): Promise<void>;
}

/** The settings `npm start` would read for this fake and mode. */
export async function slackEnv(
  fake: FakeSlack,
  options: SlackEaselOptions,
  port: number,
): Promise<Record<string, string>> {
  const models = await fixtureModels();
  return {
    SLACK_BOT_TOKEN: fake.botToken,
    SLACK_SIGNING_SECRET: SECRET,
    SLACK_API_URL: fake.apiUrl,
    SLACK_PORT: String(port),
    SLACK_APP_TOKEN: options.mode === "socket" ? fake.appToken : "",
    EASEL_MODEL_DIR: models.base,
    EASEL_DEVICES: "cpu",
    EASEL_DATA_DIR: options.dataDir,
    EASEL_WEB_PORT: "0",
    EASEL_PREVIEW_EVERY: "0",
    ...options.env,
  };
}

export async function startSlackEasel(fake: FakeSlack, options: SlackEaselOptions): Promise<SlackEasel> {
  const port = options.mode === "http" ? await freePort() : 0;
  const config = loadConfig(await slackEnv(fake, options, port));
  const easel = await startEasel(config, {
    logger: silentLogger,
    adapters: [slackAdapter],
    ...(options.simulatedStepMs !== undefined
      ? { queue: { engineFor: () => ({ kind: "simulated" as const, stepMs: options.simulatedStepMs! }) } }
      : {}),
  });
  return { easel, eventsUrl: `http://127.0.0.1:${port}/slack/events`, stop: () => easel.stop() };
}

/** Sends `/imagine <text>` over HTTP, signed; the answer comes when Bolt's ack() is called. */
export function imagineOverHttp(
  fake: FakeSlack,
  app: Pick<SlackEasel, "eventsUrl">,
  text: string,
  options: {
    user?: string;
    channel?: string;
    timestamp?: number;
    signature?: string;
    secret?: string;
    /** Send a response_url that has already expired. */
    expiredResponseUrl?: boolean;
  } = {},
): Promise<PostResult> {
  const channel = options.channel ?? CHANNEL;
  const user = options.user ?? USER;
  const responseUrl = fake.responseUrl(channel, user);
  if (options.expiredResponseUrl) fake.expire(responseUrl);
  const body = formBody(
    slashCommandPayload({
      text,
      teamId: fake.teamId,
      channelId: channel,
      userId: user,
      responseUrl,
    }),
  );
  return postSigned(app.eventsUrl, body, {
    secret: options.secret ?? SECRET,
    ...(options.timestamp !== undefined ? { timestamp: options.timestamp } : {}),
    ...(options.signature !== undefined ? { signature: options.signature } : {}),
  });
}

/** Presses a button (by its value) over HTTP, signed. */
export function pressOverHttp(
  fake: FakeSlack,
  app: Pick<SlackEasel, "eventsUrl">,
  value: string,
  message: PostedMessage,
  options: { user?: string } = {},
): Promise<PostResult> {
  const user = options.user ?? USER;
  const body = interactiveBody(
    blockActionsPayload({
      teamId: fake.teamId,
      channelId: message.channel,
      userId: user,
      value,
      messageTs: message.ts,
      responseUrl: fake.responseUrl(message.channel, user),
    }),
  );
  return postSigned(app.eventsUrl, body, { secret: SECRET });
}

interface ButtonElement {
  type: string;
  action_id: string;
  value: string;
  text: { text: string };
  style?: string;
}

/** The buttons of a posted message, in order. */
export function buttonsOf(message: PostedMessage | { blocks: unknown[] | undefined }): ButtonElement[] {
  return ((message.blocks ?? []) as Array<{ type: string; elements?: ButtonElement[] }>)
    .filter((block) => block.type === "actions")
    .flatMap((block) => block.elements ?? []);
}

/** A finished job's result message: the one with result buttons (re-roll), in `channel`. */
export function resultMessages(fake: FakeSlack, channel = CHANNEL): PostedMessage[] {
  return fake.messages.filter(
    (message) => message.channel === channel && buttonsOf(message).some((b) => b.value.includes(":reroll:")),
  );
}

/** The job id in a result message's re-roll button. */
export function jobIdOf(message: PostedMessage): string | undefined {
  return buttonsOf(message)
    .find((button) => button.value.includes(":reroll:"))
    ?.value.split(":")[3];
}

/** The seed a caption names (`seed 123`). */
export function seedIn(text: string): string | undefined {
  return /\bseeds? (\d+)/.exec(text)?.[1];
}

/** Polls `check` until it gives a value (for state outside the fake, e.g. the job store). */
export async function until<T>(
  check: () => Promise<T | undefined | false>,
  timeoutMs = 10_000,
  what = "condition",
): Promise<T> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined && value !== false) return value;
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

export const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

/** Whether `bytes` is a whole PNG: the signature, then chunks up to IEND with nothing after. */
export function isWholePng(bytes: Buffer): boolean {
  if (!bytes.subarray(0, 8).equals(PNG_SIGNATURE)) return false;
  let offset = 8;
  while (offset + 12 <= bytes.length) {
    const length = bytes.readUInt32BE(offset);
    const type = bytes.toString("latin1", offset + 4, offset + 8);
    offset += 12 + length;
    if (type === "IEND") return offset === bytes.length;
  }
  return false;
}

export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor((sorted.length - 1) / 2)]!;
}

export function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}
