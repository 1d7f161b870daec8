import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  type ButtonAction,
  cancelButton,
  decodeButton,
  encodeButton,
  InvalidButtonError,
  isCanvasGroup,
  isEaselButtonId,
  mayPress,
  requestForButton,
  resultButtons,
} from "../../src/commands/buttons.js";
import { parseImagine } from "../../src/commands/imagine.js";
import { InvalidInputError } from "../../src/errors.js";
import { CANVAS_STRENGTH, canvasLayout } from "../../src/pipeline/canvas/index.js";
import { alice, assertInvalid, bob, config, countingSeeds, plainConfig } from "./support.js";

const longId = `${"A".repeat(30)}${"z".repeat(30)}_-09`;

const actions: ButtonAction[] = [
  { kind: "reroll", jobId: "job1" },
  { kind: "cancel", jobId: "job1" },
  { kind: "delete", jobId: "job1" },
  { kind: "vary", jobId: "job1", imageIndex: 0, strength: "subtle" },
  { kind: "vary", jobId: longId, imageIndex: 99, strength: "strong" },
  { kind: "refine", jobId: "j", imageIndex: 2 },
  { kind: "upscale", jobId: longId, imageIndex: 3 },
  { kind: "zoom", jobId: "job1", imageIndex: 0, factor: 2 },
  { kind: "zoom", jobId: longId, imageIndex: 99, factor: 1.5 },
  { kind: "zoom", jobId: "j", imageIndex: 1, factor: 1.25 },
  { kind: "zoom", jobId: "j", imageIndex: 1, factor: 1 },
  { kind: "pan", jobId: "job1", imageIndex: 0, direction: "left" },
  { kind: "pan", jobId: longId, imageIndex: 99, direction: "right" },
  { kind: "pan", jobId: "j", imageIndex: 2, direction: "up" },
  { kind: "pan", jobId: "j", imageIndex: 3, direction: "down" },
];

describe("button ids", () => {
  it("round-trip every action and stay within 100 characters", () => {
    for (const action of actions) {
      const id = encodeButton(action);
      assert.ok(id.length <= 100, id);
      assert.ok(isEaselButtonId(id));
      assert.deepEqual(decodeButton(id), action);
    }
  });

  it("have a versioned, readable format", () => {
    assert.equal(
      encodeButton({ kind: "vary", jobId: "abc", imageIndex: 1, strength: "strong" }),
      "easel:1:vary:abc:1:strong",
    );
    assert.equal(encodeButton({ kind: "reroll", jobId: "abc" }), "easel:1:reroll:abc");
    assert.equal(
      encodeButton({ kind: "zoom", jobId: "abc", imageIndex: 0, factor: 1.5 }),
      "easel:1:zoom:abc:0:1.5",
    );
    assert.equal(
      encodeButton({ kind: "pan", jobId: "abc", imageIndex: 2, direction: "right" }),
      "easel:1:pan:abc:2:right",
    );
  });

  it("decode from the id alone, as after a restart", () => {
    // Ids as a previous process wrote them: nothing but the string survives.
    assert.deepEqual(decodeButton("easel:1:upscale:job_42:3"), {
      kind: "upscale",
      jobId: "job_42",
      imageIndex: 3,
    });
    assert.deepEqual(decodeButton("easel:1:cancel:job_42"), { kind: "cancel", jobId: "job_42" });
    assert.deepEqual(decodeButton("easel:1:zoom:job_42:0:2"), {
      kind: "zoom",
      jobId: "job_42",
      imageIndex: 0,
      factor: 2,
    });
    assert.deepEqual(decodeButton("easel:1:pan:job_42:1:up"), {
      kind: "pan",
      jobId: "job_42",
      imageIndex: 1,
      direction: "up",
    });
  });

  it("reject garbage with a typed error", () => {
    const garbage = [
      "",
      "easel",
      "easel:1",
      "easel:1:reroll",
      "easel:1:reroll:",
      "other:1:reroll:job",
      "easel:1:explode:job",
      "easel:1:reroll:job:0",
      "easel:1:vary:job:0",
      "easel:1:vary:job:0:medium",
      "easel:1:vary:job:00:subtle",
      "easel:1:refine:job:-1",
      "easel:1:refine:job:100",
      "easel:1:refine:job:1.5",
      "easel:1:refine:job",
      "easel:1:upscale:job:1:extra",
      "easel:1:reroll:bad id",
      "easel:1:reroll:bad/id",
      `easel:1:reroll:${"a".repeat(65)}`,
      `easel:1:reroll:${"a".repeat(200)}`,
      "EASEL:1:reroll:job",
      "easel:01:reroll:job",
      // One spelling per zoom factor and direction, within 1-2.
      "easel:1:zoom:job:0",
      "easel:1:zoom:job:0:2.0",
      "easel:1:zoom:job:0:1.50",
      "easel:1:zoom:job:0:1.",
      "easel:1:zoom:job:0:.5",
      "easel:1:zoom:job:0:+2",
      "easel:1:zoom:job:0:2.5",
      "easel:1:zoom:job:0:3",
      "easel:1:zoom:job:0:0.5",
      "easel:1:zoom:job:0:1.125",
      "easel:1:zoom:job:0:1e0",
      "easel:1:zoom:job:0:2:extra",
      "easel:1:pan:job:0",
      "easel:1:pan:job:0:Left",
      "easel:1:pan:job:0:sideways",
      "easel:1:pan:job:00:left",
      "easel:1:pan:job:0:left:extra",
    ];
    for (const id of garbage) {
      assert.throws(() => decodeButton(id), InvalidButtonError, id);
    }
  });

  it("tell ids of another format version apart", () => {
    assert.throws(
      () => decodeButton("easel:2:reroll:job"),
      (error: unknown) => {
        assert.ok(error instanceof InvalidButtonError);
        assert.equal(
          error.userMessage,
          "This button is from an older version of the bot. Please run /imagine again.",
        );
        return true;
      },
    );
    assert.equal(isEaselButtonId("other:1:reroll:job"), false);
  });

  it("refuse to encode what they could not decode", () => {
    const bad = [
      { kind: "reroll", jobId: "" },
      { kind: "reroll", jobId: "a:b" },
      { kind: "reroll", jobId: "x".repeat(65) },
      { kind: "refine", jobId: "j", imageIndex: -1 },
      { kind: "refine", jobId: "j", imageIndex: 100 },
      { kind: "refine", jobId: "j", imageIndex: 0.5 },
      { kind: "vary", jobId: "j", imageIndex: 0, strength: "wild" },
      { kind: "zoom", jobId: "j", imageIndex: 0, factor: 2.5 },
      { kind: "zoom", jobId: "j", imageIndex: 0, factor: 0.5 },
      { kind: "zoom", jobId: "j", imageIndex: 0, factor: 1.125 },
      { kind: "zoom", jobId: "j", imageIndex: 0, factor: Number.NaN },
      { kind: "zoom", jobId: "j", imageIndex: 100, factor: 2 },
      { kind: "pan", jobId: "j", imageIndex: 0, direction: "sideways" },
      { kind: "explode", jobId: "j" },
    ] as unknown as ButtonAction[];
    for (const action of bad)
      assert.throws(() => encodeButton(action), InvalidButtonError, JSON.stringify(action));
  });
});

describe("mayPress", () => {
  const authorOnly = { buttons: "author" as const };
  const anyone = { buttons: "anyone" as const };

  it("lets only the author press when configured so", () => {
    assert.equal(mayPress(authorOnly, "alice", "alice"), true);
    assert.equal(mayPress(authorOnly, "alice", "bob"), false);
    assert.equal(mayPress(authorOnly, "alice", "bob", "reroll"), false);
  });

  it("lets anyone press when configured so, except cancelling someone else's job", () => {
    assert.equal(mayPress(anyone, "alice", "bob"), true);
    assert.equal(mayPress(anyone, "alice", "bob", "vary"), true);
    assert.equal(mayPress(anyone, "alice", "bob", "cancel"), false);
    assert.equal(mayPress(anyone, "alice", "alice", "cancel"), true);
    assert.equal(
      mayPress(anyone, "alice", "bob", "delete"),
      false,
      "deleting stays the author's (and admins')",
    );
    assert.equal(mayPress(anyone, "alice", "alice", "delete"), true);
  });
});

describe("requestForButton", () => {
  const original = parseImagine(
    { text: "a lighthouse --ar 16:9 --seed 100 --n 4 --steps 20 --cfg 6 --no fog" },
    alice,
    config,
    countingSeeds(),
  );

  it("re-rolls with the same settings, a new seed and the presser as owner", () => {
    const next = requestForButton({ kind: "reroll", jobId: "job1" }, original, bob, countingSeeds(555n));
    assert.deepEqual(next, { ...original, seed: "555", requester: bob });
  });

  it("re-rolls a batch with a seed that leaves room for seed + count - 1", () => {
    assert.equal(original.count, 4);
    const top = requestForButton({ kind: "reroll", jobId: "job1" }, original, bob, () => -1n);
    assert.equal(top.seed, "18446744073709551612");
    const low = requestForButton({ kind: "reroll", jobId: "job1" }, original, bob, () => -4n);
    assert.equal(low.seed, "18446744073709551612");
    const single = requestForButton(
      { kind: "reroll", jobId: "job1" },
      { ...original, count: 1 },
      bob,
      () => -1n,
    );
    assert.equal(single.seed, "18446744073709551615");
  });

  it("varies image i: its own seed, one image, a fresh subseed at the chosen strength", () => {
    const subtle = requestForButton(
      { kind: "vary", jobId: "job1", imageIndex: 2, strength: "subtle" },
      original,
      alice,
      countingSeeds(9n),
    );
    assert.deepEqual(subtle, {
      ...original,
      seed: "102",
      count: 1,
      variation: { subseed: "9", strength: 0.15 },
    });
    const strong = requestForButton(
      { kind: "vary", jobId: "job1", imageIndex: 0, strength: "strong" },
      original,
      alice,
      countingSeeds(9n),
    );
    assert.deepEqual(strong.variation, { subseed: "9", strength: 0.45 });
    assert.equal(strong.seed, "100");
  });

  it("wraps an image seed past 2^64 - 1 instead of failing (a request parseImagine no longer makes)", () => {
    const top = { ...original, seed: "18446744073709551615" };
    const next = requestForButton(
      { kind: "vary", jobId: "j", imageIndex: 1, strength: "subtle" },
      top,
      alice,
      () => 1n,
    );
    assert.equal(next.seed, "0");
  });

  it("refines image i as img2img at strength 0.3, same size, refiner on when installed", () => {
    const next = requestForButton(
      { kind: "refine", jobId: "job1", imageIndex: 1 },
      original,
      bob,
      countingSeeds(),
      config,
    );
    assert.deepEqual(next, {
      ...original,
      seed: "101",
      count: 1,
      refiner: { enabled: true, switchAt: 0.8 },
      source: { jobId: "job1", imageIndex: 1, strength: 0.3, upscale: 1 },
      requester: bob,
    });
    const noRefiner = requestForButton(
      { kind: "refine", jobId: "j", imageIndex: 0 },
      original,
      bob,
      countingSeeds(),
      plainConfig,
    );
    assert.deepEqual(noRefiner.refiner, { enabled: false });
    const unknown = requestForButton(
      { kind: "refine", jobId: "j", imageIndex: 0 },
      original,
      bob,
      countingSeeds(),
    );
    assert.deepEqual(unknown.refiner, original.refiner);
  });

  it("upscales by 2, or by 1.5 where 2 would pass 2048", () => {
    const square = { ...original, width: 1024, height: 1024 };
    const doubled = requestForButton(
      { kind: "upscale", jobId: "j", imageIndex: 3 },
      square,
      bob,
      countingSeeds(),
    );
    assert.deepEqual([doubled.width, doubled.height, doubled.count], [2048, 2048, 1]);
    assert.deepEqual(doubled.source, { jobId: "j", imageIndex: 3, strength: 0.3, upscale: 2 });
    const wide = requestForButton(
      { kind: "upscale", jobId: "j", imageIndex: 0 },
      original,
      bob,
      countingSeeds(),
    );
    assert.deepEqual([wide.width, wide.height, wide.source!.upscale], [2016, 1152, 1.5]);
  });

  it("refuses to upscale what is already too large, and images the job did not make", () => {
    const ultrawide = { ...original, width: 1536, height: 640 };
    assertInvalid(
      () => requestForButton({ kind: "upscale", jobId: "j", imageIndex: 0 }, ultrawide, bob, countingSeeds()),
      "button",
      "This image is already as large as the bot can make it.",
    );
    assertInvalid(
      () => requestForButton({ kind: "refine", jobId: "j", imageIndex: 4 }, original, bob, countingSeeds()),
      "button",
      "That job made 4 images, so there is no image 5.",
    );
  });

  it("keeps the source image on a re-roll of a refined result, and drops variations", () => {
    const refined = requestForButton(
      { kind: "refine", jobId: "job1", imageIndex: 1 },
      original,
      bob,
      countingSeeds(),
    );
    const varied = requestForButton(
      { kind: "vary", jobId: "job2", imageIndex: 0, strength: "subtle" },
      refined,
      bob,
      countingSeeds(),
    );
    assert.deepEqual(varied.source, refined.source);
    const rerolled = requestForButton({ kind: "reroll", jobId: "job3" }, varied, bob, countingSeeds(77n));
    assert.equal(rerolled.variation, undefined);
    assert.ok(!("variation" in rerolled));
    assert.deepEqual(rerolled.source, refined.source);
    assert.equal(rerolled.seed, "77");
  });

  it("refuses cancel, which stops a job instead of starting one", () => {
    const cancel = { kind: "cancel", jobId: "j" } as unknown as Parameters<typeof requestForButton>[0];
    assert.throws(() => requestForButton(cancel, original, bob, countingSeeds()), InvalidInputError);
  });
});

describe("result buttons", () => {
  it("offer vary, refine, upscale, zoom out and pan per image plus a re-roll, with decodable ids", () => {
    const request = parseImagine({ text: "a cat --n 4" }, alice, config, countingSeeds());
    const rows = resultButtons("job7", request);
    assert.equal(rows.length, 13);
    const decoded = rows.flat().map((button) => decodeButton(button.id));
    assert.equal(decoded.filter((a) => a.kind === "vary").length, 8);
    assert.equal(decoded.filter((a) => a.kind === "upscale").length, 4);
    assert.equal(decoded.filter((a) => a.kind === "zoom").length, 8);
    assert.equal(decoded.filter((a) => a.kind === "pan").length, 16);
    assert.deepEqual(
      rows.slice(6, 9).map((row) => row.map((b) => b.label)),
      [
        ["V3 subtle", "V3 strong", "Refine 3", "Upscale 3"],
        ["Zoom Out 2× (3)", "Zoom Out 1.5× (3)"],
        ["⬅️ 3", "➡️ 3", "⬆️ 3", "⬇️ 3"],
      ],
    );
    assert.deepEqual(
      rows.slice(6, 9).map((row) => [isCanvasGroup(row), ...row.map((b) => decodeButton(b.id))]),
      [
        [
          false,
          ...(["subtle", "strong"] as const).map((strength) => ({
            kind: "vary",
            jobId: "job7",
            imageIndex: 2,
            strength,
          })),
          { kind: "refine", jobId: "job7", imageIndex: 2 },
          { kind: "upscale", jobId: "job7", imageIndex: 2 },
        ],
        [
          true,
          { kind: "zoom", jobId: "job7", imageIndex: 2, factor: 2 },
          { kind: "zoom", jobId: "job7", imageIndex: 2, factor: 1.5 },
        ],
        [
          true,
          ...(["left", "right", "up", "down"] as const).map((direction) => ({
            kind: "pan",
            jobId: "job7",
            imageIndex: 2,
            direction,
          })),
        ],
      ],
    );
    assert.deepEqual(decoded.slice(-2), [
      { kind: "reroll", jobId: "job7" },
      { kind: "delete", jobId: "job7" },
    ]);
  });

  it("use plain labels for one image and leave out upscale when it cannot grow", () => {
    const request = parseImagine({ text: "a cat --ar 21:9" }, alice, config, countingSeeds());
    const labels = resultButtons("job7", request)
      .flat()
      .map((b) => b.label);
    assert.deepEqual(labels, [
      "Vary (subtle)",
      "Vary (strong)",
      "Refine",
      "Zoom Out 2×",
      "Zoom Out 1.5×",
      "⬅️",
      "➡️",
      "⬆️",
      "⬇️",
      "🔄 Re-roll",
      "🗑️ Delete",
    ]);
    assert.deepEqual(decodeButton(cancelButton("job7").id), { kind: "cancel", jobId: "job7" });
  });
});

describe("canvas follow-ups", () => {
  const original = parseImagine(
    { text: "a lighthouse --ar 16:9 --seed 100 --n 4 --steps 20 --cfg 6 --no fog" },
    alice,
    config,
    countingSeeds(),
  );

  it("zooms out image i: its seed, one image, the same size, the original's settings and refiner", () => {
    const next = requestForButton(
      { kind: "zoom", jobId: "job1", imageIndex: 2, factor: 2 },
      original,
      bob,
      countingSeeds(),
      config,
    );
    assert.deepEqual(next, {
      ...original,
      seed: "102",
      count: 1,
      source: { jobId: "job1", imageIndex: 2, strength: CANVAS_STRENGTH.zoom_out, upscale: 1 },
      canvas: { kind: "zoom_out", factor: 2 },
      requester: bob,
    });
  });

  it("pans image i onto the SDXL bucket the canvas layout picks", () => {
    const square = { ...original, width: 1024, height: 1024 };
    const right = requestForButton(
      { kind: "pan", jobId: "job1", imageIndex: 0, direction: "right" },
      square,
      bob,
      countingSeeds(),
    );
    const layout = canvasLayout(1024, 1024, { kind: "pan", direction: "right" });
    assert.ok(layout.width > 1024, "a pan right makes a wider image");
    assert.deepEqual([right.width, right.height], [layout.width, layout.height]);
    assert.deepEqual(right.canvas, { kind: "pan", direction: "right" });
    assert.deepEqual(right.source, {
      jobId: "job1",
      imageIndex: 0,
      strength: CANVAS_STRENGTH.pan,
      upscale: 1,
    });
    const down = requestForButton(
      { kind: "pan", jobId: "job1", imageIndex: 0, direction: "down" },
      square,
      bob,
      countingSeeds(),
    );
    assert.ok(down.height > down.width, "a pan down makes a taller image");
  });

  it("keeps the canvas action on a re-roll and a variation of a canvas result; refines its image plainly", () => {
    const zoomed = requestForButton(
      { kind: "zoom", jobId: "job1", imageIndex: 1, factor: 1.5 },
      original,
      bob,
      countingSeeds(),
    );
    const rerolled = requestForButton({ kind: "reroll", jobId: "job2" }, zoomed, bob, countingSeeds(77n));
    assert.deepEqual([rerolled.seed, rerolled.canvas, rerolled.source], ["77", zoomed.canvas, zoomed.source]);
    const varied = requestForButton(
      { kind: "vary", jobId: "job2", imageIndex: 0, strength: "strong" },
      zoomed,
      bob,
      countingSeeds(5n),
    );
    assert.deepEqual([varied.canvas, varied.source], [zoomed.canvas, zoomed.source]);
    const refined = requestForButton(
      { kind: "refine", jobId: "job2", imageIndex: 0 },
      zoomed,
      bob,
      countingSeeds(),
    );
    assert.equal(refined.canvas, undefined);
    assert.deepEqual(refined.source, { jobId: "job2", imageIndex: 0, strength: 0.3, upscale: 1 });
    const zoomedAgain = requestForButton(
      { kind: "zoom", jobId: "job2", imageIndex: 0, factor: 2 },
      zoomed,
      bob,
      countingSeeds(),
    );
    assert.deepEqual(zoomedAgain.source, { jobId: "job2", imageIndex: 0, strength: 0.9, upscale: 1 });
  });

  it("refuses an image the job did not make", () => {
    assertInvalid(
      () =>
        requestForButton(
          { kind: "pan", jobId: "j", imageIndex: 4, direction: "up" },
          original,
          bob,
          countingSeeds(),
        ),
      "button",
      "That job made 4 images, so there is no image 5.",
    );
  });
});
