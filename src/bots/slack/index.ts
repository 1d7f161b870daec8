/** The Slack adapter: runs when SLACK_BOT_TOKEN is set (Socket Mode with SLACK_APP_TOKEN, else HTTP). */

import type { Adapter } from "../adapter.js";
import { startSlackApp } from "./app.js";
import { slackUsage } from "./usage.js";

export const slackAdapter: Adapter = {
  name: "slack",
  enabled: (config) => config.slack !== undefined,
  start: async ({ config, chat, logger }) => {
    if (!config.slack) throw new Error("the Slack adapter started without config.slack");
    return startSlackApp({ config: config.slack, chat, logger, usage: slackUsage(config) });
  },
};
