/** Redis connections for the scale-out backend, and the URL as it may appear in logs. */
import { Redis, type RedisOptions } from "ioredis";
import { ConfigError } from "../../errors.js";
import type { Logger } from "../../logger.js";

/** How long a gateway or `easel worker` waits for Redis when it starts before it gives up. */
export const REDIS_START_TIMEOUT_MS = 10_000;

/**
 * A connection that waits out a Redis restart instead of failing commands: BullMQ requires
 * `maxRetriesPerRequest: null` for its blocking calls, and a gateway or worker that keeps its
 * commands until Redis is back loses nothing. Reconnects back off to one try every 2 s.
 */
export function connectRedis(url: string, options: RedisOptions = {}): Redis {
  return new Redis(url, {
    maxRetriesPerRequest: null,
    enableReadyCheck: true,
    retryStrategy: (times) => Math.min(100 * times, 2_000),
    ...options,
  });
}

/** The URL without its password, for logs and messages. */
export function redactRedisUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = "***";
    return parsed.toString();
  } catch {
    return "(an unparsable Redis URL)";
  }
}

/** Redis refused the credentials (a setting to fix, not a network blip). */
export function isRedisAuthError(error: unknown): boolean {
  const message = error instanceof Error ? error.message : String(error);
  return /^(WRONGPASS|NOAUTH)\b|invalid password|ERR AUTH\b/i.test(message);
}

/**
 * One short line saying why Redis cannot be used, for logs and errors: never a stack, the failed
 * command (an AUTH carries the password) or ioredis's chain of previous errors.
 */
export function describeRedisError(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  if (/^WRONGPASS\b|invalid password/i.test(message)) {
    return "Redis refused the user name or password in EASEL_REDIS_URL";
  }
  if (/^NOAUTH\b/.test(message)) return "Redis needs a password and EASEL_REDIS_URL gives none";
  if (/^Protocol error\b/.test(message)) return "what answers there does not speak the Redis protocol";
  const firstLine = message.split("\n", 1)[0]?.trim() || "unknown error";
  return firstLine.length > 160 ? `${firstLine.slice(0, 157)}...` : firstLine;
}

/** Resolves once the connection is ready; rejects after `timeoutMs` with what it last saw. */
export function untilReady(redis: Redis, timeoutMs: number): Promise<void> {
  if (redis.status === "ready") return Promise.resolve();
  return new Promise((resolve, reject) => {
    let lastError: unknown;
    const onError = (error: unknown) => {
      lastError = error;
    };
    const timer = setTimeout(() => {
      cleanup();
      reject(
        new Error(
          `Redis not ready after ${timeoutMs} ms${lastError ? `: ${describeRedisError(lastError)}` : ""}`,
        ),
      );
    }, timeoutMs);
    const onReady = () => {
      cleanup();
      resolve();
    };
    const cleanup = () => {
      clearTimeout(timer);
      redis.off("ready", onReady);
      redis.off("error", onError);
    };
    redis.on("ready", onReady);
    redis.on("error", onError);
  });
}

/**
 * Waits for the connection at start, at most `timeoutMs`; past that a `ConfigError` in one line
 * that names the URL without its password and the last reason (refused password, refused connection).
 */
export async function reachRedis(
  redis: Redis,
  url: string,
  timeoutMs = REDIS_START_TIMEOUT_MS,
): Promise<void> {
  let lastError: unknown;
  const onError = (error: unknown) => {
    lastError = error;
  };
  redis.on("error", onError);
  try {
    await untilReady(redis, timeoutMs);
  } catch {
    const reason = lastError ? describeRedisError(lastError) : "no answer";
    throw new ConfigError(
      `EASEL_REDIS_URL: cannot reach Redis at ${redactRedisUrl(url)} within ${Math.round(timeoutMs / 1000)} s: ${reason}.`,
    );
  } finally {
    redis.off("error", onError);
  }
}

/** Waits for `promise` at most `ms`: shutting down must not hang on a Redis that is gone. */
export async function atMost(promise: Promise<unknown>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([
    promise.catch(() => {}),
    new Promise<void>((resolve) => {
      timer = setTimeout(resolve, ms);
    }),
  ]);
  clearTimeout(timer);
}

/**
 * Ends a connection within `ms` whatever Redis does: QUIT while it is ready (what was sent is
 * answered first), then a plain disconnect, which stops reconnecting and fails what still waits.
 */
export async function closeRedis(connection: Redis, ms: number): Promise<void> {
  if (connection.status === "ready") await atMost(connection.quit(), ms);
  connection.disconnect();
}

interface Watched {
  onReady: () => void;
  onClose: () => void;
  onError: (error: unknown) => void;
}

/** How long a connection may be away before Redis counts as lost (a blip is not news). */
const LOST_AFTER_MS = 1_000;

/**
 * A process's view of its link to Redis over all its connections, told once: a warning when a
 * connection has been away for `LOST_AFTER_MS` ("lost") and one when every connection is ready
 * again ("back", with how long it was away) — never a line per reconnect try. While Redis is
 * away, a refused password is said once too (a setting to fix); other retries go to debug. A
 * connection that never was ready (a start that cannot reach Redis) is the start's to report.
 */
export class RedisLink {
  private readonly watched = new Map<Redis, Watched>();
  /** Connections that have been ready once: only those can be lost. */
  private readonly known = new WeakSet<Redis>();
  private state: "starting" | "up" | "down" = "starting";
  private downSince = 0;
  private lostTimer: NodeJS.Timeout | undefined;
  private lastReason: string | undefined;
  private readonly said = new Set<string>();

  constructor(
    private readonly logger: Logger,
    private readonly url: string,
  ) {}

  /** Every watched connection that has been ready is ready now. */
  get up(): boolean {
    for (const connection of this.watched.keys()) {
      if (this.known.has(connection) && connection.status !== "ready") return false;
    }
    return true;
  }

  /** Follows `connection` (its errors are reported here, briefly); returns it. */
  watch(connection: Redis): Redis {
    const handlers: Watched = {
      onReady: () => {
        this.known.add(connection);
        this.update();
      },
      onClose: () => this.update(),
      onError: (error) => this.onError(error),
    };
    this.watched.set(connection, handlers);
    connection.on("ready", handlers.onReady);
    connection.on("close", handlers.onClose);
    connection.on("error", handlers.onError);
    return connection;
  }

  /** Stops following `connection` and ends it within `ms` (see `closeRedis`). */
  async close(connection: Redis, ms: number): Promise<void> {
    const handlers = this.watched.get(connection);
    this.watched.delete(connection);
    if (this.watched.size === 0) clearTimeout(this.lostTimer);
    if (handlers) {
      connection.off("ready", handlers.onReady);
      connection.off("close", handlers.onClose);
      // Still listened to: an "error" without a listener would be thrown.
      connection.off("error", handlers.onError);
      connection.on("error", () => {});
    }
    await closeRedis(connection, ms);
  }

  private onError(error: unknown): void {
    const reason = describeRedisError(error);
    this.lastReason = reason;
    this.logger.debug({ redis: redactRedisUrl(this.url), reason }, "redis connection error");
    if (this.state === "down" && isRedisAuthError(error) && !this.said.has(reason)) {
      this.said.add(reason);
      this.logger.warn({ redis: redactRedisUrl(this.url), reason }, "Redis is still away");
    }
  }

  private update(): void {
    const where = redactRedisUrl(this.url);
    if (this.up) {
      clearTimeout(this.lostTimer);
      this.lostTimer = undefined;
      // Said at the level of the loss: whoever sees "lost" also sees "back".
      if (this.state === "down") {
        this.logger.warn({ redis: where, downMs: Date.now() - this.downSince }, "Redis is back");
      }
      this.state = "up";
      this.lastReason = undefined;
      this.said.clear();
    } else if (this.state === "up" && !this.lostTimer) {
      const since = Date.now();
      this.lostTimer = setTimeout(() => {
        this.lostTimer = undefined;
        if (this.up || this.state !== "up") return;
        this.state = "down";
        this.downSince = since;
        const reason = this.lastReason ?? "connection closed";
        this.said.add(reason);
        this.logger.warn({ redis: where, reason }, "lost Redis; retrying until it is back");
      }, LOST_AFTER_MS);
      // Only news: it must not keep a stopping process alive.
      this.lostTimer.unref();
    }
  }
}
