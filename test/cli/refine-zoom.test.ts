/** `easel refine --zoom F`: an image zoomed out on the fixture pipeline, as a user runs it. */
import assert from "node:assert/strict";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import sharp from "sharp";
import { canvasLayout } from "../../src/pipeline/canvas/index.js";
import { borderDifference, keptPsnr } from "../helpers/canvas-checks.js";
import { runCli } from "../helpers/cli.js";
import { fixtureModels } from "../helpers/fixtures.js";

test("easel refine --zoom 1.5 keeps the size, puts the image in the middle and paints the border", async (t) => {
  const out = await mkdtemp(join(tmpdir(), "easel-cli-zoom-"));
  t.after(() => rm(out, { recursive: true, force: true }));
  const models = await fixtureModels();
  const picture = join(out, "picture.png");
  const base = ["--model", models.base, "--steps", "2", "--seed", "3"];
  const made = await runCli([
    "generate",
    ...base,
    "--prompt",
    "a harbour",
    "--width",
    "640",
    "--height",
    "512",
    "--out",
    picture,
  ]);
  assert.equal(made.code, 0, made.stderr);
  const zoomedPath = join(out, "zoomed.png");
  const zoomed = await runCli([
    "refine",
    ...base,
    "--prompt",
    "a wider harbour",
    "--image",
    picture,
    "--zoom",
    "1.5",
    "--out",
    zoomedPath,
  ]);
  assert.equal(zoomed.code, 0, zoomed.stderr);
  const [original, result] = [await readFile(picture), await readFile(zoomedPath)];
  const meta = await sharp(result).metadata();
  assert.deepEqual([meta.width, meta.height], [640, 512]);
  const { placement } = canvasLayout(640, 512, { kind: "zoom_out", factor: 1.5 });
  const centre = await keptPsnr(original, result, placement);
  t.diagnostic(`refine --zoom 1.5: centre PSNR ${centre.toFixed(1)} dB`);
  assert.ok(centre >= 35, `${centre} dB`);
  assert.ok((await borderDifference(original, result, placement)) > 8, "the border is painted anew");

  const refused = await runCli([
    "refine",
    ...base,
    "--prompt",
    "x",
    "--image",
    picture,
    "--zoom",
    "3",
    "--out",
    zoomedPath,
  ]);
  assert.notEqual(refused.code, 0);
  assert.match(refused.stderr, /Zoom must be a number from 1 to 2/);
  assert.doesNotMatch(refused.stderr, /\n\s+at /, "no stack trace");
});
