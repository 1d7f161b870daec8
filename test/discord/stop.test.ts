/**
 * `easel start` stops on SIGTERM even when Discord cannot be reached: discord.js keeps retrying the
 * gateway after it is told to stop, so the process exits on its own once easel has stopped.
 */
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { FakeDiscord } from "./fake-discord.js";
import { tempDir } from "./harness.js";

const ENTRY = fileURLToPath(new URL("../helpers/cli-entry.ts", import.meta.url));

/** Generous: the bound is there so a process that never exits fails the test instead of hanging it. */
const EXIT_WITHIN_MS = 30_000;

async function exitOf(child: ChildProcess, logs: () => string): Promise<number | null> {
  if (child.exitCode !== null) return child.exitCode;
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`easel start still running after SIGTERM:\n${logs()}`)),
      EXIT_WITHIN_MS,
    );
  });
  try {
    const [code] = (await Promise.race([once(child, "exit"), timeout])) as [number | null];
    return code;
  } finally {
    clearTimeout(timer);
  }
}

test("SIGTERM after Discord went away: easel stops and the process exits", async (t) => {
  const fake = await new FakeDiscord().start();
  const guild = fake.addGuild("stop test");
  fake.addChannel(guild);
  const data = await tempDir(t);
  const child = spawn(process.execPath, ["--import", "tsx", ENTRY, "start"], {
    env: {
      PATH: process.env.PATH ?? "",
      HOME: process.env.HOME ?? "",
      DISCORD_TOKEN: fake.token,
      DISCORD_API_URL: fake.apiUrl,
      DISCORD_APPLICATION_ID: fake.applicationId,
      DISCORD_GUILD_ID: guild.id,
      EASEL_DEVICES: "cpu",
      EASEL_DATA_DIR: data,
      EASEL_WEB_PORT: "0",
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let logs = "";
  let onRunning: () => void = () => {};
  const running = new Promise<void>((resolve) => {
    onRunning = resolve;
  });
  const read = (chunk: Buffer) => {
    logs += chunk.toString();
    if (/easel is running/.test(logs)) onRunning();
  };
  child.stdout!.on("data", read);
  child.stderr!.on("data", read);
  t.after(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  });
  await running;
  assert.ok(fake.gateway.connected);
  // Discord goes away: the REST port and the gateway close, and discord.js starts reconnecting.
  await fake.close();
  child.kill("SIGTERM");
  const code = await exitOf(child, () => logs);
  assert.equal(code, 0, logs);
  assert.match(logs, /easel stopped/);
});
