/** The Discord adapter: runs when DISCORD_TOKEN is set (config.discord). */
import type { Adapter } from "../adapter.js";
import { DiscordBot, type DiscordBotOptions } from "./bot.js";

export { DiscordBot, type DiscordBotOptions } from "./bot.js";

export function discordAdapter(options: DiscordBotOptions = {}): Adapter {
  return {
    name: "discord",
    enabled: (config) => config.discord !== undefined,
    async start(context) {
      const bot = new DiscordBot(context, options);
      try {
        await bot.start();
      } catch (error) {
        await bot.stop().catch(() => {});
        throw error;
      }
      return { stop: () => bot.stop() };
    },
  };
}
