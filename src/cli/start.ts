/**
 * `easel start` (`npm start`): the bot itself. Runs every configured adapter on one queue until
 * SIGINT or SIGTERM, then stops cleanly: adapters first, then the queue, whose interrupted jobs
 * resume on the next start. The process then exits by itself: a chat client may keep retrying a
 * connection it was told to close (discord.js does, when Discord cannot be reached), which would
 * otherwise keep it alive. A second signal exits at once.
 */
import type { Command } from "commander";
import { type Config, loadConfigFromEnvironment } from "../config.js";
import { checkDevice } from "../doctor/devices.js";
import { queryGpus } from "../doctor/gpu-info.js";
import { checkBeforeStart } from "../doctor/start-checks.js";
import { EaselError, isEaselError } from "../errors.js";
import { createLogger, type Logger } from "../logger.js";
import { type Easel, startEasel } from "../main.js";
import { withModelCatalogue } from "../models/catalogue.js";
import { withLoraCatalogue } from "../models/loras.js";
import { exitProcess, stopSignals } from "./stop-signals.js";

/** How long a start in progress may still take after a stop signal before the process gives up. */
const START_GRACE_MS = 10_000;
/** How long a failed start may leave the process alive (a client still retrying) before it exits. */
const FAILED_START_EXIT_MS = 2_000;

/**
 * A device that cannot start, explained: the doctor's check of each configured device says why (a
 * provider library, cuDNN or the driver missing, no such GPU). Each reason is logged, and becomes
 * the message the CLI prints; chat users keep the error's user message, which names no path.
 */
async function explainDeviceFailure(error: unknown, config: Config, logger: Logger): Promise<unknown> {
  if (!isEaselError(error) || error.code !== "device_failure") return error;
  const gpus = config.devices.some((device) => device.startsWith("cuda:")) ? await queryGpus() : undefined;
  const checks = await Promise.all(config.devices.map((device) => checkDevice(device, { gpus })));
  const failed = checks.filter((check) => check.status === "fail");
  if (failed.length === 0) {
    logger.error({ err: error }, `a device cannot start: ${error.message}`);
    return error;
  }
  for (const check of failed) {
    logger.error({ err: error, reason: check.message }, `${check.name} cannot start: ${check.message}`);
  }
  const explained = new EaselError("device_failure", error.userMessage, { cause: error });
  explained.message = failed.map((check) => `${check.name} cannot start: ${check.message}`).join("\n");
  return explained;
}

const delay = (ms: number) => new Promise<"late">((resolve) => setTimeout(() => resolve("late"), ms).unref());

async function start(): Promise<void> {
  const catalogue = await withModelCatalogue(await loadConfigFromEnvironment());
  const { skipped } = catalogue;
  const config = await withLoraCatalogue(catalogue.config);
  // Unsupported operators and a memory plan that cannot fit are refused now, with doctor's
  // sentences, not at the first job.
  const mayNotFit = !config.redisUrl || config.devicesExplicit ? await checkBeforeStart(config) : [];
  const logger = createLogger(config);
  for (const verdict of mayNotFit) logger.warn({ verdict }, `memory plan: ${verdict}`);
  for (const folder of skipped) {
    logger.info(folder, `${folder.dir} is not offered as a model: ${folder.reason}`);
  }
  // Listening from the start: a signal while a chat is still connecting stops the start too.
  const stop = stopSignals(logger, "stopping: running jobs resume on the next start");
  const starting = startEasel(config, { logger });
  let easel: Easel;
  try {
    const first = await Promise.race([starting, stop]);
    if (typeof first === "string") {
      // Stopped while starting: let the start finish (briefly) so it can be stopped cleanly.
      const started = await Promise.race([starting, delay(START_GRACE_MS)]);
      if (started === "late") {
        logger.warn({ waitedMs: START_GRACE_MS }, "the start did not finish; exiting");
        return await exitProcess(1);
      }
      await started.stop();
      return await exitProcess(0);
    }
    easel = first;
  } catch (error) {
    const reported = await explainDeviceFailure(error, config, logger);
    // The error is reported by the CLI; a client left retrying must not keep the process alive.
    setTimeout(() => void exitProcess(1), FAILED_START_EXIT_MS).unref();
    throw reported;
  }
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
  await stop;
  await easel.stop();
  await exitProcess(0);
}

export function registerStartCommand(program: Command): void {
  program
    .command("start")
    .description("run the bot: every configured chat adapter on one job queue (Ctrl-C stops it cleanly)")
    .action(() => start());
}
