/**
 * `easel worker` as a child process, as an operator runs it on another machine: the real command
 * line, its own Redis connections, the simulated engine selected through the command's test-only
 * option, and a real SIGKILL when a test wants a worker to die mid-job.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { Redis } from "ioredis";
import type { ConsumerTimings } from "../../src/queue/redis/consumer.js";
import { readWorkers, type WorkerStatus } from "../../src/queue/redis/registry.js";
import type { SimulatedEngineSpec } from "../../src/queue/simulated-engine.js";

const ENTRY = fileURLToPath(new URL("../helpers/cli-entry.ts", import.meta.url));

export interface WorkerProcessOptions {
  redisUrl: string;
  /** EASEL_DEVICES of this worker (a label for the simulated engine); default "cpu". */
  devices?: string;
  engine: Omit<SimulatedEngineSpec, "kind">;
  timings?: Partial<ConsumerTimings>;
  previewEvery?: number;
  /** EASEL_LOG_LEVEL of the worker; default "warn". */
  logLevel?: string;
}

export class WorkerProcess {
  readonly exited: Promise<number | null>;
  private output = "";

  private constructor(private readonly child: ChildProcess) {
    child.stdout?.on("data", (chunk: Buffer) => (this.output += chunk.toString()));
    child.stderr?.on("data", (chunk: Buffer) => (this.output += chunk.toString()));
    this.exited = new Promise((resolve) => child.once("exit", (code) => resolve(code)));
  }

  static start(options: WorkerProcessOptions): WorkerProcess {
    const args = [
      "--import",
      "tsx",
      ENTRY,
      "worker",
      "--test-simulated-engine",
      JSON.stringify(options.engine),
    ];
    if (options.timings) args.push("--test-timings", JSON.stringify(options.timings));
    const child = spawn(process.execPath, args, {
      env: {
        ...process.env,
        EASEL_REDIS_URL: options.redisUrl,
        EASEL_DEVICES: options.devices ?? "cpu",
        EASEL_PREVIEW_EVERY: String(options.previewEvery ?? 0),
        EASEL_LOG_LEVEL: options.logLevel ?? "warn",
      },
      stdio: ["ignore", "pipe", "pipe"],
    });
    return new WorkerProcess(child);
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  /** What the worker printed (its log lines). */
  get log(): string {
    return this.output;
  }

  /** SIGKILL: no clean-up at all, as a crashed machine. */
  async kill(): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill("SIGKILL");
    await this.exited;
  }

  /** Sends `signal` without waiting for the exit (see `exited`). */
  signal(signal: NodeJS.Signals): this {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill(signal);
    return this;
  }

  /** SIGTERM: a running job goes back to the queue. */
  async stop(): Promise<number | null> {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill("SIGTERM");
    return this.exited;
  }
}

/** The workers' statuses as Redis holds them. */
export async function workerStatuses(redisUrl: string): Promise<WorkerStatus[]> {
  const redis = new Redis(redisUrl, { maxRetriesPerRequest: 1 });
  try {
    return await readWorkers(redis);
  } finally {
    redis.disconnect();
  }
}

/** Waits until `count` devices report "ready" (their engines loaded, taking jobs). */
export async function untilReady(
  redisUrl: string,
  count: number,
  // Generous: on a busy machine a worker process spends most of this starting up.
  timeoutMs = 90_000,
): Promise<WorkerStatus[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ready = (await workerStatuses(redisUrl)).filter((status) => status.state === "ready");
    if (ready.length >= count) return ready;
    if (Date.now() > deadline) throw new Error(`only ${ready.length} of ${count} workers became ready`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
