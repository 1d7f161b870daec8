/** `easel imagine`: one chat-style request through the real queue, store and a worker, from the shell. */
import assert from "node:assert/strict";
import { access, readdir, readFile } from "node:fs/promises";
import { basename, join } from "node:path";
import { describe, it } from "node:test";
import sharp from "sharp";
import { runToEnd, withCtrlC } from "../../src/cli/imagine.js";
import { createChatService } from "../../src/commands/chat-service.js";
import { parseImagine } from "../../src/commands/imagine.js";
import { loadConfig } from "../../src/config.js";
import { CancelledError, InvalidInputError } from "../../src/errors.js";
import { JobStore } from "../../src/queue/store.js";
import type { Requester } from "../../src/requests/request.js";
import { runCli } from "../helpers/cli.js";
import { fixtureModels } from "../helpers/fixtures.js";
import { modelsFolder } from "../models/support.js";
import { nextEvent, simulatedQueue, tempDir } from "./support.js";

describe("easel imagine", () => {
  it("parses the flags, runs the job on a device worker, prints the caption and writes the images", async (t) => {
    const dir = await tempDir(t);
    const { base } = await fixtureModels();
    const out = join(dir, "out");
    const data = join(dir, "data");
    const run = await runCli(
      ["imagine", "a red fox in snow --ar 16:9 --steps 2 --seed 7 --n 2", "--model", base, "--out", out],
      {
        env: { EASEL_DATA_DIR: data, EASEL_DEVICES: "cpu" },
      },
    );
    assert.equal(run.code, 0, run.stderr);
    const lines = run.stdout.trim().split("\n");
    assert.equal(lines[0], "a red fox in snow");
    assert.match(lines[1]!, /^seeds 7-8 · 1344x768 · 2 steps · cfg 5 · euler · refiner off · /);
    const files = lines.slice(2);
    assert.equal(files.length, 2);
    for (const file of files) {
      const meta = await sharp(await readFile(file)).metadata();
      assert.deepEqual([meta.format, meta.width, meta.height], ["png", 1344, 768]);
    }
    const store = JobStore.open(join(data, "jobs.sqlite"));
    t.after(() => store.close());
    const jobId = basename(files[0]!).split("-")[0]!;
    assert.deepEqual(
      files.map((file) => basename(file)),
      [`${jobId}-1.png`, `${jobId}-2.png`],
    );
    const job = store.get(jobId)!;
    assert.equal(job.status, "done");
    assert.equal(job.request.requester.platform, "cli");
    assert.equal(job.request.width, 1344);
    assert.deepEqual(job.seeds, ["7", "8"]);
    assert.equal(job.postedTo, `file:${out}`);
    assert.deepEqual(
      (await readdir(join(data, "images"))).sort(),
      [`${jobId}-0.png`, `${jobId}-1.png`],
      "kept in the data folder until EASEL_RETENTION_HOURS, posted or not",
    );
  });

  it("runs `a fox --model turbo` on a Turbo-preset model of the catalogue: 512x512, 1 step, guidance 0", async (t) => {
    const dir = await tempDir(t);
    const { modelsDir } = await modelsFolder(t, { photo: {}, turbo: { settings: { preset: "sdxl-turbo" } } });
    const out = join(dir, "out");
    const data = join(dir, "data");
    // Unquoted, `--model turbo` reaches the command's own option, which takes a catalogue name too.
    const run = await runCli(["imagine", "a", "fox", "--model", "turbo", "--out", out], {
      env: { EASEL_DATA_DIR: data, EASEL_DEVICES: "cpu", EASEL_MODELS_DIR: modelsDir },
    });
    assert.equal(run.code, 0, run.stderr);
    const lines = run.stdout.trim().split("\n");
    assert.match(lines[1]!, /^turbo · seed \d+ · 512x512 · 1 steps · cfg 0 · euler-a · refiner off · /);
    const meta = await sharp(await readFile(lines[2]!)).metadata();
    assert.deepEqual([meta.width, meta.height], [512, 512]);
    const store = JobStore.open(join(data, "jobs.sqlite"));
    t.after(() => store.close());
    const job = store.get(basename(lines[2]!).split("-")[0]!)!;
    assert.equal(job.status, "done");
    const { model, steps, guidance, scheduler, spacing, width, height } = job.request;
    assert.deepEqual(
      { model, steps, guidance, scheduler, spacing, width, height },
      {
        model: "turbo",
        steps: 1,
        guidance: 0,
        scheduler: "euler-a",
        spacing: "trailing",
        width: 512,
        height: 512,
      },
    );
  });

  it("answers a bad flag with the chat user's message and a non-zero exit, touching nothing", async (t) => {
    const dir = await tempDir(t);
    const text = "a red fox --stpes 3";
    let expected = "";
    try {
      parseImagine({ text }, { platform: "cli", userId: "cli:x" }, loadConfig({}), () => 1n);
    } catch (error) {
      assert.ok(error instanceof InvalidInputError);
      expected = error.userMessage;
    }
    assert.match(expected, /--steps/);
    const data = join(dir, "data");
    const run = await runCli(["imagine", text], { env: { EASEL_DATA_DIR: data } });
    assert.notEqual(run.code, 0);
    assert.equal(run.stderr, `error: ${expected}\n`);
    assert.equal(run.stdout, "");
    await assert.rejects(access(data), "no store was created");
  });
});

describe("Ctrl-C during easel imagine", () => {
  const asker: Requester = { platform: "cli", userId: "cli:tester" };
  const isCancelled = (error: unknown) => error instanceof CancelledError;

  it("while the models load: submits nothing, ends at once, and gives Ctrl-C back", async (t) => {
    const { queue, config } = await simulatedQueue(
      t,
      {},
      { kind: "simulated", stepMs: 1, loadMs: 5000 },
      { shutdownGraceMs: 100 },
    );
    const chat = createChatService({ config, queue });
    const handlers = process.listenerCount("SIGINT");
    const since = performance.now();
    const run = withCtrlC((interrupted) => runToEnd(queue, chat, "a fox", asker, interrupted));
    assert.equal(process.listenerCount("SIGINT"), handlers + 1);
    setTimeout(() => process.emit("SIGINT"), 50);
    await assert.rejects(run, isCancelled);
    assert.ok(performance.now() - since < 2000, "it did not wait for the load");
    assert.deepEqual(await queue.history(asker.userId), [], "nothing was submitted");
    assert.equal(process.listenerCount("SIGINT"), handlers);
  });

  it("while the job runs: cancels it, and a second Ctrl-C changes nothing", async (t) => {
    const { queue, config } = await simulatedQueue(t);
    const chat = createChatService({ config, queue });
    const handlers = process.listenerCount("SIGINT");
    const started = nextEvent(queue, "progress");
    const run = withCtrlC((interrupted) =>
      runToEnd(queue, chat, "[sim:step-ms=40] --steps 50", asker, interrupted),
    );
    const { jobId } = await started;
    process.emit("SIGINT");
    assert.equal(process.listenerCount("SIGINT"), handlers + 1, "still handled after the first");
    process.emit("SIGINT");
    await assert.rejects(run, isCancelled);
    assert.equal((await queue.job(jobId))!.status, "cancelled");
    assert.equal(process.listenerCount("SIGINT"), handlers);
  });
});
