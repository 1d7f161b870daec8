/** A one-line progress bar on stderr, only when stderr is a terminal. */
import type { Progress } from "../pipeline/types.js";

export function progressBar(
  stream: NodeJS.WriteStream = process.stderr,
): ((progress: Progress) => void) | undefined {
  if (!stream.isTTY) return undefined;
  return (progress) => {
    const width = 30;
    const filled = Math.round((progress.step / progress.totalSteps) * width);
    const bar = "#".repeat(filled) + "-".repeat(width - filled);
    const seconds = (progress.elapsedMs / 1000).toFixed(1);
    stream.write(`\r[${bar}] ${progress.step}/${progress.totalSteps} ${progress.stage} ${seconds}s`);
    if (progress.step === progress.totalSteps) stream.write("\n");
  };
}
