/**
 * The one logger, made by the composition root (or a CLI command) and passed in: readable lines on
 * a terminal, one JSON object per line otherwise (containers, log shippers). pino-pretty is loaded
 * only for a terminal, so a service writing JSON never loads it.
 */
import { createRequire } from "node:module";
import { type Logger, pino } from "pino";
import type PinoPretty from "pino-pretty";
import type { Config } from "./config.js";

export type { Logger } from "pino";

export interface LoggerOptions {
  /** Where lines go; default standard error (standard output stays for a command's own output). */
  destination?: NodeJS.WritableStream & { fd?: number };
  /** Readable lines instead of JSON; default: when the destination is a terminal. */
  pretty?: boolean;
}

export function createLogger(config: Pick<Config, "logLevel">, options: LoggerOptions = {}): Logger {
  const destination = options.destination ?? process.stderr;
  const readable = options.pretty ?? ("isTTY" in destination && destination.isTTY === true);
  const base = { level: config.logLevel, base: undefined };
  if (!readable) return pino(base, destination);
  // pino-pretty is CommonJS: required here, synchronously, the first time a terminal needs it.
  const pretty = createRequire(import.meta.url)("pino-pretty") as typeof PinoPretty;
  return pino(
    base,
    pretty({
      destination,
      sync: true,
      colorize: true,
      translateTime: "SYS:HH:MM:ss.l",
      ignore: "pid,hostname",
    }),
  );
}

/** A logger that drops everything: for tests and library callers that pass none. */
export const silentLogger: Logger = pino({ level: "silent" });
