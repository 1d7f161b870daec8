/**
 * `easel start` (`npm start`): the bot itself. Runs every configured adapter on one queue until
 * SIGINT or SIGTERM, then stops cleanly: adapters first, then the queue, whose interrupted jobs
 * resume on the next start.
 */
import type { Command } from "commander";
import { loadConfigFromEnvironment } from "../config.js";
import { createLogger } from "../logger.js";
import { startEasel } from "../main.js";

async function start(): Promise<void> {
  const config = await loadConfigFromEnvironment();
  const logger = createLogger(config);
  const easel = await startEasel(config, { logger });
  logger.info(
    {
      adapters: easel.adapters,
      devices: config.devices,
      modelDir: config.modelDir,
      demoModel: config.demoModel,
      url: `http://${config.web.host}:${config.web.port}/`,
      webChat: config.web.chat,
    },
    easel.adapters.length > 0
      ? `easel is running: ${easel.adapters.join(", ")}`
      : "easel is running with no chat adapter configured",
  );
  await new Promise<void>((resolve) => {
    const onSignal = (signal: NodeJS.Signals) => {
      process.off("SIGINT", onSignal);
      process.off("SIGTERM", onSignal);
      logger.info({ signal }, "stopping: running jobs resume on the next start");
      resolve();
    };
    process.on("SIGINT", onSignal);
    process.on("SIGTERM", onSignal);
  });
  await easel.stop();
}

export function registerStartCommand(program: Command): void {
  program
    .command("start")
    .description("run the bot: every configured chat adapter on one job queue (Ctrl-C stops it cleanly)")
    .action(() => start());
}
