/**
 * `npm start` (`easel start`, from the sources, as a child process) with only the Slack settings,
 * the fixture model, one CPU device and a data folder: it runs the Slack app against the loopback
 * Slack, answers /imagine with images, and stops cleanly on SIGTERM.
 */
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { afterEach, beforeEach, describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import { FakeSlack } from "./fake-slack.js";
import { slashCommandPayload } from "./signed.js";
import {
  CHANNEL,
  freePort,
  imagineOverHttp,
  isWholePng,
  resultMessages,
  slackEnv,
  tempDir,
  USER,
} from "./support.js";

const ENTRY = fileURLToPath(new URL("../helpers/cli-entry.ts", import.meta.url));
const TSX = import.meta.resolve("tsx");

interface Started {
  child: ChildProcess;
  output: () => string;
}

/** Starts `easel start` with exactly these settings (plus PATH), in an empty folder (no .env). */
async function easelStart(env: Record<string, string>, cwd: string): Promise<Started> {
  const child = spawn(process.execPath, ["--import", TSX, ENTRY, "start"], {
    cwd,
    env: { PATH: process.env.PATH ?? "", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  child.stdout!.on("data", (chunk: Buffer) => (output += chunk.toString()));
  child.stderr!.on("data", (chunk: Buffer) => (output += chunk.toString()));
  const started = { child, output: () => output };
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`easel start did not get ready:\n${output}`)), 60_000);
    const check = () => {
      if (output.includes("Slack app is listening")) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout!.on("data", check);
    child.stderr!.on("data", check);
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`easel start exited with ${code}:\n${output}`));
    });
  });
  return started;
}

async function stop({ child }: Started): Promise<number | null> {
  const exited = once(child, "exit");
  child.kill("SIGTERM");
  const [code] = (await exited) as [number | null];
  return code;
}

describe("npm start with Slack settings only", () => {
  let fake: FakeSlack;
  let dir: Awaited<ReturnType<typeof tempDir>>;
  let running: Started | undefined;

  beforeEach(async () => {
    fake = await FakeSlack.start();
    dir = await tempDir();
  });
  afterEach(async () => {
    if (running && running.child.exitCode === null) running.child.kill("SIGKILL");
    running = undefined;
    await fake.close();
    await dir.remove();
  });

  test("HTTP mode (SLACK_PORT): a signed /imagine gets its PNG in the channel; SIGTERM stops it cleanly", async () => {
    const port = await freePort();
    running = await easelStart(await slackEnv(fake, { mode: "http", dataDir: dir.path }, port), dir.path);
    const eventsUrl = `http://127.0.0.1:${port}/slack/events`;
    const ack = await imagineOverHttp(fake, { eventsUrl }, "a lighthouse --size 512x512 --steps 2");
    assert.equal(ack.status, 200);
    await fake.waitFor(() => resultMessages(fake).length === 1, 60_000, "the result");
    const [upload] = [...fake.uploads.values()];
    assert.equal(upload!.channel, CHANNEL);
    assert.ok(isWholePng(upload!.bytes!));
    assert.equal(await stop(running), 0, running.output());
  });

  test("Socket Mode (SLACK_APP_TOKEN): it connects out and answers a command", async () => {
    running = await easelStart(await slackEnv(fake, { mode: "socket", dataDir: dir.path }, 0), dir.path);
    assert.equal(fake.callsOf("apps.connections.open")[0]?.token, fake.appToken);
    const envelope = await fake.deliver(
      "slash_commands",
      slashCommandPayload({
        text: "a lighthouse --size 512x512 --steps 2",
        teamId: fake.teamId,
        channelId: CHANNEL,
        userId: USER,
        responseUrl: fake.responseUrl(CHANNEL, USER),
      }),
    );
    assert.ok(envelope.ackedAt !== undefined);
    await fake.waitFor(() => resultMessages(fake).length === 1, 60_000, "the result");
    assert.equal(await stop(running), 0, running.output());
  });
});
