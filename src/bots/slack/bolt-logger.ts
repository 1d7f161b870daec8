/** Bolt's and WebClient's log lines into our one pino logger, at the same level. */
import { type Logger as BoltLogger, LogLevel } from "@slack/bolt";
import type { Logger } from "pino";

const LEVELS: Record<string, LogLevel> = {
  trace: LogLevel.DEBUG,
  debug: LogLevel.DEBUG,
  info: LogLevel.INFO,
  warn: LogLevel.WARN,
  error: LogLevel.ERROR,
  fatal: LogLevel.ERROR,
  silent: LogLevel.ERROR,
};

const text = (parts: unknown[]): string =>
  parts
    .map((part) =>
      typeof part === "string" ? part : part instanceof Error ? part.message : JSON.stringify(part),
    )
    .join(" ");

export function boltLogger(logger: Logger): BoltLogger {
  const log = logger.child({ lib: "bolt" });
  return {
    // Bolt's debug lines carry whole request bodies (prompts included): trace level only.
    debug: (...parts: unknown[]) => log.trace(text(parts)),
    info: (...parts: unknown[]) => log.info(text(parts)),
    warn: (...parts: unknown[]) => log.warn(text(parts)),
    error: (...parts: unknown[]) => log.error(text(parts)),
    // Our config decides the level; Bolt's own setting is ignored.
    setLevel: () => {},
    getLevel: () => LEVELS[log.level] ?? LogLevel.INFO,
    setName: () => {},
  };
}
