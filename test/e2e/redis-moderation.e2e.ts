/**
 * Output moderation (test/moderation/queue.test.ts) on the Redis backend: the gateway classifies
 * the images its workers send back through Redis, in the same job book as the embedded queue.
 * A real redis-server per test.
 */
import { useRedisBackend } from "./redis-backend.js";

useRedisBackend();

await import("../moderation/queue.test.js");
