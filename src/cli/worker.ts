/**
 * `easel worker`: runs the devices of EASEL_DEVICES for a gateway, through the Redis at
 * EASEL_REDIS_URL — one BullMQ worker per device, one job at a time, the pipeline in a worker
 * thread. It needs only Redis and the model folders: no chat tokens, no job store. A device that
 * cannot load its model reports it (log + its status in Redis) and takes no jobs; when no device
 * can, the command exits with an error. SIGTERM or Ctrl-C hands running jobs back to the queue.
 */
import { type Command, Option } from "commander";
import { type Config, loadConfigFromEnvironment } from "../config.js";
import { ensureDemoModel } from "../demo-model.js";
import { checkBeforeStart } from "../doctor/start-checks.js";
import { ConfigError, DeviceFailureError } from "../errors.js";
import { createLogger } from "../logger.js";
import type { EngineSpec } from "../queue/engine.js";
import { sdxlEngineFor } from "../queue/index.js";
import { redactRedisUrl } from "../queue/redis/connection.js";
import type { ConsumerTimings } from "../queue/redis/consumer.js";
import { DeviceConsumer } from "../queue/redis/consumer.js";
import type { SimulatedEngineSpec } from "../queue/simulated-engine.js";

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

/** Resolves on the first SIGTERM or SIGINT. */
function untilSignalled(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    const on = (signal: NodeJS.Signals) => {
      process.off("SIGTERM", on);
      process.off("SIGINT", on);
      resolve(signal);
    };
    process.on("SIGTERM", on);
    process.on("SIGINT", on);
  });
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
  const consumers = config.devices.map(
    (device) =>
      new DeviceConsumer({
        redisUrl,
        device,
        engine: engine(device),
        previewEvery: config.generation.previewEvery,
        jobTimeoutMs: config.queue.jobTimeoutMs,
        logger,
        ...(timings ? { timings } : {}),
      }),
  );
  const signalled = untilSignalled();
  logger.info({ redis: redactRedisUrl(redisUrl), devices: config.devices }, "easel worker starting");
  const loaded = await Promise.all(consumers.map((consumer) => consumer.start()));
  if (!loaded.includes(true)) {
    await Promise.all(consumers.map((consumer) => consumer.stop()));
    throw new DeviceFailureError("No device of this worker could load its model; see the log above.");
  }
  const signal = await signalled;
  logger.info({ signal }, "easel worker stopping; running jobs go back to the queue");
  await Promise.all(consumers.map((consumer) => consumer.stop()));
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
      const config = await loadConfigFromEnvironment();
      await checkBeforeStart(config);
      await runWorker(config, options);
    });
}
