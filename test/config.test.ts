import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, it } from "node:test";
import { parse } from "dotenv";
import { loadConfig, SETTING_NAMES } from "../src/config.js";
import { ConfigError } from "../src/errors.js";
import { LIMITS } from "../src/pipeline/validate.js";

/** Asserts loading `env` fails with a ConfigError that names `variable` and matches `message`. */
function assertRefused(env: Record<string, string>, variable: string, message?: RegExp): void {
  assert.throws(
    () => loadConfig(env),
    (error: unknown) => {
      assert.ok(error instanceof ConfigError, `expected ConfigError, got ${String(error)}`);
      assert.ok(error.message.startsWith(`${variable}: `), error.message);
      if (message) assert.match(error.message, message);
      return true;
    },
    JSON.stringify(env),
  );
}

describe("loadConfig", () => {
  it("gives documented defaults for an empty environment", () => {
    const config = loadConfig({});
    assert.deepEqual(config.devices, ["cpu"]);
    assert.equal(config.generation.defaultSteps, 30);
    assert.equal(config.generation.defaultScheduler, "euler");
    assert.equal(config.refinerDir, undefined);
    assert.equal(config.policy.safetyNegative, "nsfw, nudity");
  });

  it("parses devices and priority tiers", () => {
    const config = loadConfig({
      EASEL_DEVICES: "cuda:0, cuda:1",
      EASEL_PRIORITY: "discord:42=2,discord-role:7=1,slack:T1:U2=3",
    });
    assert.deepEqual(config.devices, ["cuda:0", "cuda:1"]);
    assert.deepEqual(config.queue.priority, [
      { kind: "user", id: "discord:42", tier: 2 },
      { kind: "role", id: "discord-role:7", tier: 1 },
      { kind: "user", id: "slack:T1:U2", tier: 3 },
    ]);
  });

  it("refuses malformed values with the variable's name", () => {
    assert.throws(
      () => loadConfig({ EASEL_DEVICES: "gpu0" }),
      (error: unknown) => {
        return error instanceof ConfigError && error.message.includes("EASEL_DEVICES");
      },
    );
    assertRefused({ EASEL_MAX_STEPS: "many" }, "EASEL_MAX_STEPS", /got "many"/);
    assertRefused({ EASEL_LOG_LEVEL: "loud" }, "EASEL_LOG_LEVEL");
    assertRefused({ EASEL_PRIORITY: "user:42=2" }, "EASEL_PRIORITY", /discord:USER=N/);
    assertRefused({ DISCORD_TOKEN: "t", DISCORD_API_URL: "ftp://x" }, "DISCORD_API_URL");
  });
});

describe("loadConfig bounds", () => {
  it("keeps generation limits within what the pipeline accepts", () => {
    assertRefused(
      { EASEL_MAX_COUNT: String(LIMITS.maxCount + 1) },
      "EASEL_MAX_COUNT",
      /from 1 to 4; got "5"/,
    );
    assertRefused({ EASEL_MAX_COUNT: "8" }, "EASEL_MAX_COUNT");
    assertRefused({ EASEL_MAX_COUNT: "0" }, "EASEL_MAX_COUNT");
    assertRefused({ EASEL_MAX_STEPS: String(LIMITS.maxSteps + 1) }, "EASEL_MAX_STEPS", /from 1 to 150/);
    assertRefused({ EASEL_MAX_STEPS: "2.5" }, "EASEL_MAX_STEPS", /whole number/);
    assertRefused({ EASEL_DEFAULT_STEPS: "0" }, "EASEL_DEFAULT_STEPS");
    assertRefused({ EASEL_MAX_GUIDANCE: "30.5" }, "EASEL_MAX_GUIDANCE", /from 1 to 30/);
    assertRefused({ EASEL_DEFAULT_GUIDANCE: "0.5" }, "EASEL_DEFAULT_GUIDANCE", /from 1 to 30/);
    assertRefused({ EASEL_DEFAULT_GUIDANCE: "Infinity" }, "EASEL_DEFAULT_GUIDANCE");
    assertRefused({ EASEL_DEFAULT_COUNT: "5" }, "EASEL_DEFAULT_COUNT");
    const edge = loadConfig({ EASEL_MAX_COUNT: "4", EASEL_MAX_STEPS: "150", EASEL_MAX_GUIDANCE: "30" });
    assert.deepEqual(
      [edge.generation.maxCount, edge.generation.maxSteps, edge.generation.maxGuidance],
      [LIMITS.maxCount, LIMITS.maxSteps, LIMITS.maxGuidance],
    );
  });

  it("refuses a default above its maximum, naming the default", () => {
    assertRefused(
      { EASEL_DEFAULT_STEPS: "40", EASEL_MAX_STEPS: "30" },
      "EASEL_DEFAULT_STEPS",
      /40 is above EASEL_MAX_STEPS \(30\)/,
    );
    assertRefused({ EASEL_MAX_STEPS: "20" }, "EASEL_DEFAULT_STEPS", /30 is above EASEL_MAX_STEPS \(20\)/);
    assertRefused({ EASEL_DEFAULT_COUNT: "3", EASEL_MAX_COUNT: "2" }, "EASEL_DEFAULT_COUNT");
    assertRefused({ EASEL_DEFAULT_GUIDANCE: "7.5", EASEL_MAX_GUIDANCE: "7" }, "EASEL_DEFAULT_GUIDANCE");
    const equal = loadConfig({ EASEL_DEFAULT_STEPS: "20", EASEL_MAX_STEPS: "20", EASEL_DEFAULT_COUNT: "4" });
    assert.deepEqual([equal.generation.defaultSteps, equal.generation.defaultCount], [20, 4]);
  });

  it("keeps the refiner switch strictly inside (0, 1)", () => {
    for (const value of ["0", "1", "-0.1", "1.5"]) {
      assertRefused({ EASEL_REFINER_SWITCH: value }, "EASEL_REFINER_SWITCH", /between 0 and 1/);
    }
    assert.equal(loadConfig({ EASEL_REFINER_SWITCH: "0.65" }).generation.refinerSwitch, 0.65);
  });

  it("keeps the job timeout within what a Node.js timer can wait", () => {
    assertRefused({ EASEL_JOB_TIMEOUT_SECONDS: "0" }, "EASEL_JOB_TIMEOUT_SECONDS");
    assertRefused({ EASEL_JOB_TIMEOUT_SECONDS: "2147484" }, "EASEL_JOB_TIMEOUT_SECONDS", /1 to 2147483/);
    const longest = loadConfig({ EASEL_JOB_TIMEOUT_SECONDS: "2147483" }).queue.jobTimeoutMs;
    assert.ok(longest <= 2 ** 31 - 1, `${longest} ms would fire at once`);
  });

  it("refuses negative or zero counts where they make no sense", () => {
    assertRefused({ EASEL_MAX_JOBS_PER_USER: "-1" }, "EASEL_MAX_JOBS_PER_USER");
    assertRefused({ EASEL_MAX_JOBS_PER_USER: "0" }, "EASEL_MAX_JOBS_PER_USER");
    assertRefused({ EASEL_MAX_JOBS_TOTAL: "-5" }, "EASEL_MAX_JOBS_TOTAL");
    assertRefused({ EASEL_PREVIEW_EVERY: "-1" }, "EASEL_PREVIEW_EVERY");
    assertRefused({ EASEL_ORT_INTRA_OP_THREADS: "-2" }, "EASEL_ORT_INTRA_OP_THREADS");
    assertRefused({ EASEL_RETENTION_HOURS: "-1" }, "EASEL_RETENTION_HOURS");
    assert.equal(loadConfig({ EASEL_PREVIEW_EVERY: "0" }).generation.previewEvery, 0);
  });
});

describe("loadConfig empty values", () => {
  it("reads an empty text setting as none where the docs say so", () => {
    const config = loadConfig({
      EASEL_SAFETY_NEGATIVE: "",
      EASEL_REFINER_DIR: "",
      EASEL_VAE_FALLBACK: "",
      EASEL_BLOCKED_TERMS: "",
      EASEL_PRIORITY: "",
    });
    assert.equal(config.policy.safetyNegative, "");
    assert.equal(config.refinerDir, undefined);
    assert.equal(config.vaeFallback, undefined);
    assert.deepEqual(config.policy.blockedTerms, []);
    assert.deepEqual(config.queue.priority, []);
    assert.equal(loadConfig({ EASEL_REFINER_DIR: "  " }).refinerDir, undefined);
  });

  it("reads an empty or blank numeric or choice setting as its default", () => {
    const config = loadConfig({
      EASEL_MAX_STEPS: "",
      EASEL_DEFAULT_GUIDANCE: "  ",
      EASEL_DEFAULT_SCHEDULER: "",
      EASEL_OPENCLIP_EXCLAMATION: "",
      EASEL_MODEL_DIR: "",
      EASEL_DEVICES: "",
    });
    const defaults = loadConfig({});
    assert.equal(config.generation.maxSteps, defaults.generation.maxSteps);
    assert.equal(config.generation.defaultGuidance, defaults.generation.defaultGuidance);
    assert.equal(config.generation.defaultScheduler, defaults.generation.defaultScheduler);
    assert.equal(config.generation.openClipExclamation, true);
    assert.equal(config.modelDir, defaults.modelDir);
    assert.deepEqual(config.devices, ["cpu"]);
  });
});

describe("config/.env.example", () => {
  const text = readFileSync(new URL("../config/.env.example", import.meta.url), "utf8");
  const lines = text.split("\n");

  it("lists every setting, each under a line of documentation", () => {
    const setting = /^(EASEL|DISCORD|SLACK|HF)_\w+=/;
    const documented = lines.filter((line) => setting.test(line)).map((line) => line.split("=")[0]);
    assert.deepEqual([...documented].sort(), [...SETTING_NAMES].sort());
    for (const [i, line] of lines.entries()) {
      if (setting.test(line)) assert.match(lines[i - 1] ?? "", /^# \S/, `${line} has no comment above it`);
    }
  });

  it("shows the defaults: loading it as it stands gives the built-in config", () => {
    assert.deepEqual(loadConfig(parse(text)), loadConfig({}));
  });

  it("states the bounds of the generation limits", () => {
    const docOf = (name: string): string =>
      lines[lines.findIndex((line) => line.startsWith(`${name}=`)) - 1]!;
    assert.match(docOf("EASEL_MAX_STEPS"), new RegExp(`1 to ${LIMITS.maxSteps}`));
    assert.match(docOf("EASEL_MAX_GUIDANCE"), new RegExp(`1 to ${LIMITS.maxGuidance}`));
    assert.match(docOf("EASEL_MAX_COUNT"), new RegExp(`1 to ${LIMITS.maxCount}`));
    for (const name of ["STEPS", "GUIDANCE", "COUNT"]) {
      assert.match(docOf(`EASEL_DEFAULT_${name}`), new RegExp(`EASEL_MAX_${name}`));
    }
  });
});
