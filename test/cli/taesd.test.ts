/** The tiny VAE from the command line: `generate --draft`, decoded previews, `fixtures --taesd`, `pull taesdxl`. */
import assert from "node:assert/strict";
import { mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { Command } from "commander";
import sharp from "sharp";
import { registerFixturesCommand } from "../../src/cli/fixtures.js";
import { InvalidInputError } from "../../src/errors.js";
import { writeTinyVaeFolder } from "../../src/fixtures/taesd.js";
import { HubClient } from "../../src/hub/client.js";
import { HubError } from "../../src/hub/errors.js";
import { pullModel } from "../../src/hub/pull.js";
import { resolveRepo } from "../../src/hub/repos.js";
import { SessionClock } from "../../src/pipeline/onnx/session.js";
import { TinyVaeDecoder } from "../../src/pipeline/taesd.js";
import { runCli } from "../helpers/cli.js";
import { fixtureModels } from "../helpers/fixtures.js";
import { FakeHub, filesOf, type HubFile } from "../ops/fake-hub.js";

let work: string;
let taesdDir: string;
before(async () => {
  work = await mkdtemp(join(tmpdir(), "easel-cli-taesd-"));
  taesdDir = join(work, "taesdxl");
  await writeTinyVaeFolder(taesdDir, { architecture: { width: 8, blocksPerStage: 1 }, seed: 4 });
});
after(async () => {
  await rm(work, { recursive: true, force: true });
});

/** The float32 data of a .npy file easel wrote (format 1.0, little-endian). */
function npyData(bytes: Buffer): Float32Array {
  const headerLength = bytes.readUInt16LE(8);
  const start = 10 + headerLength;
  return new Float32Array(bytes.buffer.slice(bytes.byteOffset + start, bytes.byteOffset + bytes.length));
}

describe("easel generate with a tiny VAE", () => {
  let models: Awaited<ReturnType<typeof fixtureModels>>;
  before(async () => {
    models = await fixtureModels();
  });
  const generate = (env: Record<string, string>, ...extra: string[]) =>
    runCli(
      [
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
        ...extra,
      ],
      { env: { EASEL_TAESD_DIR: "", EASEL_TAESD_PREVIEWS: "auto", ...env } },
    );

  it("--draft writes the tiny VAE's decode of the final latents", async () => {
    const out = join(work, "draft.png");
    const latents = join(work, "draft.npy");
    const run = await generate({ EASEL_TAESD_DIR: taesdDir }, "--draft", "--out", out, "--latents", latents);
    assert.equal(run.code, 0, run.stderr);
    const decoder = await TinyVaeDecoder.load(taesdDir, { device: "cpu" }, new SessionClock());
    try {
      const expected = await decoder.decode(npyData(await readFile(latents)), 64, 64);
      const pixels = await sharp(await readFile(out))
        .removeAlpha()
        .raw()
        .toBuffer();
      assert.ok(pixels.equals(Buffer.from(expected)));
    } finally {
      await decoder.release();
    }
  });

  it("--draft without EASEL_TAESD_DIR is one clear line naming the setting, and writes nothing", async () => {
    const out = join(work, "no-draft.png");
    const run = await generate({}, "--draft", "--out", out);
    assert.notEqual(run.code, 0);
    assert.match(run.stderr, /--draft needs a tiny VAE: set EASEL_TAESD_DIR/);
    assert.doesNotMatch(run.stderr, /\n\s+at /, "no stack trace");
    assert.ok(!(await readdir(work)).includes("no-draft.png"));
  });

  it("a broken EASEL_TAESD_DIR is an error naming the folder", async () => {
    const missing = join(work, "missing-taesd");
    const run = await generate({ EASEL_TAESD_DIR: missing }, "--out", join(work, "x.png"));
    assert.notEqual(run.code, 0);
    assert.ok(run.stderr.includes(missing), run.stderr);
  });

  it("--previews are decoded at the image's size with EASEL_TAESD_PREVIEWS=on, and latent-sized under auto on the CPU", async () => {
    const on = join(work, "previews-on");
    const auto = join(work, "previews-auto");
    const [a, b] = await Promise.all([
      generate(
        { EASEL_TAESD_DIR: taesdDir, EASEL_TAESD_PREVIEWS: "on" },
        "--previews",
        on,
        "--preview-every",
        "1",
        "--out",
        join(work, "p1.png"),
      ),
      generate(
        { EASEL_TAESD_DIR: taesdDir },
        "--previews",
        auto,
        "--preview-every",
        "1",
        "--out",
        join(work, "p2.png"),
      ),
    ]);
    assert.equal(a!.code, 0, a!.stderr);
    assert.equal(b!.code, 0, b!.stderr);
    const sizeOf = async (dir: string) => {
      const meta = await sharp(await readFile(join(dir, "step-001.jpg"))).metadata();
      return [meta.width, meta.height];
    };
    assert.deepEqual(await sizeOf(on), [512, 512]);
    assert.deepEqual(await sizeOf(auto), [128, 128]);
  });
});

describe("easel fixtures --taesd", () => {
  const program = () => {
    const printed: string[] = [];
    const root = new Command("easel").exitOverride().configureOutput({
      writeOut: (text) => printed.push(text),
      writeErr: (text) => printed.push(text),
    });
    registerFixturesCommand(root);
    return { root, printed };
  };

  it("writes TAESDXL's decoder at full width in either layout, and the folder loads", async () => {
    for (const [layout, file, range] of [
      ["diffusers", join("vae_decoder", "model.onnx"), "signed"],
      ["module", "taesdxl_decoder.onnx", "unit"],
    ] as const) {
      const out = join(work, `fixtures-${layout}`);
      const { root, printed } = program();
      await root.parseAsync(["fixtures", "--out", out, "--taesd", layout], { from: "user" });
      assert.equal(printed.join("").trim(), `taesdxl\t${join(out, "taesdxl")}`);
      const decoder = await TinyVaeDecoder.load(join(out, "taesdxl"), { device: "cpu" }, new SessionClock());
      try {
        assert.equal(decoder.folder.model, join(out, "taesdxl", file));
        assert.equal(decoder.folder.outputRange, range);
        assert.equal((await decoder.decodeRaw(new Float32Array(4 * 2 * 2), 2, 2)).length, 3 * 16 * 16);
      } finally {
        await decoder.release();
      }
      // TAESDXL's 1.22 M float32 parameters: about 5 MB, as the real export.
      const size = (await readFile(join(out, "taesdxl", file))).length;
      assert.ok(size > 4.5e6 && size < 5.5e6, `${size} bytes`);
    }
  });

  it("refuses a layout it does not know and the SDXL-only flags", async () => {
    await assert.rejects(
      program().root.parseAsync(["fixtures", "--out", work, "--taesd", "pth"], { from: "user" }),
      (error: unknown) => error instanceof InvalidInputError && error.field === "taesd",
    );
    await assert.rejects(
      program().root.parseAsync(["fixtures", "--out", work, "--taesd", "--variant", "base"], {
        from: "user",
      }),
      (error: unknown) => error instanceof InvalidInputError && error.field === "taesd",
    );
  });
});

describe("easel pull taesdxl", () => {
  let hub: FakeHub | undefined;
  after(async () => hub?.stop());

  it("is a preset for julienkay/taesdxl", () => {
    assert.deepEqual(resolveRepo("taesdxl"), {
      repo: "julienkay/taesdxl",
      kind: "taesd",
      defaultDir: join("models", "taesdxl"),
    });
  });

  it("fetches only the decoder's files, checks it loads and prints EASEL_TAESD_DIR", async () => {
    const source = join(work, "hub-taesd");
    await writeTinyVaeFolder(source, { architecture: { width: 8, blocksPerStage: 1 } });
    const extra: HubFile[] = [
      { path: "vae_encoder/model.onnx", bytes: Buffer.from("encoder"), lfs: true },
      { path: "vae_encoder/config.json", bytes: Buffer.from("{}"), lfs: false },
      { path: "README.md", bytes: Buffer.from("# taesdxl"), lfs: false },
    ];
    hub = await new FakeHub({
      repo: "julienkay/taesdxl",
      files: [...(await filesOf(source)), ...extra],
    }).start();
    const dir = join(work, "pulled-taesd");
    const run = await runCli(["pull", "taesdxl", "--dir", dir], {
      env: { HF_ENDPOINT: hub.hubUrl, HF_TOKEN: "", EASEL_DATA_DIR: join(work, "data") },
    });
    assert.equal(run.code, 0, run.stderr);
    assert.deepEqual((await readdir(join(dir, "vae_decoder"))).sort(), ["config.json", "model.onnx"]);
    assert.ok(!(await readdir(dir)).includes("vae_encoder"));
    assert.match(run.stdout, /output in \[-1, 1\]/);
    assert.equal(run.stdout.trim().split("\n").at(-1), `EASEL_TAESD_DIR=${dir}`);
  });

  it("says so when a repository has no TAESD decoder", async () => {
    const server = await new FakeHub({
      repo: "acme/not-taesd",
      files: [{ path: "vae_encoder/model.onnx", bytes: Buffer.from("x"), lfs: true }],
    }).start();
    try {
      await assert.rejects(
        pullModel({
          client: new HubClient({ endpoint: server.hubUrl, token: undefined }),
          repo: "acme/not-taesd",
          revision: "main",
          dir: join(work, "not-taesd"),
          force: false,
          kind: "taesd",
        }),
        (error: unknown) => error instanceof HubError && /no TAESD ONNX decoder/.test(error.message),
      );
    } finally {
      await server.stop();
    }
  });
});
