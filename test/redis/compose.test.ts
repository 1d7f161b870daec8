import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, it } from "node:test";
import { parse } from "yaml";

type Service = { profiles?: string[]; command?: string[]; environment?: Record<string, string> };

describe("docker-compose.yml's scale-out profile", () => {
  const compose = parse(readFileSync(new URL("../../docker-compose.yml", import.meta.url), "utf8")) as {
    services: Record<string, Service>;
  };

  it("runs Redis with the append-only file fsynced on every write", () => {
    const redis = compose.services.redis!;
    assert.deepEqual(redis.profiles, ["scale-out"]);
    const command = redis.command!.join(" ");
    assert.match(command, /--appendonly yes/);
    assert.match(command, /--appendfsync always/);
  });

  it("runs easel worker against that Redis, only in the profile", () => {
    const worker = compose.services.worker!;
    assert.deepEqual(worker.profiles, ["scale-out"]);
    assert.deepEqual(worker.command, ["node", "bin/easel.js", "worker"]);
    assert.equal(worker.environment?.EASEL_REDIS_URL, "redis://redis:6379");
    assert.equal(compose.services.easel!.profiles, undefined, "the gateway runs in every profile");
  });
});
