/**
 * The workers' status in Redis, for the gateway (how many devices can take jobs now) and the
 * operator (`easel doctor`, redis-cli): each device of each `easel worker` keeps a JSON status under
 * its own key and renews a heartbeat in a sorted set. A device that could not load its model says
 * so there, with the reason, and takes no jobs.
 */
import type { Redis } from "ioredis";
import { redisKeys } from "./keys.js";

export type WorkerState = "loading" | "ready" | "failed" | "stopping";

export interface WorkerStatus {
  /** `<host>:<pid>:<device>`. */
  id: string;
  device: string;
  host: string;
  pid: number;
  state: WorkerState;
  /** Why loading failed (for the operator: may name a model folder). */
  error?: string;
  /** When the state was entered (ms since the epoch). */
  since: number;
  /** Latest heartbeat (ms since the epoch). */
  seenAt: number;
  /** The catalogue names of the models this device can load (its worker's EASEL_MODELS_DIR). */
  models?: string[];
  /** The models it ran last and keeps loaded, least recently used first. */
  held?: string[];
}

/** Keeps one device's status fresh in Redis until stopped. */
export class WorkerHeartbeat {
  private status: WorkerStatus;
  private timer: NodeJS.Timeout | undefined;
  private writing: Promise<void> = Promise.resolve();
  private inFlight = 0;

  constructor(
    private readonly redis: Redis,
    identity: Pick<WorkerStatus, "id" | "device" | "host" | "pid" | "models" | "held">,
    private readonly everyMs: number,
    private readonly onError: (error: unknown) => void,
  ) {
    const now = Date.now();
    this.status = { ...identity, state: "loading", since: now, seenAt: now };
  }

  get state(): WorkerState {
    return this.status.state;
  }

  /** Writes the status now and every `everyMs` after. */
  start(): Promise<void> {
    // While Redis is away a write waits for it: the next beats are skipped rather than piled up.
    this.timer ??= setInterval(() => {
      if (this.inFlight === 0) void this.write();
    }, this.everyMs);
    this.timer.unref();
    return this.write();
  }

  /** The models the device now holds (sent with the next beat). */
  holding(held: readonly string[]): void {
    this.status = { ...this.status, held: [...held] };
  }

  /** Enters a new state (written at once). */
  set(state: WorkerState, error?: string): Promise<void> {
    this.status = { ...this.status, state, since: Date.now(), ...(error ? { error } : {}) };
    if (!error) delete this.status.error;
    return this.write();
  }

  /**
   * Stops the heartbeat. A failed device's status stays readable for `keepFailedMs` (the operator
   * needs to see why it takes no jobs); any other status is removed.
   */
  async stop(keepFailedMs = 24 * 3_600_000): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    await this.writing;
    const key = redisKeys.worker(this.status.id);
    if (this.status.state === "failed") {
      await this.redis.set(key, JSON.stringify(this.status), "PX", keepFailedMs);
    } else {
      await this.redis.multi().del(key).zrem(redisKeys.workers, this.status.id).exec();
    }
  }

  private write(): Promise<void> {
    const now = Date.now();
    this.status = { ...this.status, seenAt: now };
    const payload = JSON.stringify(this.status);
    this.inFlight += 1;
    this.writing = this.redis
      .multi()
      .set(redisKeys.worker(this.status.id), payload, "PX", this.everyMs * 3)
      .zadd(redisKeys.workers, now, this.status.id)
      .exec()
      .then(() => {})
      .catch(this.onError)
      .finally(() => {
        this.inFlight -= 1;
      });
    return this.writing;
  }
}

/**
 * Every worker status Redis holds, freshest first: live ones and failed ones still kept. Statuses
 * whose heartbeat stopped long ago are dropped from the set.
 */
export async function readWorkers(redis: Redis, now = Date.now()): Promise<WorkerStatus[]> {
  await redis.zremrangebyscore(redisKeys.workers, "-inf", now - 7 * 24 * 3_600_000);
  const ids = await redis.zrevrange(redisKeys.workers, 0, -1);
  if (ids.length === 0) return [];
  const values = await redis.mget(ids.map((id) => redisKeys.worker(id)));
  const statuses: WorkerStatus[] = [];
  for (const value of values) {
    if (!value) continue;
    try {
      statuses.push(JSON.parse(value) as WorkerStatus);
    } catch {
      // not ours: ignore
    }
  }
  return statuses;
}

/** Devices that can take a job now: ready, with a heartbeat within `staleMs`. */
export function readyWorkers(
  statuses: readonly WorkerStatus[],
  now: number,
  staleMs: number,
): WorkerStatus[] {
  return statuses.filter((status) => status.state === "ready" && now - status.seenAt <= staleMs);
}
