/**
 * A service process in miniature for the data-dir lock test: a started queue (one simulated device)
 * on the folder given as argv[2]. Prints {"event":"started"} once it holds the folder, or
 * {"event":"refused","message":…} and exits 1; a started one stays until SIGTERM.
 */
import { createJobQueue } from "../../src/queue/index.js";
import { testConfig } from "./support.js";

const queue = createJobQueue(testConfig(process.argv[2]!), {
  engineFor: () => ({ kind: "simulated", stepMs: 5 }),
});
const print = (line: Record<string, unknown>) => process.stdout.write(`${JSON.stringify(line)}\n`);
try {
  await queue.start();
  print({ event: "started", pid: process.pid });
  process.on("SIGTERM", () => void queue.stop().then(() => process.exit(0)));
  setInterval(() => {}, 60_000);
} catch (error) {
  print({ event: "refused", message: error instanceof Error ? error.message : String(error) });
  await queue.stop();
  process.exit(1);
}
