/** SIGINT/SIGTERM for the long-running commands (`easel start`, `easel worker`). */
import type { Logger } from "../logger.js";

const SIGNAL_NUMBERS: Partial<Record<NodeJS.Signals, number>> = { SIGINT: 2, SIGTERM: 15 };

/** Writes out what stdout and stderr still hold, then ends the process with `code`. */
export async function exitProcess(code: number): Promise<never> {
  process.exitCode = code;
  const drain = (stream: NodeJS.WriteStream) =>
    new Promise<void>((resolve) => (stream.writableEnded ? resolve() : stream.write("", () => resolve())));
  await Promise.all([drain(process.stdout), drain(process.stderr)]);
  process.exit(code);
}

/**
 * Resolves with the first SIGINT/SIGTERM (logging `stopping` when given); any later one exits at
 * once (128 + its number).
 */
export function stopSignals(logger: Logger, stopping?: string): Promise<NodeJS.Signals> {
  let received: NodeJS.Signals | undefined;
  return new Promise((resolve) => {
    const onSignal = (signal: NodeJS.Signals) => {
      if (received) {
        logger.warn({ signal }, "second stop signal: exiting now");
        void exitProcess(128 + (SIGNAL_NUMBERS[signal] ?? 1));
        return;
      }
      received = signal;
      if (stopping) logger.info({ signal }, stopping);
      resolve(signal);
    };
    process.on("SIGINT", onSignal);
    process.on("SIGTERM", onSignal);
  });
}
