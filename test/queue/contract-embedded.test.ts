/** The JobQueue contract on the embedded backend (device worker threads + SQLite). */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createJobQueue } from "../../src/queue/index.js";
import { describeJobQueueContract } from "./contract.js";
import { testConfig } from "./support.js";

describeJobQueueContract("embedded", async (t, settings) => {
  const dir = await mkdtemp(join(tmpdir(), "easel-contract-"));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const { stepMs = 2, ...limits } = settings;
  const config = testConfig(dir, limits);
  return {
    open: (options = {}) =>
      createJobQueue(config, {
        ...options,
        engineFor: () => ({ kind: "simulated", stepMs }),
        cancelGraceMs: 2000,
        shutdownGraceMs: 2000,
      }),
  };
});
