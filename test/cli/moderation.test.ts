/**
 * Output moderation from the operator's side: `easel start` refuses a classifier that cannot load
 * (printing and logging why), `easel doctor` says the same, and `easel admin withheld` / `release`
 * act on a running service's withheld images (a real child process on the same data folder).
 */
import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it, type TestContext } from "node:test";
import { loadConfig } from "../../src/config.js";
import { runDoctor } from "../../src/doctor/index.js";
import { silentLogger } from "../../src/logger.js";
import { startEasel } from "../../src/main.js";
import { runCli } from "../helpers/cli.js";
import { testConfig } from "../queue/support.js";

async function tempDir(t: TestContext): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "easel-cli-moderation-"));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/** A model folder whose model.json is not JSON: a real bad file, as a broken download leaves one. */
async function brokenModel(t: TestContext): Promise<string> {
  const dir = join(await tempDir(t), "nsfw-model");
  await (await import("node:fs/promises")).mkdir(dir);
  await writeFile(join(dir, "model.json"), '{"modelTopology": ');
  return dir;
}

describe("a moderation classifier that cannot load", () => {
  it("easel start refuses to run, printing and logging the reason", async (t) => {
    const data = await tempDir(t);
    const model = await brokenModel(t);
    const run = await runCli(["start"], {
      env: {
        EASEL_DATA_DIR: data,
        EASEL_WEB: "off",
        EASEL_WEB_PORT: "0",
        EASEL_LOG_LEVEL: "info",
        EASEL_MODERATION: "withhold",
        EASEL_MODERATION_MODEL: model,
      },
    });
    assert.equal(run.code, 2, run.stderr);
    const printed = /^error: (.*)$/m.exec(run.stderr)?.[1];
    assert.equal(
      printed,
      `The moderation classifier (EASEL_MODERATION_MODEL=${model}) cannot be loaded: ${model}/model.json cannot be read as JSON: Unexpected end of JSON input`,
    );
    const logged = run.stderr
      .split("\n")
      .filter((line) => line.startsWith("{"))
      .map((line) => JSON.parse(line) as { level: number; msg: string });
    assert.ok(
      logged.some((line) => line.level >= 50 && line.msg === printed),
      `no error log line with the reason in:\n${run.stderr}`,
    );
    assert.ok(!logged.some((line) => /easel is running/.test(line.msg)), "it never ran");
  });

  it("easel doctor fails its moderation check with the same reason; a good model passes with its timing", async (t) => {
    const model = await brokenModel(t);
    const data = join(await tempDir(t), "data");
    const broken = await runDoctor({
      config: loadConfig({ EASEL_DATA_DIR: data, EASEL_MODERATION: "blur", EASEL_MODERATION_MODEL: model }),
    });
    const failed = broken.checks.find((check) => check.name === "moderation");
    assert.equal(failed?.status, "fail");
    assert.match(
      failed?.message ?? "",
      /model\.json cannot be read as JSON.*; easel start refuses to run with it$/,
    );
    assert.equal(broken.ok, false);

    const good = await runDoctor({ config: loadConfig({ EASEL_DATA_DIR: data, EASEL_MODERATION: "blur" }) });
    const passed = good.checks.find((check) => check.name === "moderation");
    assert.equal(passed?.status, "ok", passed?.message);
    assert.match(
      passed?.message ?? "",
      /^blur from an unsafe score of 0\.5, NSFW channels exempt: MobileNetV2Mid \(224², TensorFlow\.js wasm\) loaded in \d+ ms, \d+ ms per 1024² image$/,
    );

    const off = await runDoctor({ config: loadConfig({ EASEL_DATA_DIR: data }) });
    assert.match(off.checks.find((check) => check.name === "moderation")?.message ?? "", /is off/);
  });
});

describe("easel admin withheld and release", () => {
  it("lists a running service's withheld images and releases one, which the service's records show at once", async (t) => {
    const dir = await tempDir(t);
    const env = { EASEL_DATA_DIR: dir, EASEL_LOG_LEVEL: "silent" };
    const base = { ...testConfig(dir), demoModel: false };
    const config = { ...base, moderation: { ...base.moderation, mode: "withhold" as const, threshold: 0 } };
    const easel = await startEasel(config, {
      adapters: [],
      logger: silentLogger,
      queue: {
        engineFor: () => ({ kind: "simulated", stepMs: 2 }),
        cancelGraceMs: 2000,
        shutdownGraceMs: 2000,
      },
    });
    t.after(() => easel.stop());

    const none = await runCli(["admin", "withheld"], { env });
    assert.equal(none.code, 0, none.stderr);
    assert.equal(none.stdout, "No withheld images are waiting.\n");

    const made = await easel.chat.imagine(
      { text: "a fox --count 2 --steps 2" },
      { userId: "discord:111", userName: "alice" },
      { platform: "discord", serverId: "g1", channelId: "c1" },
    );
    assert.equal(made.kind, "job");
    if (made.kind !== "job") return;
    await easel.queue.wait(made.jobId);

    const listing = await runCli(["admin", "withheld", "--json"], { env });
    assert.equal(listing.code, 0, listing.stderr);
    const listed = JSON.parse(listing.stdout) as Array<{ imageId: string; userId: string; place: string }>;
    assert.deepEqual(
      listed.map((image) => [image.imageId, image.userId, image.place]),
      [
        [`${made.jobId}-0`, "discord:111", "discord:g1/c1"],
        [`${made.jobId}-1`, "discord:111", "discord:g1/c1"],
      ],
    );
    const text = await runCli(["admin", "withheld"], { env });
    assert.match(
      text.stdout,
      /^2 withheld images \(release one with: easel admin release <job> <image>\):\n/,
    );
    assert.match(
      text.stdout,
      new RegExp(
        `${made.jobId} image 2: unsafe \\d\\.\\d\\d \\(\\w+\\), discord:111 \\(alice\\) in discord:g1/c1`,
      ),
    );

    const released = await runCli(["admin", "release", made.jobId, "2"], { env });
    assert.equal(released.code, 0, released.stderr);
    assert.equal(
      released.stdout,
      `Image 2 of job ${made.jobId} is released: everyone sees it from now on.\n`,
    );
    const record = await easel.queue.job(made.jobId);
    assert.match(record?.images[1]?.moderation?.released?.byUserId ?? "", /^cli:/);
    assert.equal(record?.images[0]?.moderation?.released, undefined);
    const audit = await easel.queue.ledger.actions(0);
    assert.ok(audit.some((action) => action.action === "release" && action.target === `${made.jobId}-1`));

    const again = await runCli(["admin", "release", made.jobId, "2"], { env });
    assert.equal(again.stdout, `Image 2 of job ${made.jobId} was already released.\n`);
    const missing = await runCli(["admin", "release", made.jobId, "5"], { env });
    assert.equal(missing.code, 2);
    assert.equal(missing.stderr, `error: Image 5 of job ${made.jobId} does not exist.\n`);
    const bad = await runCli(["admin", "release", made.jobId, "first"], { env });
    assert.equal(bad.code, 2);
    assert.equal(bad.stderr, 'error: "first" is not an image number (1, 2, …).\n');
  });
});
