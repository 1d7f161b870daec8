import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, afterEach, before, beforeEach, describe, it } from "node:test";
import { HubClient } from "../../src/hub/client.js";
import { HubError } from "../../src/hub/errors.js";
import { PULL_STATE_FILE, type PullEvent, pullModel } from "../../src/hub/pull.js";
import { isPipelineFile, resolveRepo } from "../../src/hub/repos.js";
import { loadPipeline } from "../../src/pipeline/index.js";
import { runCli } from "../helpers/cli.js";
import { fixtureModels } from "../helpers/fixtures.js";
import { FakeHub, filesOf, type HubFile } from "./fake-hub.js";

const REPO = "acme/sdxl-onnx";
const TOKEN = "hf_secret_token_123";
/** Files beside the ONNX export that a pull must never fetch. */
const FOREIGN: HubFile[] = [
  { path: "sd_xl_base_1.0.safetensors", bytes: Buffer.from("checkpoint"), lfs: true },
  { path: "unet/diffusion_pytorch_model.safetensors", bytes: Buffer.from("torch unet"), lfs: true },
  { path: "text_encoder/model.safetensors", bytes: Buffer.from("torch clip"), lfs: true },
  { path: "unet/openvino_model.xml", bytes: Buffer.from("<xml/>"), lfs: false },
  { path: "vae/config.json", bytes: Buffer.from("{}"), lfs: false },
  { path: "README.md", bytes: Buffer.from("# card"), lfs: false },
];
const quick = { attempts: 3, retryDelayMs: () => 10 };

describe("easel pull against a loopback Hub", () => {
  let exportFiles: HubFile[];
  let hub: FakeHub;
  let work: string;

  before(async () => {
    exportFiles = await filesOf((await fixtureModels()).base);
  });
  beforeEach(async () => {
    work = await mkdtemp(join(tmpdir(), "easel-pull-"));
  });
  afterEach(async () => {
    await hub?.stop();
    await rm(work, { recursive: true, force: true });
  });

  const startHub = async (token?: string) => {
    hub = await new FakeHub({ repo: REPO, files: [...exportFiles, ...FOREIGN], pageSize: 5, token }).start();
    return hub;
  };
  const pull = (
    options: { token?: string; dir?: string; force?: boolean; onEvent?: (e: PullEvent) => void } = {},
  ) =>
    pullModel({
      client: new HubClient({ endpoint: hub.hubUrl, token: options.token }),
      repo: REPO,
      revision: "main",
      dir: options.dir ?? join(work, "model"),
      force: options.force ?? false,
      onEvent: options.onEvent,
      download: quick,
    });

  it("fetches only the export's files over every listing page, pinned to the commit, and the folder loads in the pipeline", async () => {
    await startHub(TOKEN);
    const result = await pull({ token: TOKEN });
    assert.equal(result.commit, hub.commit);
    const pages = hub.requests.filter((r) => r.url.includes("/tree/"));
    assert.ok(pages.length > 3, `expected several listing pages, got ${pages.length}`);
    for (const file of exportFiles) {
      assert.deepEqual(await readFile(join(work, "model", file.path)), file.bytes, file.path);
      assert.equal(existsSync(join(work, "model", `${file.path}.part`)), false);
    }
    const fetched = hub.requests.map((r) => decodeURIComponent(r.url));
    for (const foreign of FOREIGN) {
      assert.ok(!fetched.some((url) => url.includes(foreign.path)), `${foreign.path} was requested`);
      assert.equal(existsSync(join(work, "model", foreign.path)), false);
    }
    const resolves = hub.requests.filter((r) => r.url.includes("/resolve/"));
    assert.ok(
      resolves.every((r) => r.url.includes(`/resolve/${hub.commit}/`)),
      "a resolve did not name the commit",
    );
    const state = JSON.parse(await readFile(join(work, "model", PULL_STATE_FILE), "utf8"));
    assert.deepEqual(state, { repo: REPO, revision: "main", commit: hub.commit, complete: true });

    const pipeline = await loadPipeline({ modelDir: join(work, "model"), device: "cpu" });
    await pipeline.dispose();
  });

  it("sends the token to the Hub but not to the storage host a file redirects to", async () => {
    await startHub(TOKEN);
    await pull({ token: TOKEN });
    const storage = hub.requests.filter((r) => r.server === "storage");
    const lfsCount = exportFiles.filter((f) => f.lfs).length;
    assert.equal(storage.length, lfsCount);
    assert.ok(
      storage.every((r) => r.headers.authorization === undefined),
      "the token reached the storage host",
    );
    const hubRequests = hub.requests.filter((r) => r.server === "hub");
    assert.ok(hubRequests.every((r) => r.headers.authorization === `Bearer ${TOKEN}`));
  });

  it("resumes a body cut mid-way with Range from where it stopped, and verifies the whole file", async () => {
    await startHub();
    const path = "unet/model.onnx_data";
    const size = hub.file(path).bytes.length;
    hub.cutAfter.set(path, Math.floor(size / 2));
    const retries: PullEvent[] = [];
    await pull({ onEvent: (event) => event.kind === "retry" && retries.push(event) });
    const gets = hub.requests.filter(
      (r) => r.server === "storage" && r.url.includes(encodeURIComponent(path)),
    );
    assert.equal(gets.length, 2);
    assert.equal(gets[0]!.headers.range, undefined);
    assert.equal(gets[1]!.headers.range, `bytes=${Math.floor(size / 2)}-`);
    assert.equal(retries.length, 1);
    assert.deepEqual(await readFile(join(work, "model", path)), hub.file(path).bytes);
  });

  it("keeps the .part of a run that gave up, and the next run resumes it with Range", async () => {
    await startHub();
    const path = "unet/model.onnx_data";
    const half = Math.floor(hub.file(path).bytes.length / 2);
    hub.cutAfter.set(path, half);
    await assert.rejects(
      pullModel({
        client: new HubClient({ endpoint: hub.hubUrl, token: undefined }),
        repo: REPO,
        revision: "main",
        dir: join(work, "model"),
        force: false,
        download: { attempts: 1 },
      }),
      (error: unknown) =>
        error instanceof HubError &&
        error.problem === "network" &&
        /run the same command again/.test(error.message),
    );
    assert.equal((await stat(join(work, "model", `${path}.part`))).size, half);
    hub.requests.length = 0;
    await pull();
    const gets = hub.requests.filter(
      (r) => r.server === "storage" && r.url.includes(encodeURIComponent(path)),
    );
    assert.deepEqual(
      gets.map((r) => r.headers.range),
      [`bytes=${half}-`],
    );
    assert.deepEqual(await readFile(join(work, "model", path)), hub.file(path).bytes);
  });

  it("refuses a file whose bytes do not match the listed sha256 and keeps nothing of it", async () => {
    await startHub();
    const path = "vae_decoder/model.onnx";
    hub.corrupt.add(path);
    await assert.rejects(pull(), (error: unknown) => {
      assert.ok(error instanceof HubError);
      assert.equal(error.problem, "integrity");
      assert.match(error.message, /vae_decoder\/model\.onnx did not match the sha256/);
      return true;
    });
    assert.equal(existsSync(join(work, "model", path)), false);
    assert.equal(existsSync(join(work, "model", `${path}.part`)), false);
  });

  it("says to set HF_TOKEN on a 401 without a token, and never prints a refused token", async () => {
    await startHub(TOKEN);
    const noToken = await runCli(["pull", REPO, "--dir", join(work, "a")], {
      env: { HF_ENDPOINT: hub.hubUrl, HF_TOKEN: "", EASEL_DATA_DIR: join(work, "data") },
    });
    assert.equal(noToken.code, 2);
    assert.match(noToken.stderr, /^error: The Hub needs a token .*HTTP 401.*set HF_TOKEN/m);
    const wrongToken = "hf_wrong_value_987";
    await assert.rejects(pull({ token: wrongToken, dir: join(work, "b") }), (error: unknown) => {
      assert.ok(error instanceof HubError);
      assert.equal(error.problem, "auth");
      assert.match(error.userMessage, /refused HF_TOKEN/);
      assert.ok(!error.userMessage.includes(wrongToken), "the token is in the message");
      return true;
    });
  });

  it("refuses to pull into a finished folder unless forced; forced, it re-checks and keeps good files", async () => {
    await startHub();
    await pull();
    await assert.rejects(
      pull(),
      (error: unknown) =>
        error instanceof HubError && error.problem === "refused" && /--force/.test(error.message),
    );
    await writeFile(join(work, "model", "tokenizer", "vocab.json"), "{}");
    hub.requests.length = 0;
    const events: PullEvent[] = [];
    await pull({ force: true, onEvent: (event) => events.push(event) });
    const resolved = hub.requests
      .filter((r) => r.url.includes("/resolve/"))
      .map((r) => decodeURIComponent(r.url));
    assert.equal(resolved.length, 1);
    assert.match(resolved[0]!, /tokenizer\/vocab\.json$/);
    assert.equal(events.filter((e) => e.kind === "kept").length, exportFiles.length - 1);
  });

  it("as a command: plain progress lines off a terminal, the model checks, then the setting line", async () => {
    await startHub();
    const dir = join(work, "cli-model");
    const run = await runCli(["pull", REPO, "--dir", dir], {
      env: { HF_ENDPOINT: hub.hubUrl, HF_TOKEN: "", EASEL_DATA_DIR: join(work, "data") },
    });
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stderr, new RegExp(`${REPO} at main is commit ${hub.commit}`));
    assert.match(run.stderr, /\[\d+\/\d+\] unet\/model\.onnx_data/);
    assert.ok(!run.stderr.includes("\r"), "a redrawn bar off a terminal");
    assert.match(
      run.stderr,
      /^ {2}[\d.]+ [kMG]?B \/ [\d.]+ [kMG]?B \(100%\) {2}[\d.]+ [kMG]?B\/s {2}ETA \S+$/m,
    );
    assert.match(run.stdout, /^ok {4}base\/unet {2,}.*parameters/m);
    assert.equal(run.stdout.trim().split("\n").at(-1), `EASEL_MODEL_DIR=${dir}`);
    await assert.rejects(readFile(join(dir, "easel.json")), "no preset for an unknown repository");
  });

  it("writes a known fast model's easel.json with its preset, keeping one the folder has", async () => {
    hub = await new FakeHub({ repo: "stabilityai/sdxl-turbo", files: exportFiles }).start();
    const env = { HF_ENDPOINT: hub.hubUrl, HF_TOKEN: "", EASEL_DATA_DIR: join(work, "data") };
    const dir = join(work, "sdxl-turbo");
    const run = await runCli(["pull", "sdxl-turbo", "--dir", dir], { env });
    assert.equal(run.code, 0, run.stderr);
    assert.deepEqual(JSON.parse(await readFile(join(dir, "easel.json"), "utf8")), { preset: "sdxl-turbo" });
    assert.match(run.stderr, /wrote .*easel\.json \(preset sdxl-turbo\)/);
    // An operator's own settings are kept on a later pull.
    await writeFile(join(dir, "easel.json"), '{"preset": "sdxl-turbo", "steps": 2}');
    const again = await runCli(["pull", "stabilityai/sdxl-turbo", "--dir", dir, "--force"], { env });
    assert.equal(again.code, 0, again.stderr);
    assert.equal(await readFile(join(dir, "easel.json"), "utf8"), '{"preset": "sdxl-turbo", "steps": 2}');
  });
});

describe("easel pull's choice of repository and files", () => {
  let server: FakeHub;
  after(async () => server?.stop());

  it("takes presets and owner/name ids, and rejects anything else", () => {
    assert.deepEqual(resolveRepo("sdxl-base"), {
      repo: "stabilityai/stable-diffusion-xl-base-1.0",
      defaultDir: join("models", "sdxl-base"),
    });
    assert.deepEqual(resolveRepo("acme/sdxl-onnx"), {
      repo: "acme/sdxl-onnx",
      defaultDir: join("models", "sdxl-onnx"),
    });
    for (const bad of ["../../etc", "acme/..", "acme", "acme/a/b", "https://huggingface.co/acme/x"]) {
      assert.throws(
        () => resolveRepo(bad),
        /neither a preset \(sdxl-base, sdxl-refiner, sdxl-turbo, taesdxl\) nor a repository id/,
        bad,
      );
    }
  });

  it("keeps only the pipeline's files of a listing, and no path that leaves the folder", () => {
    const kept = [
      "model_index.json",
      "scheduler/scheduler_config.json",
      "tokenizer/merges.txt",
      "tokenizer_2/special_tokens_map.json",
      "text_encoder/config.json",
      "text_encoder_2/model.onnx_data",
      "unet/model.onnx",
      "vae_encoder/model.onnx",
    ];
    const dropped = [
      "unet/diffusion_pytorch_model.fp16.safetensors",
      "text_encoder/model.safetensors",
      "text_encoder/openvino_model.bin",
      "vae/config.json",
      "vae_1_0/diffusion_pytorch_model.safetensors",
      "sd_xl_base_1.0.safetensors",
      "unet/../../evil.onnx",
      "unet/sub/model.onnx",
      "README.md",
    ];
    for (const path of kept) assert.ok(isPipelineFile(path), path);
    for (const path of dropped) assert.ok(!isPipelineFile(path), path);
  });

  it("says so when a repository has no ONNX export", async () => {
    server = await new FakeHub({ repo: REPO, files: FOREIGN }).start();
    await assert.rejects(
      pullModel({
        client: new HubClient({ endpoint: server.hubUrl, token: undefined }),
        repo: REPO,
        revision: "main",
        dir: join(tmpdir(), `easel-none-${process.pid}`),
        force: false,
      }),
      /has no SDXL ONNX export \(missing model_index\.json/,
    );
  });
});
