/**
 * `easel start` with a device that cannot load: the operator's reason (the doctor's diagnosis of
 * the device) is logged and printed, instead of a pointer to logs that hold nothing; chat users
 * keep a message without paths.
 */
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { ExecutionProviderError } from "../../src/pipeline/onnx/session.js";
import { deserializeError, serializeError } from "../../src/queue/worker-protocol.js";
import { runCli } from "../helpers/cli.js";

/** A GPU no test machine has: without a CUDA provider it cannot load, and with one there is no GPU 9. */
const DEVICE = "cuda:9";
const USER_TEXT = "The GPU on this server is not set up correctly; its owner can see why in the logs.";

describe("easel start with a device that cannot load", () => {
  it("keeps the operator's reason across the worker-thread boundary, and the user's text apart", () => {
    const thrown = new ExecutionProviderError("cuda:0", "libonnxruntime_providers_cuda.so is missing");
    const received = deserializeError(structuredClone(serializeError(thrown)));
    assert.equal(received.code, "device_failure");
    assert.equal(received.message, "cuda:0: libonnxruntime_providers_cuda.so is missing");
    assert.equal(received.userMessage, USER_TEXT);
  });

  it("logs and prints why the device cannot start, and exits with an error", async () => {
    const data = await mkdtemp(join(tmpdir(), "easel-start-device-"));
    try {
      const run = await runCli(["start"], {
        env: { EASEL_DATA_DIR: data, EASEL_DEVICES: DEVICE, EASEL_WEB: "off", EASEL_LOG_LEVEL: "info" },
      });
      assert.equal(run.code, 2, run.stderr);
      const printed = /^error: (.*)$/m.exec(run.stderr)?.[1];
      assert.ok(printed, run.stderr);
      assert.match(
        printed,
        /^device cuda:9 cannot start: (no CUDA provider: .*libonnxruntime_providers_cuda|CUDA provider does not load on GPU 9: )/,
      );
      assert.ok(!printed.includes("see why in the logs"), printed);
      const logged = run.stderr
        .split("\n")
        .filter((line) => line.startsWith("{"))
        .map((line) => JSON.parse(line) as { level: number; msg: string; reason?: string });
      const entry = logged.find(
        (line) => line.level >= 50 && line.msg.startsWith("device cuda:9 cannot start:"),
      );
      assert.ok(entry, `no error log line for the device in:\n${run.stderr}`);
      assert.equal(`${entry.msg}`, printed);
      assert.ok(entry.reason && entry.reason.length > 20);
    } finally {
      await rm(data, { recursive: true, force: true });
    }
  });
});
