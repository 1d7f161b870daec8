/**
 * Property tests: whatever a user types, parseImagine returns a request within the configured
 * limits or throws InvalidInputError with a short message; button ids decode or throw
 * InvalidButtonError, and canonical ids round-trip.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { parseImageSize } from "../../src/commands/aspect.js";
import {
  type ButtonAction,
  decodeButton,
  encodeButton,
  InvalidButtonError,
} from "../../src/commands/buttons.js";
import { parseImagine } from "../../src/commands/imagine.js";
import { MAX_SEED } from "../../src/commands/options.js";
import type { GenerationRequest } from "../../src/commands/request.js";
import { InvalidInputError } from "../../src/errors.js";
import { SCHEDULER_NAMES } from "../../src/pipeline/types.js";
import { alice, config } from "./support.js";

const RUNS = 400;
const g = config.generation;

function assertWithinLimits(request: GenerationRequest): void {
  assert.ok(request.prompt.length > 0 && request.prompt === request.prompt.trim());
  assert.ok(parseImageSize(`${request.width}x${request.height}`), `${request.width}x${request.height}`);
  assert.ok(Number.isInteger(request.steps) && request.steps >= 1 && request.steps <= g.maxSteps);
  assert.ok(Number.isFinite(request.guidance) && request.guidance >= 1 && request.guidance <= g.maxGuidance);
  assert.ok(Number.isInteger(request.count) && request.count >= 1 && request.count <= g.maxCount);
  assert.ok(SCHEDULER_NAMES.includes(request.scheduler));
  assert.match(request.seed, /^(0|[1-9]\d*)$/);
  assert.ok(BigInt(request.seed) <= MAX_SEED);
  assert.ok(request.negativePrompt === undefined || request.negativePrompt.length > 0);
}

/** Runs parseImagine and checks the outcome is a valid request or a clear InvalidInputError. */
function parsesOrExplains(text: string, options?: Record<string, string | number | boolean>): void {
  let request: GenerationRequest;
  try {
    request = parseImagine({ text, options }, alice, config, () => 12345n);
  } catch (error) {
    assert.ok(error instanceof InvalidInputError, `unexpected ${String(error)}`);
    assert.ok(error.userMessage.length > 0 && error.userMessage.length <= 300, error.userMessage);
    assert.ok(!error.userMessage.includes("\n"));
    return;
  }
  assertWithinLimits(request);
}

const flagNames = [
  "ar",
  "aspect",
  "no",
  "neg",
  "negative",
  "size",
  "refiner",
  "no-refiner",
  "seed",
  "steps",
  "cfg",
  "guidance",
  "sampler",
  "scheduler",
  "n",
  "count",
  "stpes",
  "v",
  "AR",
  "help",
];
const values = fc.oneof(
  fc.string({ maxLength: 12 }),
  fc.integer({ min: -10, max: 300 }).map(String),
  fc.double({ noNaN: false }).map(String),
  fc.bigInt({ min: -5n, max: 1n << 66n }).map(String),
  fc.constantFrom(
    "16:9",
    "2.39:1",
    "0:1",
    "1024x768",
    "999x999",
    "on",
    "off",
    "euler-a",
    "DPM++ 2M Karras",
    "NaN",
    "Infinity",
    "1e3",
  ),
  fc.string({ maxLength: 12 }).map((text) => `"${text}"`),
  fc.string({ maxLength: 12 }).map((text) => `“${text}”`),
  fc.constant('"unclosed'),
);
const dash = fc.constantFrom("--", "—", "–", "-", "");
const flagWord = fc
  .tuple(dash, fc.constantFrom(...flagNames), fc.constantFrom(" ", "=", "  "))
  .map(([d, n, sep]) => `${d}${n}${sep}`);
const word = fc.oneof(
  fc.string({ maxLength: 10 }),
  fc.constantFrom("a", "lighthouse", "at", "dusk", "forbidden", "two words"),
);
const flagSoup = fc
  .array(
    fc.oneof(
      word,
      flagWord,
      values,
      fc.tuple(flagWord, values).map(([f, v]) => f + v),
    ),
    { maxLength: 14 },
  )
  .map((parts) => parts.join(" "));

describe("parseImagine on arbitrary input", () => {
  it("never crashes on random strings", () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 200, unit: "grapheme" }), (text) => parsesOrExplains(text)),
      { numRuns: RUNS },
    );
  });

  it("never crashes on random flag soups", () => {
    fc.assert(
      fc.property(flagSoup, (text) => parsesOrExplains(text)),
      { numRuns: RUNS * 2 },
    );
  });

  it("never crashes on random structured options", () => {
    const optionValue = fc.oneof(
      fc.string({ maxLength: 12 }),
      fc.double(),
      fc.integer(),
      fc.boolean(),
      values,
    );
    const options = fc.dictionary(
      fc.constantFrom(
        "negative",
        "aspect",
        "size",
        "refiner",
        "seed",
        "steps",
        "guidance",
        "scheduler",
        "count",
        "bogus",
        "constructor",
        "__proto__",
      ),
      optionValue,
      { maxKeys: 5 },
    );
    fc.assert(
      fc.property(flagSoup, options, (text, opts) => parsesOrExplains(text, opts)),
      { numRuns: RUNS },
    );
  });

  it("accepts any valid setting written as flags and reads it back", () => {
    const setting = fc.record({
      steps: fc.integer({ min: 1, max: g.maxSteps }),
      count: fc.integer({ min: 1, max: g.maxCount }),
      seed: fc.bigInt({ min: 0n, max: MAX_SEED }),
      guidance: fc.integer({ min: 10, max: g.maxGuidance * 10 }).map((tenths) => tenths / 10),
      scheduler: fc.constantFrom(...SCHEDULER_NAMES),
      negative: fc.stringMatching(/^[a-z][a-z ,]{0,20}[a-z]$/),
    });
    fc.assert(
      fc.property(setting, (s) => {
        const text = `a lighthouse --steps ${s.steps} --n ${s.count} --seed ${s.seed} --cfg ${s.guidance} --sampler ${s.scheduler} --no "${s.negative}"`;
        const request = parseImagine({ text }, { ...alice, nsfwChannel: true }, config, () => 0n);
        assert.deepEqual(
          [
            request.steps,
            request.count,
            request.seed,
            request.guidance,
            request.scheduler,
            request.negativePrompt,
          ],
          [s.steps, s.count, s.seed.toString(), s.guidance, s.scheduler, s.negative.replace(/\s+/g, " ")],
        );
      }),
      { numRuns: RUNS },
    );
  });
});

describe("decodeButton on arbitrary input", () => {
  it("decodes or throws InvalidButtonError, and what decodes re-encodes to the same id", () => {
    const near = fc
      .array(
        fc.oneof(
          fc.constantFrom(
            "easel",
            "1",
            "2",
            "vary",
            "reroll",
            "cancel",
            "refine",
            "upscale",
            "subtle",
            "strong",
            "0",
            "3",
            "job_1",
          ),
          fc.string({ maxLength: 8 }),
        ),
        { maxLength: 7 },
      )
      .map((parts) => parts.join(":"));
    fc.assert(
      fc.property(fc.oneof(fc.string({ maxLength: 120 }), near), (id) => {
        let action: ButtonAction;
        try {
          action = decodeButton(id);
        } catch (error) {
          assert.ok(error instanceof InvalidButtonError, `unexpected ${String(error)}`);
          return;
        }
        assert.equal(encodeButton(action), id);
      }),
      { numRuns: RUNS * 2 },
    );
  });

  it("round-trips every valid action within 100 characters", () => {
    const jobId = fc.stringMatching(/^[A-Za-z0-9_-]{1,64}$/);
    const index = fc.integer({ min: 0, max: 99 });
    const action: fc.Arbitrary<ButtonAction> = fc.oneof(
      fc.record({ kind: fc.constantFrom("reroll" as const, "cancel" as const), jobId }),
      fc.record({
        kind: fc.constant("vary" as const),
        jobId,
        imageIndex: index,
        strength: fc.constantFrom("subtle" as const, "strong" as const),
      }),
      fc.record({ kind: fc.constantFrom("refine" as const, "upscale" as const), jobId, imageIndex: index }),
    );
    fc.assert(
      fc.property(action, (a) => {
        const id = encodeButton(a);
        assert.ok(id.length <= 100);
        assert.deepEqual(decodeButton(id), { ...a }); // fast-check records have no prototype
      }),
      { numRuns: RUNS },
    );
  });
});
