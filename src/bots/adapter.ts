/**
 * What the composition root (src/main.ts) knows of an adapter: whether the config asks for it, and
 * how to start and stop it. Adapters are transport only; they reach the product through the chat
 * service (and, for health and metrics, the queue's status and events).
 */
import type { Logger } from "pino";
import type { ChatService } from "../commands/chat.js";
import type { Config } from "../config.js";
import type { QueueMonitor } from "../requests/jobs.js";

export interface AdapterContext {
  config: Config;
  logger: Logger;
  chat: ChatService;
  /** Only the queue's status and events (health, metrics): everything else goes through `chat`. */
  queue: QueueMonitor;
}

export interface RunningAdapter {
  /** Stops taking events and closes connections; jobs in flight stay in the queue. */
  stop(): Promise<void>;
}

export interface Adapter {
  /** "discord", "slack", "http": for logs. */
  name: string;
  /** Whether this config runs the adapter. */
  enabled(config: Config): boolean;
  start(context: AdapterContext): Promise<RunningAdapter>;
}
