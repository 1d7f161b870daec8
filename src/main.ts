/**
 * The composition root: config → logger → job queue → chat service → every enabled adapter, in one
 * process sharing one queue. Nothing else wires these together.
 */
import { type Adapter, adapters as allAdapters, type RunningAdapter } from "./bots/index.js";
import { watchAdminRequests } from "./commands/admin.js";
import type { ChatService } from "./commands/chat.js";
import { createChatService } from "./commands/chat-service.js";
import type { Config } from "./config.js";
import { ensureDemoModel } from "./demo-model.js";
import { createLogger, type Logger } from "./logger.js";
import { createJobQueue, type JobQueue, type JobQueueOptions, type RecoveryReport } from "./queue/index.js";

export interface StartOptions {
  /** Default: one made from the config (readable on a terminal, JSON otherwise). */
  logger?: Logger;
  /** Which adapters may run (each still asks the config); default: every one in src/bots/index.ts. */
  adapters?: readonly Adapter[];
  /** Passed to the queue backend (tests give a simulated engine here). */
  queue?: Omit<JobQueueOptions, "logger">;
}

export interface Easel {
  config: Config;
  logger: Logger;
  queue: JobQueue;
  chat: ChatService;
  /** Names of the adapters that run, in start order. */
  adapters: string[];
  /** What recover() put back or failed at start-up. */
  recovered: RecoveryReport;
  /** Stops the adapters (no new events), then the queue (running jobs resume on the next start). */
  stop(): Promise<void>;
}

export async function startEasel(config: Config, options: StartOptions = {}): Promise<Easel> {
  const logger = options.logger ?? createLogger(config);
  // A Redis gateway without devices of its own never loads a model: the workers need one.
  const runsDevices = !config.redisUrl || config.devicesExplicit;
  if (runsDevices) await ensureDemoModel(config, logger);
  const queue = createJobQueue(config, { ...options.queue, logger });
  const running: Array<{ name: string; adapter: RunningAdapter }> = [];
  const stopAdapters = async () => {
    for (const { name, adapter } of running.reverse()) {
      try {
        await adapter.stop();
      } catch (error) {
        logger.error({ err: error, adapter: name }, "adapter did not stop cleanly");
      }
    }
  };
  try {
    await queue.start();
    // One clock for the queue's stored times and the chat's quota days (tests pass their own).
    const now = options.queue?.now;
    const chat = createChatService({ config, queue, logger, ...(now ? { now } : {}) });
    for (const adapter of (options.adapters ?? allAdapters).filter((a) => a.enabled(config))) {
      const started = await adapter.start({
        config,
        logger: logger.child({ adapter: adapter.name }),
        chat,
        queue,
      });
      running.push({ name: adapter.name, adapter: started });
      logger.info({ adapter: adapter.name }, `${adapter.name} adapter started`);
    }
    // After the adapters subscribed, so they hear about every recovered job.
    const recovered = await queue.recover();
    if (recovered.requeued.length + recovered.failed.length > 0) {
      logger.info(recovered, "jobs from the last run recovered");
    }
    // `easel admin cancel` from the box reaches this process through the shared job store.
    const adminRequests = watchAdminRequests({ config, queue, logger, ...(now ? { now } : {}) });
    // A release from anywhere (`/easel release`, `easel admin release` on the box) is posted where
    // its result was; the chat service posts each image once.
    const stopReleases = queue.on("released", ({ jobId, imageIndex }) => {
      chat.releasedElsewhere(jobId, imageIndex).catch((error: unknown) => {
        logger.error({ err: error, jobId }, "posting a released image failed");
      });
    });
    let stopping: Promise<void> | undefined;
    return {
      config,
      logger,
      queue,
      chat,
      adapters: running.map((entry) => entry.name),
      recovered,
      stop: () => {
        stopping ??= (async () => {
          stopReleases();
          await stopAdapters();
          await adminRequests.stop();
          await queue.stop();
          logger.info("easel stopped");
        })();
        return stopping;
      },
    };
  } catch (error) {
    await stopAdapters();
    await queue.stop();
    throw error;
  }
}
