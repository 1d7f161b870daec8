import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { test } from "node:test";
import { parse } from "yaml";

interface Manifest {
  features: { slash_commands: Array<{ command: string; should_escape: boolean }>; bot_user: unknown };
  oauth_config: { scopes: { bot: string[] } };
  settings: { interactivity: { is_enabled: boolean }; socket_mode_enabled: boolean };
}

test("slack-manifest.yml declares /imagine and /easel, interactivity, Socket Mode and the scopes the adapter calls need", async () => {
  const manifest = parse(
    await readFile(new URL("../../slack-manifest.yml", import.meta.url), "utf8"),
  ) as Manifest;
  assert.deepEqual(
    manifest.features.slash_commands.map((command) => command.command),
    ["/imagine", "/easel"],
  );
  // The prompt arrives as typed, without Slack turning @names and #channels into <@U…> escapes.
  assert.equal(manifest.features.slash_commands[0]!.should_escape, false);
  // /easel ban @user: the mention arrives as <@U…|name>, which names the user exactly.
  assert.equal(manifest.features.slash_commands[1]!.should_escape, true);
  assert.ok(manifest.features.bot_user);
  assert.equal(manifest.settings.interactivity.is_enabled, true);
  assert.equal(manifest.settings.socket_mode_enabled, true);
  assert.deepEqual([...manifest.oauth_config.scopes.bot].sort(), [
    "chat:write",
    "commands",
    "files:read",
    "files:write",
    "im:write",
  ]);
});
