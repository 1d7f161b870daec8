/** Shared inputs for the /imagine command tests. */
import assert from "node:assert/strict";
import { type Config, loadConfig } from "../../src/config.js";
import { InvalidInputError } from "../../src/errors.js";
import type { Requester } from "../../src/requests/request.js";

/** Defaults, plus a refiner and a blocked-term list, as a deployment would set them. */
export const config: Config = loadConfig({
  EASEL_REFINER_DIR: "models/refiner",
  EASEL_BLOCKED_TERMS: "forbidden, two words",
  EASEL_SAFETY_NEGATIVE: "nsfw, nudity",
});

/** The defaults: no refiner installed. */
export const plainConfig: Config = loadConfig({});

export const alice: Requester = { platform: "discord", userId: "discord:alice", channelId: "c1" };
export const bob: Requester = { platform: "discord", userId: "discord:bob", channelId: "c1" };

/** A seed source that counts up from `start`, so tests can predict "random" seeds. */
export function countingSeeds(start = 1000n): () => bigint {
  let next = start;
  return () => next++;
}

/** Asserts `run` throws InvalidInputError for `field` whose message matches `message`. */
export function assertInvalid(run: () => unknown, field: string | undefined, message: string | RegExp): void {
  assert.throws(run, (error: unknown) => {
    assert.ok(error instanceof InvalidInputError, `expected InvalidInputError, got ${String(error)}`);
    assert.equal(error.field, field);
    if (typeof message === "string") assert.equal(error.userMessage, message);
    else assert.match(error.userMessage, message);
    return true;
  });
}
