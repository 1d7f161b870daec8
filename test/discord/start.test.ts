/**
 * `easel start` (what `npm start` runs) in a child process with only the Discord settings, a fixture
 * model on the CPU and a data folder: it connects to the loopback Discord, registers its commands,
 * answers /imagine with PNGs from the real pipeline, and stops cleanly on SIGTERM.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { once } from "node:events";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { fixtureModels } from "../helpers/fixtures.js";
import { FakeDiscord, snowflake } from "./fake-discord.js";
import { tempDir } from "./harness.js";

const ENTRY = fileURLToPath(new URL("../helpers/cli-entry.ts", import.meta.url));

/** The tEXt chunks of a PNG, by keyword. */
function pngText(png: Buffer): Map<string, string> {
  const chunks = new Map<string, string>();
  for (let at = 8; at + 8 <= png.length; ) {
    const length = png.readUInt32BE(at);
    const type = png.toString("latin1", at + 4, at + 8);
    if (type === "tEXt" || type === "iTXt") {
      const data = png.subarray(at + 8, at + 8 + length);
      const nul = data.indexOf(0);
      chunks.set(data.toString("latin1", 0, nul), data.toString("utf8", nul + 1));
    }
    at += 12 + length;
  }
  return chunks;
}

test("easel start runs the Discord bot against the loopback Discord with nothing else configured", async (t) => {
  const { base } = await fixtureModels();
  const fake = await new FakeDiscord().start();
  t.after(() => fake.close());
  const guild = fake.addGuild("start test");
  const channel = fake.addChannel(guild);
  const data = await tempDir(t);
  const child = spawn(process.execPath, ["--import", "tsx", ENTRY, "start"], {
    env: {
      PATH: process.env.PATH ?? "",
      HOME: process.env.HOME ?? "",
      DISCORD_TOKEN: fake.token,
      DISCORD_API_URL: fake.apiUrl,
      DISCORD_APPLICATION_ID: fake.applicationId,
      DISCORD_GUILD_ID: guild.id,
      EASEL_MODEL_DIR: base,
      EASEL_DEVICES: "cpu",
      EASEL_DATA_DIR: data,
      EASEL_WEB_PORT: "0",
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let logs = "";
  child.stdout.on("data", (chunk: Buffer) => (logs += chunk.toString()));
  child.stderr.on("data", (chunk: Buffer) => (logs += chunk.toString()));
  t.after(() => {
    if (child.exitCode === null) child.kill("SIGKILL");
  });
  try {
    await fake.waitFor(() => fake.commands.get(guild.id), 60_000, "command registration");
    assert.ok(fake.gateway.connected);
    const it = fake.slashCommand({
      user: { id: snowflake(), username: "ann" },
      channel,
      options: [{ name: "prompt", type: 3, value: "a red fox in snow --steps 2 --seed 7" }],
    });
    const done = await fake.waitFor(
      () => {
        const message = fake.original(it);
        return message?.attachments.some((a) => a.filename.endsWith(".png")) ? message : undefined;
      },
      60_000,
      "the result",
    );
    const attachment = done.attachments.find((a) => a.filename.endsWith(".png"))!;
    const png = fake.file(done, attachment);
    assert.equal(png.length, attachment.size);
    const text = [...pngText(png).values()].join("\n");
    assert.match(text, /a red fox in snow/, "the PNG carries its parameters");
    assert.match(text, /Seed: 7|seed.?7/i);
  } catch (error) {
    t.diagnostic(logs);
    throw error;
  }
  child.kill("SIGTERM");
  const [code] = await once(child, "exit");
  assert.equal(code, 0, logs);
});
