/**
 * `npm run bench`: every benchmark in turn (they measure; they do not pass or fail).
 * `npm run bench -- --full-size DIR [--device cuda:0]`: the full-size benchmark on a model folder
 * (`easel fixtures --full-size` writes one), instead of the fixture benchmarks, then the float16
 * conversion benchmark on it. `--full-size DIR --unet-only`: the conversion benchmark on the
 * full-size UNet alone (written into DIR when missing).
 */
import { spawnSync } from "node:child_process";

const args = process.argv.slice(2);
const sections = args.includes("--unet-only")
  ? ["bench/convert.ts"]
  : args.includes("--full-size")
    ? ["bench/full-size.ts", "bench/convert.ts"]
    : ["bench/pipeline.ts", "bench/queue.ts", "bench/redis.ts", "bench/moderation.ts"];
for (const file of sections) {
  // Each section in its own process, so peak RSS and event-loop numbers are its own.
  const result = spawnSync(process.execPath, ["--import", "tsx", file, ...args], { stdio: "inherit" });
  if (result.status !== 0) process.exitCode = result.status ?? 1;
}
