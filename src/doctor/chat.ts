/**
 * Chat settings: token shapes (never their values) and which adapters `npm start` will run.
 * Shapes only: whether a token is valid is for the platform to say when easel connects.
 */
import type { Config } from "../config.js";
import { type CheckResult, fail, ok, warn } from "./types.js";

/** A Discord bot token: three base64url parts separated by dots. */
const DISCORD_TOKEN = /^[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{10,}$/;
const SNOWFLAKE = /^\d{15,21}$/;
/** Slack signing secrets are 32 hex characters. */
const SIGNING_SECRET = /^[0-9a-f]{32}$/i;

function checkDiscord(config: Config): CheckResult {
  const discord = config.discord;
  if (!discord) return ok("discord", "off (DISCORD_TOKEN is not set)");
  if (!DISCORD_TOKEN.test(discord.token)) {
    return fail(
      "discord",
      "DISCORD_TOKEN is not shaped like a bot token (three dot-separated parts); copy it again from the Developer Portal's Bot page",
    );
  }
  for (const [setting, value] of [
    ["DISCORD_APPLICATION_ID", discord.applicationId],
    ["DISCORD_GUILD_ID", discord.guildId],
  ] as const) {
    if (value !== undefined && !SNOWFLAKE.test(value)) {
      return fail("discord", `${setting} is not a Discord id (a number of 15 to 21 digits)`);
    }
  }
  const scope = discord.guildId ? `commands in guild ${discord.guildId}` : "global commands";
  return ok("discord", `on: the token is well-formed; ${scope}`);
}

function checkSlack(config: Config): CheckResult {
  const slack = config.slack;
  if (!slack) return ok("slack", "off (SLACK_BOT_TOKEN is not set)");
  if (!slack.botToken.startsWith("xoxb-")) {
    return fail("slack", "SLACK_BOT_TOKEN does not start with xoxb- (use the app's Bot User OAuth Token)");
  }
  if (slack.appToken !== undefined) {
    if (!slack.appToken.startsWith("xapp-")) {
      return fail(
        "slack",
        "SLACK_APP_TOKEN does not start with xapp- (use an app-level token with connections:write)",
      );
    }
    return ok("slack", "on, Socket Mode: the bot and app tokens are well-formed");
  }
  if (!slack.signingSecret) {
    return fail(
      "slack",
      "HTTP mode (no SLACK_APP_TOKEN) needs SLACK_SIGNING_SECRET to verify Slack's requests",
    );
  }
  const mode = `on, HTTP mode: /slack/events on ${slack.host}:${slack.port}`;
  if (!SIGNING_SECRET.test(slack.signingSecret)) {
    return warn("slack", `${mode}; SLACK_SIGNING_SECRET is not 32 hex characters as Slack's are`);
  }
  return ok("slack", `${mode}; the bot token and signing secret are well-formed`);
}

/** One line naming what `npm start` runs with these settings. */
function describeAdapters(config: Config): CheckResult {
  const running: string[] = [];
  if (config.discord) running.push("Discord");
  if (config.slack) running.push(config.slack.appToken ? "Slack (Socket Mode)" : "Slack (HTTP)");
  const web = config.web;
  if (web.chat)
    running.push(`web chat + /api/v1 on ${web.host}:${web.port}${web.token ? " (token set)" : ""}`);
  const health = `/healthz and /metrics on ${web.host}:${web.port}`;
  const backend = config.redisUrl
    ? "Redis queue (this process is the gateway; `easel worker` runs the devices)"
    : "embedded queue";
  if (running.length === 0)
    return warn("adapters", `no chat adapter will run (EASEL_WEB=off and no chat token); ${health}`);
  return ok("adapters", `${running.join(", ")}; ${health}; ${backend}`);
}

export function checkChatSettings(config: Config): CheckResult[] {
  return [checkDiscord(config), checkSlack(config), describeAdapters(config)];
}
