import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { loadConfig } from "../src/config.js";
import { ConfigError } from "../src/errors.js";

describe("loadConfig", () => {
  it("gives documented defaults for an empty environment", () => {
    const config = loadConfig({});
    assert.deepEqual(config.devices, ["cpu"]);
    assert.equal(config.generation.defaultSteps, 30);
    assert.equal(config.generation.defaultScheduler, "euler");
    assert.equal(config.refinerDir, undefined);
  });

  it("parses devices and priority tiers", () => {
    const config = loadConfig({ EASEL_DEVICES: "cuda:0, cuda:1", EASEL_PRIORITY: "user:42=2,role:7=1" });
    assert.deepEqual(config.devices, ["cuda:0", "cuda:1"]);
    assert.deepEqual(config.queue.priority, [
      { kind: "user", id: "42", tier: 2 },
      { kind: "role", id: "7", tier: 1 },
    ]);
  });

  it("refuses malformed values with the variable's name", () => {
    assert.throws(
      () => loadConfig({ EASEL_DEVICES: "gpu0" }),
      (error: unknown) => {
        return error instanceof ConfigError && error.message.includes("EASEL_DEVICES");
      },
    );
    assert.throws(() => loadConfig({ EASEL_MAX_STEPS: "many" }), /EASEL_MAX_STEPS/);
  });
});
