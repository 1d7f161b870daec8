/** SDXL micro-conditioning and prompt embeddings against diffusers' facts. */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { after, before, describe, it } from "node:test";
import {
  baseTimeIds,
  REFINER_AESTHETIC_SCORE,
  REFINER_NEGATIVE_AESTHETIC_SCORE,
  refinerTimeIds,
  stackRows,
  usesGuidance,
} from "../../src/pipeline/conditioning.js";
import { readModelFolder } from "../../src/pipeline/model-folder.js";
import { ModelSession, SessionClock } from "../../src/pipeline/onnx/session.js";
import { type ClipTextEncoder, encodePrompts, loadTextEncoders } from "../../src/pipeline/text-encoder.js";
import { fixtureModels } from "../helpers/fixtures.js";

interface TimeIdsCase {
  description: string;
  width: number;
  height: number;
  call_args: Record<string, unknown>;
  requires_aesthetics_score?: boolean;
  add_time_ids: number[];
  negative_add_time_ids: number[];
}

const reference = JSON.parse(
  readFileSync(new URL("../fixtures/reference/sdxl_conditioning.json", import.meta.url), "utf8"),
) as {
  base_add_time_ids: TimeIdsCase[];
  img2img_add_time_ids: TimeIdsCase[];
};

describe("micro-conditioning", () => {
  // easel always uses the defaults: original = target = the image size, crops 0,0.
  const defaults = (cases: TimeIdsCase[]) => cases.filter((c) => Object.keys(c.call_args).length === 0);

  it("matches diffusers' base time ids for every default-argument size", () => {
    const cases = defaults(reference.base_add_time_ids);
    assert.ok(cases.length >= 5);
    for (const c of cases) {
      assert.deepEqual(baseTimeIds(c.width, c.height), c.add_time_ids, c.description);
      assert.deepEqual(baseTimeIds(c.width, c.height), c.negative_add_time_ids, c.description);
    }
  });

  it("matches diffusers' refiner time ids with aesthetic scores 6.0 and 2.5", () => {
    const cases = defaults(reference.img2img_add_time_ids).filter((c) => c.requires_aesthetics_score);
    assert.ok(cases.length >= 1);
    for (const c of cases) {
      assert.deepEqual(
        refinerTimeIds(c.width, c.height, REFINER_AESTHETIC_SCORE),
        c.add_time_ids,
        c.description,
      );
      assert.deepEqual(
        refinerTimeIds(c.width, c.height, REFINER_NEGATIVE_AESTHETIC_SCORE),
        c.negative_add_time_ids,
        c.description,
      );
    }
  });

  it("runs guidance only above 1 and stacks negative rows before positive ones", () => {
    assert.equal(usesGuidance(1), false);
    assert.equal(usesGuidance(1.01), true);
    assert.deepEqual(
      Array.from(stackRows(Float32Array.of(1, 2), Float32Array.of(9, 8), 2)),
      [9, 8, 9, 8, 1, 2, 1, 2],
    );
    assert.deepEqual(Array.from(stackRows(Float32Array.of(1, 2), undefined, 2)), [1, 2, 1, 2]);
  });
});

describe("prompt embeddings on the fixture encoders", () => {
  const clock = new SessionClock();
  let baseEncoders: ClipTextEncoder[];
  let refinerEncoders: ClipTextEncoder[];
  const sessions: ModelSession[] = [];

  before(async () => {
    const models = await fixtureModels();
    const load = async (dir: string) => {
      return loadTextEncoders(await readModelFolder(dir), async (path) => {
        const session = await ModelSession.load(path, { device: "cpu" }, clock);
        sessions.push(session);
        return session;
      });
    };
    baseEncoders = await load(models.base);
    refinerEncoders = await load(models.refiner);
  });
  after(async () => {
    await Promise.all(sessions.map((s) => s.release()));
  });

  it("concatenates both penultimate hidden states to 2048 wide with a 1280 pooled vector", async () => {
    const encoded = await encodePrompts(baseEncoders, "a cat", "a dog", {
      guidance: true,
      zeroMissingNegative: true,
    });
    assert.equal(encoded.width, 2048);
    assert.equal(encoded.positive.hidden.length, 77 * 2048);
    assert.equal(encoded.positive.pooled.length, 1280);
    assert.ok(encoded.negative!.hidden.some((v) => v !== 0));
  });

  it("zeroes a missing negative prompt for the base, but encodes an explicit empty one", async () => {
    const missing = await encodePrompts(baseEncoders, "a cat", undefined, {
      guidance: true,
      zeroMissingNegative: true,
    });
    assert.ok(missing.negative!.hidden.every((v) => v === 0));
    assert.ok(missing.negative!.pooled.every((v) => v === 0));
    const empty = await encodePrompts(baseEncoders, "a cat", "", {
      guidance: true,
      zeroMissingNegative: true,
    });
    assert.ok(empty.negative!.hidden.some((v) => v !== 0));
    const unguided = await encodePrompts(baseEncoders, "a cat", "a dog", {
      guidance: false,
      zeroMissingNegative: true,
    });
    assert.equal(unguided.negative, undefined);
  });

  it("encodes the refiner's empty negative prompt instead of zeroing it, 1280 wide", async () => {
    const encoded = await encodePrompts(refinerEncoders, "a cat", undefined, {
      guidance: true,
      zeroMissingNegative: false,
    });
    assert.equal(encoded.width, 1280);
    assert.equal(encoded.positive.hidden.length, 77 * 1280);
    assert.ok(encoded.negative!.hidden.some((v) => v !== 0));
  });

  it("splits a long prompt into 77-token chunks and pads the negative to the same count", async () => {
    const long = Array.from({ length: 200 }, (_, i) => `word${i % 10}`).join(" ");
    const encoded = await encodePrompts(baseEncoders, long, "blurry", {
      guidance: true,
      zeroMissingNegative: true,
    });
    const chunks = encoded.positive.chunks;
    assert.ok(chunks >= 3, `${chunks} chunks`);
    assert.equal(encoded.positive.hidden.length, chunks * 77 * 2048);
    assert.equal(encoded.negative!.chunks, chunks);
    assert.equal(encoded.negative!.hidden.length, chunks * 77 * 2048);
  });

  it("takes the plain path for a prompt without emphasis, and changes only with emphasis", async () => {
    const plain = await encodePrompts(baseEncoders, "a cat on a mat", undefined, {
      guidance: false,
      zeroMissingNegative: true,
    });
    // The reference path: each encoder run on tokenizer.pack(tokenizer.encode(prompt)), its
    // penultimate hidden state placed in its columns of the 2048-wide embedding.
    let offset = 0;
    for (const encoder of baseEncoders) {
      const ids = encoder.tokenizer.pack(encoder.tokenizer.encode("a cat on a mat")).ids;
      const { hidden } = await encoder.encode([{ ids, weights: new Float32Array(77).fill(1) }]);
      for (let t = 0; t < 77; t++) {
        const row = plain.positive.hidden.subarray(t * 2048 + offset, t * 2048 + offset + encoder.width);
        assert.deepEqual(row, hidden.subarray(t * encoder.width, (t + 1) * encoder.width));
      }
      offset += encoder.width;
    }
    const neutral = await encodePrompts(baseEncoders, "a (cat:1) on a mat", undefined, {
      guidance: false,
      zeroMissingNegative: true,
    });
    const emphasised = await encodePrompts(baseEncoders, "a (cat:1.5) on a mat", undefined, {
      guidance: false,
      zeroMissingNegative: true,
    });
    assert.deepEqual(plain.positive.hidden, neutral.positive.hidden);
    assert.notDeepEqual(plain.positive.hidden, emphasised.positive.hidden);
    // The chunk's mean is restored after weighting, as the popular SD UIs do.
    const mean = (a: Float32Array) => a.reduce((s, v) => s + v, 0) / a.length;
    assert.ok(Math.abs(mean(emphasised.positive.hidden) - mean(plain.positive.hidden)) < 1e-3);
  });
});
