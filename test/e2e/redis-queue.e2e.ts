/**
 * The queue behaviour suites (test/queue/queue.test.ts, failures.test.ts, persistence.test.ts) on
 * the Redis backend: the gateway with its devices in-process, a real redis-server per test. Tests
 * that pin the embedded backend's own workings (its worker threads) are skipped here, by name.
 */
import { useRedisBackend } from "./redis-backend.js";

useRedisBackend();

await import("../queue/queue.test.js");
await import("../queue/failures.test.js");
await import("../queue/persistence.test.js");
