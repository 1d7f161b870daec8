/**
 * `easel worker`: runs the devices of EASEL_DEVICES for a gateway, through the Redis at
 * EASEL_REDIS_URL — one BullMQ worker per device, one job at a time, the pipeline in a worker
 * thread. It needs only Redis and the model folders: no chat tokens, no job store. A device that
 * cannot load its model reports it (log + its status in Redis) and takes no jobs; when no device
 * can, the command exits with an error, as it does when Redis cannot be reached within
 * `REDIS_START_TIMEOUT_MS` (a refused password included). SIGTERM or Ctrl-C hands running jobs back
 * to the queue and ends the process within `STOP_BOUND_MS` whatever Redis does; a second signal
 * ends it at once. Losing and regaining Redis is logged once each.
 */
import { type Command, Option } from "commander";
import { type Config, loadConfigFromEnvironment } from "../config.js";
import { ensureDemoModel } from "../demo-model.js";
import { checkBeforeStart } from "../doctor/start-checks.js";
import { ConfigError, DeviceFailureError } from "../errors.js";
import { createLogger, type Logger } from "../logger.js";
import { withModelCatalogue } from "../models/catalogue.js";
import { withLoraCatalogue } from "../models/loras.js";
import type { EngineSpec } from "../queue/engine.js";
import { sdxlEngineFor } from "../queue/index.js";
import { RedisLink, redactRedisUrl } from "../queue/redis/connection.js";
import type { ConsumerTimings } from "../queue/redis/consumer.js";
import { DeviceConsumer } from "../queue/redis/consumer.js";
import type { SimulatedEngineSpec } from "../queue/simulated-engine.js";
import { stopSignals } from "./stop-signals.js";

interface WorkerOptions {
  /** Test-only: run the simulated engine (JSON SimulatedEngineSpec) instead of the models. */
  testSimulatedEngine?: string;
  /** Test-only: shorter BullMQ lock and stall timings (JSON Partial<ConsumerTimings>). */
  testTimings?: string;
}

function parseJson<T>(text: string, flag: string): T {
  try {
    return JSON.parse(text) as T;
  } catch {
    throw new ConfigError(`${flag}: not valid JSON`);
  }
}

function engineFor(config: Config, options: WorkerOptions): (device: string) => EngineSpec {
  if (options.testSimulatedEngine) {
    const spec = parseJson<Omit<SimulatedEngineSpec, "kind">>(
      options.testSimulatedEngine,
      "--test-simulated-engine",
    );
    return () => ({ ...spec, kind: "simulated" });
  }
  return (device) => sdxlEngineFor(config, device);
}

/**
 * The longest a stop may take before the process exits anyway (code 1): a device's own stop
 * (its thread's shutdown grace, 10 s) plus what it waits for Redis (5 s, none while Redis is away).
 */
const STOP_BOUND_MS = 20_000;
/**
 * How long the process may stay alive after a stop before it exits: BullMQ's watchdog for its
 * blocking read (up to 6 s) outlives the connection it watches.
 */
const EXIT_GRACE_MS = 1_000;

/** Stops every device; past `STOP_BOUND_MS` the process exits (code 1) instead of waiting on. */
async function stopAll(consumers: readonly DeviceConsumer[], logger: Logger): Promise<void> {
  const bound = setTimeout(() => {
    logger.error({ waitedMs: STOP_BOUND_MS }, "the stop did not finish; exiting");
    process.exit(1);
  }, STOP_BOUND_MS);
  bound.unref();
  await Promise.all(consumers.map((consumer) => consumer.stop()));
  clearTimeout(bound);
  // What the command returns decides the exit code; a handle a library still holds must not keep
  // the process alive after that.
  setTimeout(() => process.exit(), EXIT_GRACE_MS).unref();
}

export async function runWorker(config: Config, options: WorkerOptions = {}): Promise<void> {
  const redisUrl = config.redisUrl;
  if (!redisUrl) {
    throw new ConfigError(
      "EASEL_REDIS_URL: easel worker takes its jobs from Redis; set it to the gateway's Redis.",
    );
  }
  const logger = createLogger(config);
  if (!options.testSimulatedEngine) await ensureDemoModel(config, logger);
  const timings = options.testTimings
    ? parseJson<Partial<ConsumerTimings>>(options.testTimings, "--test-timings")
    : undefined;
  const engine = engineFor(config, options);
  // One link for every device's connections: losing Redis is said once, not per device.
  const link = new RedisLink(logger, redisUrl);
  const consumers = config.devices.map(
    (device) =>
      new DeviceConsumer({
        redisUrl,
        device,
        engine: engine(device),
        previewEvery: config.generation.previewEvery,
        jobTimeoutMs: config.queue.jobTimeoutMs,
        logger,
        link,
        models: config.models,
        modelsPerDevice: config.modelsPerDevice,
        loras: config.loras,
        loraDir: config.loraDir,
        ...(timings ? { timings } : {}),
      }),
  );
  // Listening from the start: a signal while Redis is still being reached or a model loads stops too.
  const signalled = stopSignals(logger);
  logger.info({ redis: redactRedisUrl(redisUrl), devices: config.devices }, "easel worker starting");
  const starting = Promise.all(consumers.map((consumer) => consumer.start()));
  let loaded: boolean[] | NodeJS.Signals;
  try {
    loaded = await Promise.race([starting, signalled]);
  } catch (error) {
    await stopAll(consumers, logger);
    throw error;
  }
  if (typeof loaded !== "string" && !loaded.includes(true)) {
    await stopAll(consumers, logger);
    throw new DeviceFailureError("No device of this worker could load its model; see the log above.");
  }
  const signal = typeof loaded === "string" ? loaded : await signalled;
  // A start cut short ends as it may: its devices are stopping.
  starting.catch(() => {});
  logger.info({ signal }, "easel worker stopping; running jobs go back to the queue");
  const started = performance.now();
  await stopAll(consumers, logger);
  logger.info({ stopMs: Math.round(performance.now() - started) }, "easel worker stopped");
}

export function registerWorkerCommand(program: Command): void {
  program
    .command("worker")
    .description(
      "Run the devices of EASEL_DEVICES for the gateway at EASEL_REDIS_URL (one job at a time per device)",
    )
    .addOption(new Option("--test-simulated-engine <json>", "tests only: simulated engine spec").hideHelp())
    .addOption(new Option("--test-timings <json>", "tests only: BullMQ lock/stall timings").hideHelp())
    .action(async (options: WorkerOptions) => {
      const config = await withLoraCatalogue(
        (await withModelCatalogue(await loadConfigFromEnvironment())).config,
      );
      // Devices that may not fit are said once on stderr; runWorker's logger is not made yet.
      for (const verdict of await checkBeforeStart(config)) process.stderr.write(`memory plan: ${verdict}\n`);
      await runWorker(config, options);
    });
}
