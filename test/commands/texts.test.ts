import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { requestForButton } from "../../src/commands/buttons.js";
import { parseImagine } from "../../src/commands/imagine.js";
import {
  cancelledText,
  durationText,
  failedText,
  progressText,
  queuedText,
  resultCaption,
} from "../../src/commands/texts.js";
import { alice, config, countingSeeds } from "./support.js";

describe("result caption", () => {
  const request = parseImagine(
    { text: "a lighthouse at dusk --ar 16:9 --seed 7 --steps 25 --cfg 6.5 --sampler euler-a --n 2" },
    alice,
    config,
    countingSeeds(),
  );

  it("shows the prompt, then seed, size, steps, guidance, scheduler, refiner and time", () => {
    const caption = resultCaption(request, { seeds: ["7", "8"], durationMs: 12_345 });
    assert.equal(
      caption,
      "a lighthouse at dusk\nseeds 7-8 · 1344x768 · 25 steps · cfg 6.5 · euler-a · refiner on · 12.3 s",
    );
  });

  it("lists seeds that are not consecutive and shows a single seed plainly", () => {
    assert.match(resultCaption(request, { seeds: ["7", "9"], durationMs: 1 }), /seeds 7, 9 ·/);
    assert.match(
      resultCaption({ ...request, count: 1 }, { seeds: ["7"], durationMs: 1 }),
      /^a lighthouse at dusk\nseed 7 ·/,
    );
    assert.match(resultCaption(request, { seeds: [], durationMs: 1 }), /\nseed 7 ·/);
  });

  it("notes variations, refines and upscales, and a refiner that was off", () => {
    const varied = requestForButton(
      { kind: "vary", jobId: "j", imageIndex: 1, strength: "strong" },
      request,
      alice,
      () => 5n,
    );
    assert.match(resultCaption(varied, { seeds: ["8"], durationMs: 1 }), / · variation 0\.45 · /);
    const upscaled = requestForButton(
      { kind: "upscale", jobId: "j", imageIndex: 1 },
      request,
      alice,
      () => 5n,
    );
    assert.match(
      resultCaption(upscaled, { seeds: ["8"], durationMs: 1 }),
      / · upscaled x1\.5 from image 2 · /,
    );
    const refined = requestForButton({ kind: "refine", jobId: "j", imageIndex: 0 }, request, alice, () => 5n);
    assert.match(resultCaption(refined, { seeds: ["7"], durationMs: 1 }), / · refined from image 1 · /);
    const off = { ...request, refiner: { enabled: false as const } };
    assert.match(resultCaption(off, { seeds: ["7"], durationMs: 1 }), / · refiner off · /);
  });

  it("truncates long prompts to 200 characters", () => {
    const long = { ...request, prompt: "word ".repeat(100).trim() };
    const [firstLine] = resultCaption(long, { seeds: ["7"], durationMs: 1 }).split("\n");
    assert.ok(firstLine!.length <= 200);
    assert.ok(firstLine!.endsWith("…"));
  });
});

describe("status texts", () => {
  it("say where a job stands", () => {
    assert.equal(queuedText(1), "Queued: you're next.");
    assert.equal(queuedText(3), "Queued: #3 in line.");
    assert.equal(progressText(12, 30), "Generating: step 12/30 (40%)");
    assert.equal(cancelledText(), "Cancelled.");
    assert.equal(cancelledText("Alice"), "Cancelled by Alice.");
    assert.equal(
      failedText("The GPU ran out of memory."),
      "Sorry, this one failed: The GPU ran out of memory.",
    );
  });

  it("format durations for people", () => {
    assert.equal(durationText(850), "850 ms");
    assert.equal(durationText(12_345), "12.3 s");
    assert.equal(durationText(125_000), "2 min 05 s");
  });
});
