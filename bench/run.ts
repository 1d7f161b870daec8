/** `npm run bench`: every benchmark in turn (they measure; they do not pass or fail). */
import { spawnSync } from "node:child_process";

const sections = ["bench/pipeline.ts", "bench/queue.ts", "bench/redis.ts"];
for (const file of sections) {
  // Each section in its own process, so peak RSS and event-loop numbers are its own.
  const result = spawnSync(process.execPath, ["--import", "tsx", file], { stdio: "inherit" });
  if (result.status !== 0) process.exitCode = result.status ?? 1;
}
