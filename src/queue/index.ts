/**
 * The queue room's front door: the JobQueue interface and the factory that picks its backend from
 * the config. Callers (the chat service, the CLI, main.ts) depend on the interface only.
 */
import type { Config } from "../config.js";
import type { Logger } from "../logger.js";
import { EmbeddedJobQueue, type EmbeddedJobQueueOptions } from "./embedded.js";
import type { JobQueue } from "./job-queue.js";
import { RedisJobQueue, type RedisTuning } from "./redis/gateway.js";

export { EmbeddedJobQueue, type EmbeddedJobQueueOptions, sdxlEngineFor } from "./embedded.js";
export type { Engine, EngineSpec, SdxlEngineSpec } from "./engine.js";
export * from "./job-queue.js";
export type { SimulatedEngineSpec } from "./simulated-engine.js";

/** What a backend may be given besides the config (tests pass a simulated engine here). */
export type JobQueueOptions = { logger?: Logger } & Omit<EmbeddedJobQueueOptions, "config" | "logger"> & {
    /** The scaled-out backend's timings (tests shorten them). */
    redis?: RedisTuning;
  };

/**
 * The job queue the config asks for: the embedded backend (device worker threads + SQLite under
 * `config.dataDir`), or with `config.redisUrl` the scaled-out one (the BullMQ gateway, same store).
 */
export function createJobQueue(config: Config, options: JobQueueOptions = {}): JobQueue {
  const { redis, ...rest } = options;
  if (config.redisUrl) {
    // The gateway: it runs devices itself only when EASEL_DEVICES says so; `easel worker` runs them.
    const localDevices = config.devicesExplicit ? config.devices : [];
    return new RedisJobQueue({
      config: { ...config, redisUrl: config.redisUrl },
      localDevices,
      ...rest,
      ...redis,
    });
  }
  return new EmbeddedJobQueue({ config, ...rest });
}
