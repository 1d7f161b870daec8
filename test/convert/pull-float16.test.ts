/** `easel pull … --dtype float16`: the verified download, then a float16 copy the setting points at. */
import assert from "node:assert/strict";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { readFolderWeights } from "../../src/doctor/memory-plan.js";
import { CONVERSION_RECORD } from "../../src/pipeline/convert/index.js";
import { loadPipeline } from "../../src/pipeline/index.js";
import { runCli } from "../helpers/cli.js";
import { fixtureModels } from "../helpers/fixtures.js";
import { FakeHub, filesOf } from "../ops/fake-hub.js";

const REPO = "acme/sdxl-onnx";

describe("easel pull --dtype float16 against a loopback Hub", () => {
  let hub: FakeHub;
  let work: string;

  before(async () => {
    work = await mkdtemp(join(tmpdir(), "easel-pull-fp16-"));
    hub = await new FakeHub({
      repo: REPO,
      files: await filesOf((await fixtureModels()).base),
      pageSize: 5,
    }).start();
  });
  after(async () => {
    await hub?.stop();
    await rm(work, { recursive: true, force: true });
  });

  it("converts after the verified download, keeps the download, and prints the float16 folder's setting", async () => {
    const dir = join(work, "sdxl");
    const env = { HF_ENDPOINT: hub.hubUrl, HF_TOKEN: "", EASEL_DATA_DIR: join(work, "data") };
    const run = await runCli(["pull", REPO, "--dir", dir, "--dtype", "float16"], { env });
    assert.equal(run.code, 0, run.stderr);
    assert.equal(run.stdout.trim().split("\n").at(-1), `EASEL_MODEL_DIR=${dir}-fp16`);
    assert.match(run.stderr, /converting unet/);
    const record = JSON.parse(await readFile(join(`${dir}-fp16`, CONVERSION_RECORD), "utf8")) as {
      source: string;
      dtype: string;
    };
    assert.equal(record.source, dir);
    assert.equal(record.dtype, "float16");
    const downloaded = await readFolderWeights(dir, "base");
    const converted = await readFolderWeights(`${dir}-fp16`, "base");
    assert.equal(downloaded.find((w) => w.component === "unet")!.dtype, "float32");
    assert.equal(converted.find((w) => w.component === "unet")!.dtype, "float16");
    const pipeline = await loadPipeline({ modelDir: `${dir}-fp16`, device: "cpu" });
    try {
      const result = await pipeline.generate({
        prompt: "a boat",
        width: 512,
        height: 512,
        seed: 1n,
        steps: 2,
        guidance: 5,
        scheduler: "euler",
        count: 1,
      });
      assert.ok(result.latents.every(Number.isFinite));
    } finally {
      await pipeline.dispose();
    }
    const bad = await runCli(["pull", REPO, "--dir", join(work, "x"), "--dtype", "int8"], { env });
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /--dtype must be float16/);
  });
});
