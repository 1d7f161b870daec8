import assert from "node:assert/strict";
import { join } from "node:path";
import { describe, it } from "node:test";
import Database from "better-sqlite3";
import { ConfigError, InvalidInputError } from "../../src/errors.js";
import { generateParamsOf, validateRequest } from "../../src/queue/params.js";
import { JobStore, SCHEMA_VERSION } from "../../src/queue/store.js";
import { request, tempDir } from "./support.js";

const TIMINGS = { totalMs: 10, sessionMs: 8, textEncodeMs: 1, denoiseMs: 7, vaeMs: 1, encodeImageMs: 1 };

function image(path: string, seed: string) {
  return { path, seed, mime: "image/png" as const, width: 1024, height: 1024 };
}

describe("JobStore", () => {
  it("stores a request as given and reads it back by id", () => {
    const store = JobStore.open(":memory:");
    const asked = request("alice", {
      negativePrompt: "fog",
      seed: "18446744073709551615",
      variation: { subseed: "7", strength: 0.3 },
      refiner: { enabled: true, switchAt: 0.8 },
      roles: ["r1"],
    });
    const inserted = store.insert({ id: "j1", request: asked, tier: 2, createdAt: 1000 });
    const read = store.get("j1")!;
    assert.deepEqual(read, inserted);
    assert.deepEqual(read.request, asked);
    assert.equal(read.status, "queued");
    assert.equal(read.tier, 2);
    assert.equal(store.get("nope"), undefined);
    store.close();
  });

  it("refuses a second job with the same id", () => {
    const store = JobStore.open(":memory:");
    store.insert({ id: "j1", request: request("a"), tier: 0, createdAt: 1 });
    assert.throws(() => store.insert({ id: "j1", request: request("b"), tier: 0, createdAt: 2 }));
    store.close();
  });

  it("records a run from start to done with its seeds, timings and images", () => {
    const store = JobStore.open(":memory:");
    store.insert({ id: "j1", request: request("a"), tier: 0, createdAt: 1 });
    assert.equal(store.markRunning("j1", "cuda:1", 5), true);
    assert.equal(store.markRunning("j1", "cuda:0", 6), false, "only a queued job can start");
    let job = store.get("j1")!;
    assert.equal(job.status, "running");
    assert.equal(job.device, "cuda:1");
    assert.equal(job.startedAt, 5);
    assert.equal(job.attempts, 1);
    store.markDone(
      "j1",
      { seeds: ["42", "43"], timings: TIMINGS, images: [image("/x/0.png", "42"), image("/x/1.png", "43")] },
      9,
    );
    job = store.get("j1")!;
    assert.equal(job.status, "done");
    assert.equal(job.finishedAt, 9);
    assert.deepEqual(job.seeds, ["42", "43"]);
    assert.deepEqual(job.timings, TIMINGS);
    assert.deepEqual(
      job.images.map((i) => [i.index, i.path, i.seed, i.deleted]),
      [
        [0, "/x/0.png", "42", false],
        [1, "/x/1.png", "43", false],
      ],
    );
    store.close();
  });

  it("keeps where a canvas result placed its source, image by image, across a reopen", async (t) => {
    const file = join(await tempDir(t), "jobs.db");
    let store = JobStore.open(file);
    store.insert({ id: "z", request: request("a"), tier: 0, createdAt: 1 });
    store.markRunning("z", "cpu", 2);
    const placed = { x: 128, y: 128, width: 256, height: 256 };
    store.markDone(
      "z",
      {
        seeds: ["1", "2"],
        timings: TIMINGS,
        images: [{ ...image("/z/0.png", "1"), source: placed }, image("/z/1.png", "2")],
      },
      3,
    );
    store.close();
    store = JobStore.open(file);
    const [first, second] = store.get("z")!.images;
    assert.deepEqual(first!.source, placed);
    assert.equal(second!.source, undefined);
    assert.equal("source" in second!, false);
    store.close();
  });

  it("records failures and cancellations, and never reopens a finished job", () => {
    const store = JobStore.open(":memory:");
    store.insert({ id: "f", request: request("a"), tier: 0, createdAt: 1 });
    store.insert({ id: "c", request: request("a"), tier: 0, createdAt: 2 });
    store.markRunning("f", "cpu", 3);
    store.markFailed("f", { code: "timeout", message: "too slow" }, 4);
    store.markCancelled("c", "discord:mod", 5);
    assert.deepEqual(store.get("f")!.error, { code: "timeout", message: "too slow" });
    assert.equal(store.get("f")!.status, "failed");
    assert.equal(store.get("c")!.status, "cancelled");
    assert.equal(store.get("c")!.cancelledBy, "discord:mod");
    store.markQueued("f");
    store.markCancelled("f", "discord:x", 6);
    assert.equal(store.get("f")!.status, "failed");
    assert.equal(store.markRunning("c", "cpu", 7), false);
    store.close();
  });

  it("lists unfinished jobs in arrival order, with running ones put back by markQueued", () => {
    const store = JobStore.open(":memory:");
    for (const [i, id] of ["a", "b", "c", "d"].entries())
      store.insert({ id, request: request("u"), tier: 0, createdAt: i });
    store.markRunning("b", "cpu", 10);
    store.markRunning("c", "cpu", 10);
    store.markDone("c", { seeds: ["1"], timings: TIMINGS, images: [] }, 11);
    assert.deepEqual(
      store.unfinished().map((job) => [job.id, job.status]),
      [
        ["a", "queued"],
        ["b", "running"],
        ["d", "queued"],
      ],
    );
    store.markQueued("b");
    const b = store.get("b")!;
    assert.equal(b.status, "queued");
    assert.equal(b.device, undefined);
    assert.equal(b.attempts, 1, "the attempt stays counted");
    store.close();
  });

  it("gives a user's history newest first, limited, and only theirs", () => {
    const store = JobStore.open(":memory:");
    for (let i = 0; i < 5; i++)
      store.insert({ id: `a${i}`, request: request("alice"), tier: 0, createdAt: i });
    store.insert({ id: "b0", request: request("bob"), tier: 0, createdAt: 9 });
    assert.deepEqual(
      store.historyOf("discord:alice", 3).map((job) => job.id),
      ["a4", "a3", "a2"],
    );
    assert.deepEqual(
      store.historyOf("discord:bob").map((job) => job.id),
      ["b0"],
    );
    assert.deepEqual(store.historyOf("discord:carol"), []);
    store.close();
  });

  it("makes images sweepable past the retention time only, posted or not, and remembers deleted files", () => {
    const store = JobStore.open(":memory:");
    for (const id of ["posted", "old", "fresh"]) {
      store.insert({ id, request: request("a"), tier: 0, createdAt: 0 });
      store.markRunning(id, "cpu", 0);
    }
    store.markDone("posted", { seeds: ["1"], timings: TIMINGS, images: [image("/p.png", "1")] }, 100);
    store.markDone("old", { seeds: ["1"], timings: TIMINGS, images: [image("/o.png", "1")] }, 10);
    store.markDone("fresh", { seeds: ["1"], timings: TIMINGS, images: [image("/f.png", "1")] }, 100);
    assert.equal(store.markPosted("posted", "discord:c1/m9", 101), true);
    assert.equal(store.markPosted("missing", "x", 101), false);
    assert.equal(store.get("posted")!.postedTo, "discord:c1/m9");
    const candidates = store
      .sweepCandidates(50)
      .map((c) => c.jobId)
      .sort();
    assert.deepEqual(candidates, ["old"], "a posted image stays for the buttons until the retention time");
    assert.deepEqual(
      store
        .sweepCandidates(150)
        .map((c) => c.jobId)
        .sort(),
      ["fresh", "old", "posted"],
    );
    store.markImageDeleted("old", 0, 200);
    assert.deepEqual(
      store
        .sweepCandidates(150)
        .map((c) => c.jobId)
        .sort(),
      ["fresh", "posted"],
    );
    assert.equal(store.get("old")!.images[0]!.deleted, true);
    assert.equal(store.isFileInUse("/f.png", "fresh"), true);
    assert.equal(store.isFileInUse("/o.png", "old"), false);
    store.close();
  });

  it("keeps everything in a file across reopening, at the current schema version", async (t) => {
    const dir = await tempDir(t);
    const file = join(dir, "nested", "jobs.sqlite");
    const first = JobStore.open(file);
    first.insert({ id: "j1", request: request("a"), tier: 1, createdAt: 5 });
    first.markRunning("j1", "cuda:0", 6);
    first.close();
    const second = JobStore.open(file);
    assert.equal(second.schemaVersion, SCHEMA_VERSION);
    assert.equal(second.get("j1")!.status, "running");
    assert.equal(second.get("j1")!.device, "cuda:0");
    second.close();
    const raw = new Database(file, { readonly: true });
    assert.equal(raw.pragma("journal_mode", { simple: true }), "wal");
    assert.deepEqual(raw.prepare("SELECT version FROM schema_version").all(), [{ version: SCHEMA_VERSION }]);
    raw.close();
  });

  it("refuses a store written by a newer version", async (t) => {
    const dir = await tempDir(t);
    const file = join(dir, "jobs.sqlite");
    JobStore.open(file).close();
    const raw = new Database(file);
    raw.prepare("UPDATE schema_version SET version = ?").run(SCHEMA_VERSION + 1);
    raw.close();
    assert.throws(
      () => JobStore.open(file),
      (error: unknown) =>
        error instanceof ConfigError &&
        error.userMessage.includes(file) &&
        /newer easel \(schema version \d+; this one knows up to \d+\)/.test(error.userMessage),
    );
  });
});

describe("generateParamsOf", () => {
  it("turns decimal seeds into bigints and the refiner switch into params", () => {
    const params = generateParamsOf(
      request("a", {
        seed: "18446744073709551615",
        refiner: { enabled: true, switchAt: 0.7 },
        variation: { subseed: "99", strength: 0.25 },
        negativePrompt: "",
      }),
    );
    assert.equal(params.seed, 18446744073709551615n);
    assert.deepEqual(params.refiner, { switchAt: 0.7 });
    assert.deepEqual(params.variation, { subseed: 99n, strength: 0.25 });
    assert.equal(params.negativePrompt, "", "an empty negative prompt is kept (it is encoded, not zeroed)");
  });

  it("leaves out what the request leaves out", () => {
    const params = generateParamsOf(request("a"));
    assert.equal("refiner" in params, false);
    assert.equal("variation" in params, false);
    assert.equal("negativePrompt" in params, false);
    assert.equal("source" in params, false);
  });

  it("puts the source image's bytes in place of its job reference", () => {
    const bytes = Uint8Array.of(1, 2, 3);
    const params = generateParamsOf(
      request("a", { source: { jobId: "j", imageIndex: 1, strength: 0.3, upscale: 2 } }),
      bytes,
    );
    assert.deepEqual(params.source, { image: bytes, strength: 0.3, upscale: 2 });
    assert.throws(() =>
      generateParamsOf(request("a", { source: { jobId: "j", imageIndex: 0, strength: 0.3, upscale: 1 } })),
    );
  });

  it("gives a canvas action to the pipeline, a repaint's mask as the bytes given for its upload", () => {
    const source = { jobId: "j", imageIndex: 0, strength: 0.9, upscale: 1 as const };
    const image = Uint8Array.of(1, 2, 3);
    const zoom = generateParamsOf(request("a", { source, canvas: { kind: "zoom_out", factor: 1.5 } }), image);
    assert.deepEqual(zoom.canvas, { kind: "zoom_out", factor: 1.5 });
    const pan = generateParamsOf(request("a", { source, canvas: { kind: "pan", direction: "up" } }), image);
    assert.deepEqual(pan.canvas, { kind: "pan", direction: "up" });
    const rects = [{ x: 1, y: 2, width: 3, height: 4 }];
    const byRects = generateParamsOf(request("a", { source, canvas: { kind: "repaint", rects } }), image);
    assert.deepEqual(byRects.canvas, { kind: "repaint", rects });
    const mask = Uint8Array.of(0x89, 0x50, 0x4e, 0x47);
    const masked = request("a", {
      source,
      canvas: { kind: "repaint", maskUploadId: "upload-0123456789abcdef" },
    });
    assert.deepEqual(generateParamsOf(masked, image, mask).canvas, { kind: "repaint", mask });
    assert.throws(() => generateParamsOf(masked, image), /no mask bytes were given/);
  });

  it("refuses a canvas request the pipeline would refuse before it is queued", () => {
    const source = { jobId: "j", imageIndex: 0, strength: 0.9, upscale: 1 as const };
    const masked = request("a", {
      source,
      canvas: { kind: "repaint", maskUploadId: "upload-0123456789abcdef" },
    });
    validateRequest(masked);
    for (const bad of [
      request("a", { canvas: { kind: "zoom_out", factor: 2 } }),
      request("a", { source, canvas: { kind: "zoom_out", factor: 2.5 } }),
      request("a", { source: { ...source, upscale: 2 }, canvas: { kind: "pan", direction: "left" } }),
      request("a", { source, canvas: { kind: "repaint", rects: [] } }),
    ]) {
      assert.throws(() => validateRequest(bad), InvalidInputError, JSON.stringify(bad.canvas));
    }
  });

  it("refuses seeds that are not plain decimal numbers, which BigInt alone would read", () => {
    for (const seed of ["0x10", " 7", "", "1e3", "-1"]) {
      assert.throws(
        () => generateParamsOf(request("a", { seed })),
        (error: unknown) => error instanceof InvalidInputError && error.field === "seed",
        JSON.stringify(seed),
      );
    }
    assert.throws(
      () => generateParamsOf(request("a", { variation: { subseed: "0b1", strength: 0.5 } })),
      (error: unknown) => error instanceof InvalidInputError && error.field === "subseed",
    );
  });
});
