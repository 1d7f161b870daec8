/**
 * `easel generate`, `refine` and `tokenize` against careless and hostile input: huge prompts,
 * unknown devices, special files as images, a disk that fills up while --out is written.
 */
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import sharp from "sharp";
import { cudaProviderLibraries } from "../../src/pipeline/onnx/session.js";
import { type CliRun, runCli } from "../helpers/cli.js";
import { fixtureModels } from "../helpers/fixtures.js";

const ENTRY = fileURLToPath(new URL("../helpers/cli-entry.ts", import.meta.url));

/** Runs the CLI under a shell prefix (e.g. `ulimit -f 64`), killed after `timeoutMs`. */
function runCliLimited(prefix: string, args: readonly string[], timeoutMs = 60_000): Promise<CliRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      "/bin/sh",
      ["-c", `${prefix}; exec "$0" "$@"`, process.execPath, "--import", "tsx", ENTRY, ...args],
      { stdio: ["ignore", "pipe", "pipe"], detached: true },
    );
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
    const timer = setTimeout(() => {
      stderr += "\n[killed: timed out]";
      if (child.pid) process.kill(-child.pid, "SIGKILL");
    }, timeoutMs);
    child.on("error", reject);
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

describe("easel generate, refine and tokenize refuse bad input before any model loads", () => {
  let out: string;
  let models: Awaited<ReturnType<typeof fixtureModels>>;
  let sourcePng: string;
  before(async () => {
    out = await mkdtemp(join(tmpdir(), "easel-cli-hardening-"));
    models = await fixtureModels();
    sourcePng = join(out, "source.png");
    await sharp({ create: { width: 64, height: 64, channels: 3, background: { r: 90, g: 120, b: 200 } } })
      .png()
      .toFile(sourcePng);
  });
  after(async () => {
    await rm(out, { recursive: true, force: true });
  });

  // A model folder that does not exist: a check that runs first reports its own error, not the folder's.
  const nowhere = () => join(out, "no-such-model");

  it("caps --prompt and --negative at 1000 characters in generate and refine", async () => {
    const long = "a".repeat(1001);
    const runs = await Promise.all([
      runCli(["generate", "--model", nowhere(), "--prompt", long, "--out", join(out, "long.png")]),
      runCli([
        "generate",
        "--model",
        nowhere(),
        "--prompt",
        "cat",
        "--negative",
        long,
        "--out",
        join(out, "long.png"),
      ]),
      runCli(["refine", "--model", nowhere(), "--image", sourcePng, "--prompt", "x".repeat(30_000)]),
    ]);
    assert.equal(runs[0]!.code, 2, runs[0]!.stderr);
    assert.match(runs[0]!.stderr, /prompt is 1001 characters; the limit is 1000/);
    assert.equal(runs[1]!.code, 2, runs[1]!.stderr);
    assert.match(runs[1]!.stderr, /negative prompt is 1001 characters; the limit is 1000/);
    assert.equal(runs[2]!.code, 2, runs[2]!.stderr);
    assert.match(runs[2]!.stderr, /prompt is 30000 characters; the limit is 1000/);
    assert.ok(!existsSync(join(out, "long.png")));
  });

  it("caps tokenize's prompt, given as an argument or on --stdin", async () => {
    const [argument, stdin] = await Promise.all([
      runCli(["tokenize", "--model", nowhere(), "b".repeat(1001)]),
      runCli(["tokenize", "--model", models.base, "--stdin"], { input: `a cat\n${"b".repeat(1001)}\n` }),
    ]);
    assert.equal(argument.code, 2, argument.stderr);
    assert.match(argument.stderr, /prompt is 1001 characters; the limit is 1000/);
    assert.equal(stdin.code, 2, stdin.stderr);
    assert.match(stdin.stderr, /line 2: the prompt is 1001 characters; the limit is 1000/);
    assert.equal(stdin.stdout.trim().split("\n").length, 1, "the line before is still answered");
  });

  it("treats a prompt of zero-width characters as empty, and refuses runaway emphasis", async () => {
    const [blank, weight] = await Promise.all([
      runCli(["generate", "--model", nowhere(), "--prompt", "\u200B\u200D\uFEFF"]),
      runCli(["generate", "--model", nowhere(), "--prompt", `(cat:${"9".repeat(41)})`]),
    ]);
    assert.equal(blank.code, 2, blank.stderr);
    assert.match(blank.stderr, /prompt is empty/);
    assert.equal(weight.code, 2, weight.stderr);
    assert.match(weight.stderr, /between -10 and 10/);
  });

  it("validates --device like EASEL_DEVICES", async () => {
    const runs = await Promise.all(
      ["banana", "cuda", "cuda:-1", "CPU", "cuda:1x"].map((device) =>
        runCli(["generate", "--model", nowhere(), "--prompt", "cat", "--device", device]),
      ),
    );
    for (const run of runs) {
      assert.equal(run.code, 2, run.stderr);
      assert.match(run.stderr, /--device must be "cpu", "cuda:N" or "webgpu"/);
    }
  });

  it("reports a CUDA provider that cannot load as the provider's problem, naming the library", async (t) => {
    const missing = cudaProviderLibraries().filter((library) => !existsSync(library));
    if (missing.length === 0) return t.skip("this machine has onnxruntime's CUDA provider");
    const run = await runCli([
      "generate",
      "--model",
      models.base,
      "--prompt",
      "cat",
      "--device",
      "cuda:0",
      "--out",
      join(out, "cuda.png"),
    ]);
    assert.equal(run.code, 2, run.stderr);
    assert.match(
      run.stderr,
      /error: cuda:0: onnxruntime cannot use CUDA: .*libonnxruntime_providers_\w+\.so/,
    );
    assert.doesNotMatch(run.stderr, /^error: .*text_encoder/m);
    assert.ok(!existsSync(join(out, "cuda.png")));
  });

  it("refuses special files as --image without reading them", async () => {
    const fifo = join(out, "fifo");
    spawnSync("mkfifo", [fifo]);
    const runs = await Promise.all(
      ["/dev/zero", fifo, out].map((image) =>
        runCliLimited("true", ["refine", "--model", nowhere(), "--image", image, "--prompt", "cat"], 30_000),
      ),
    );
    for (const run of runs) {
      assert.equal(run.code, 2, run.stderr);
      assert.match(run.stderr, /is not a regular file/);
    }
  });
});

describe("easel generate writes --out atomically", () => {
  let out: string;
  let models: Awaited<ReturnType<typeof fixtureModels>>;
  before(async () => {
    out = await mkdtemp(join(tmpdir(), "easel-cli-atomic-"));
    models = await fixtureModels();
  });
  after(async () => {
    await rm(out, { recursive: true, force: true });
  });

  it("leaves the old file untouched and no partial file when the disk fills up", async () => {
    const target = join(out, "keep.png");
    await writeFile(target, "the old image");
    // ulimit -f: writes past 16 KiB fail with EFBIG, as on a full disk; the PNG is larger.
    const run = await runCliLimited("ulimit -f 32", [
      "generate",
      "--model",
      models.base,
      "--prompt",
      "a red fox",
      "--steps",
      "2",
      "--width",
      "512",
      "--height",
      "512",
      "--seed",
      "3",
      "--out",
      target,
    ]);
    assert.notEqual(run.code, 0, run.stderr);
    assert.match(run.stderr, new RegExp(`error: could not write ${target.replaceAll("/", "\\/")}`, "i"));
    assert.equal(await readFile(target, "utf8"), "the old image");
    assert.deepEqual(await readdir(out), ["keep.png"]);
  });
});
