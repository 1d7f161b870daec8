/**
 * One easel (the real composition root, queue on simulated devices, chat service) with only the
 * Discord adapter, pointed at a loopback Discord, plus helpers that read the wire.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { DiscordBotOptions } from "../../src/bots/discord/index.js";
import { discordAdapter } from "../../src/bots/discord/index.js";
import { type Config, loadConfig } from "../../src/config.js";
import { silentLogger } from "../../src/logger.js";
import { type Easel, startEasel } from "../../src/main.js";
import { withModelCatalogue } from "../../src/models/catalogue.js";
import type { SimulatedEngineSpec } from "../../src/queue/index.js";
import { fixtureModels } from "../helpers/fixtures.js";
import {
  type ActionRow,
  type FakeChannel,
  FakeDiscord,
  type FakeGuild,
  type FakeUser,
  type InteractionRecord,
  type StoredMessage,
  snowflake,
} from "./fake-discord.js";

export const EPHEMERAL = 64;

export interface Harness {
  fake: FakeDiscord;
  guild: FakeGuild;
  channel: FakeChannel;
  user: FakeUser;
  config: Config;
  easel: Easel;
  dataDir: string;
  /** Stops easel (not the fake). */
  stop(): Promise<void>;
  /** Starts a fresh easel on the same data folder and fake (a restart). */
  restart(): Promise<void>;
}

export interface HarnessOptions {
  env?: Record<string, string>;
  /** Per-step time of the simulated devices. */
  stepMs?: number;
  /** Run the fixture SDXL pipeline on the CPU instead of simulated devices. */
  fixturePipeline?: boolean;
  bot?: DiscordBotOptions;
  fake?: FakeDiscord;
  dataDir?: string;
}

/** Where cleanup goes: a test's context, or a suite's `sharedScope()`. */
export interface Scope {
  after(fn: () => unknown): void;
}

/**
 * A scope for a harness shared by a suite's tests: register `after(scope.cleanup)` when defining
 * the suite (node:test's `after` called inside a hook would not wait for the suite's tests).
 */
export function sharedScope(): Scope & { cleanup(): Promise<void> } {
  const cleanups: Array<() => unknown> = [];
  return {
    after: (fn) => cleanups.push(fn),
    cleanup: async () => {
      for (const fn of cleanups.reverse()) await fn();
    },
  };
}

let users = 0;
/** A user of their own, so tests sharing an easel do not share histories or limits. */
export function newUser(name = "user"): FakeUser {
  users++;
  return { id: snowflake(), username: `${name}${users}` };
}

export async function tempDir(t: Scope): Promise<string> {
  const path = await mkdtemp(join(tmpdir(), "easel-discord-"));
  t.after(() => rm(path, { recursive: true, force: true }));
  return path;
}

export async function startHarness(t: Scope, options: HarnessOptions = {}): Promise<Harness> {
  const fake = options.fake ?? (await new FakeDiscord().start());
  const guild = [...fake.guilds.values()][0] ?? fake.addGuild("easel test server", [snowflake()]);
  const channel = [...fake.channels.values()].find((c) => c.guildId === guild.id) ?? fake.addChannel(guild);
  const dataDir = options.dataDir ?? (await tempDir(t));
  const loaded = loadConfig({
    DISCORD_TOKEN: fake.token,
    DISCORD_API_URL: fake.apiUrl,
    DISCORD_GUILD_ID: guild.id,
    EASEL_DATA_DIR: dataDir,
    EASEL_DEVICES: "cpu",
    EASEL_WEB_PORT: "0",
    EASEL_PREVIEW_EVERY: "1",
    EASEL_DEFAULT_STEPS: "4",
    ...(options.fixturePipeline
      ? { EASEL_MODEL_DIR: (await fixtureModels()).base, EASEL_PREVIEW_EVERY: "0" }
      : {}),
    ...options.env,
  });
  // A models folder given: its catalogue, as `easel start` reads it.
  const config = options.env?.EASEL_MODELS_DIR ? (await withModelCatalogue(loaded)).config : loaded;
  const engine: SimulatedEngineSpec = { kind: "simulated", stepMs: options.stepMs ?? 5 };
  const start = () =>
    startEasel(config, {
      logger: silentLogger,
      adapters: [discordAdapter({ viewIntervalMs: 100, ...options.bot })],
      ...(options.fixturePipeline ? {} : { queue: { engineFor: () => engine } }),
    });
  const harness: Harness = {
    fake,
    guild,
    channel,
    user: newUser("ann"),
    config,
    easel: await start(),
    dataDir,
    stop: () => harness.easel.stop(),
    restart: async () => {
      await harness.easel.stop();
      harness.easel = await start();
    },
  };
  // Easel first: with the fake gone, discord.js would be reconnecting when told to stop.
  t.after(async () => {
    await harness.easel.stop();
    if (!options.fake) await fake.close();
  });
  return harness;
}

type OptionValue = string | number | boolean;
const OPTION_TYPES: Record<string, number> = { string: 3, number: 10, boolean: 5 };

/** `/imagine prompt:<prompt>` with structured options (integers for steps/count, numbers otherwise). */
export function imagine(
  h: Harness,
  prompt: string,
  options: Record<string, OptionValue> = {},
  extra: { user?: FakeUser; channel?: FakeChannel; roles?: string[] } = {},
): InteractionRecord {
  const integer = new Set(["steps", "count"]);
  return h.fake.slashCommand({
    user: extra.user ?? h.user,
    channel: extra.channel ?? h.channel,
    ...(extra.roles ? { roles: extra.roles } : {}),
    options: [
      { name: "prompt", type: 3, value: prompt },
      ...Object.entries(options).map(([name, value]) => ({
        name,
        type: integer.has(name) ? 4 : OPTION_TYPES[typeof value]!,
        value,
      })),
    ],
  });
}

/** Labels and ids of a message's buttons, row by row. */
export function buttons(message: StoredMessage | ActionRow[]): Array<Array<{ label: string; id: string }>> {
  const rows = Array.isArray(message) ? message : message.components;
  return rows.map((row) => row.components.map((b) => ({ label: b.label ?? "", id: b.custom_id ?? "" })));
}

export function buttonId(message: StoredMessage, label: string | RegExp): string {
  const found = buttons(message)
    .flat()
    .find((b) => (typeof label === "string" ? b.label === label : label.test(b.label)));
  if (!found) throw new Error(`no button ${label} on: ${JSON.stringify(buttons(message))}`);
  return found.id;
}

/** Waits until the interaction's message shows a finished result (or a final failure/cancel). */
export async function finalMessage(
  h: Harness,
  interaction: InteractionRecord,
  test: (m: StoredMessage) => boolean = (m) => m.attachments.some((a) => a.filename.startsWith("easel-")),
  timeoutMs = 10_000,
): Promise<StoredMessage> {
  return await h.fake.waitFor(
    () => {
      const message = h.fake.original(interaction);
      return message && test(message) ? message : undefined;
    },
    timeoutMs,
    "the result message",
  );
}

/** The seed shown in a result caption. */
export function captionSeed(message: StoredMessage): string {
  const seed = /seeds? (\d+)/.exec(message.content)?.[1];
  if (!seed) throw new Error(`no seed in: ${message.content}`);
  return seed;
}

/** The requests that went to one interaction's token (callback and webhook routes). */
export function requestsOf(h: Harness, interaction: InteractionRecord) {
  return h.fake.requests.filter((r) => r.route.includes(interaction.token));
}
