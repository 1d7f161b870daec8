/**
 * Property tests: whatever a user types, parseImagine returns a request within the configured
 * limits that the pipeline's own validation accepts, or throws InvalidInputError with a short
 * message; so do the follow-ups its buttons start. Button ids decode or throw InvalidButtonError,
 * and canonical ids round-trip.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import {
  type ButtonAction,
  decodeButton,
  encodeButton,
  type FollowUpAction,
  InvalidButtonError,
  requestForButton,
} from "../../src/commands/buttons.js";
import { parseImagine } from "../../src/commands/imagine.js";
import { MIN_GUIDANCE } from "../../src/commands/options.js";
import { InvalidInputError } from "../../src/errors.js";
import { SCHEDULER_NAMES } from "../../src/pipeline/types.js";
import { LIMITS, validateGenerateParams } from "../../src/pipeline/validate.js";
import { generateParamsOf } from "../../src/queue/params.js";
import type { GenerationRequest } from "../../src/requests/request.js";
import { alice, bob, config } from "./support.js";

const RUNS = 400;
const g = config.generation;
/** Stands in for a stored image's bytes: the pipeline's validation does not decode them. */
const SOURCE_BYTES = new Uint8Array([0x89, 0x50, 0x4e, 0x47]);

/**
 * A request the pipeline will run: its own validation accepts the GenerateParams the queue makes
 * of it, and it keeps the command's stricter, configured limits and canonical spellings.
 */
function assertRunnable(request: GenerationRequest): void {
  validateGenerateParams(generateParamsOf(request, request.source ? SOURCE_BYTES : undefined));
  assert.ok(request.prompt === request.prompt.trim());
  assert.ok(request.steps <= g.maxSteps && request.count <= g.maxCount);
  assert.ok(request.guidance >= MIN_GUIDANCE && request.guidance <= g.maxGuidance);
  assert.match(request.seed, /^(0|[1-9]\d*)$/);
  assert.ok(request.negativePrompt === undefined || request.negativePrompt.length > 0);
}

/** Asserts an error is a clear, one-line InvalidInputError. */
function assertExplains(error: unknown): void {
  assert.ok(error instanceof InvalidInputError, `unexpected ${String(error)}`);
  assert.ok(error.userMessage.length > 0 && error.userMessage.length <= 300, error.userMessage);
  assert.ok(!error.userMessage.includes("\n"));
}

/** Random draws for seeds, often right at the top of the 64-bit range. */
const seedDraws = fc.oneof(fc.bigInt({ min: 0n, max: LIMITS.maxSeed }), fc.bigInt({ min: -4n, max: 4n }));

/**
 * Runs parseImagine and checks the outcome is a runnable request or a clear InvalidInputError;
 * a runnable request's buttons start runnable requests too.
 */
function parsesOrExplains(
  text: string,
  options?: Record<string, string | number | boolean>,
  draw = 12345n,
): void {
  let request: GenerationRequest;
  try {
    request = parseImagine({ text, options }, alice, config, () => draw);
  } catch (error) {
    assertExplains(error);
    return;
  }
  assertRunnable(request);
  const actions: FollowUpAction[] = [{ kind: "reroll", jobId: "j" }];
  for (let imageIndex = 0; imageIndex < request.count; imageIndex++) {
    actions.push(
      { kind: "vary", jobId: "j", imageIndex, strength: "strong" },
      { kind: "refine", jobId: "j", imageIndex },
      { kind: "upscale", jobId: "j", imageIndex },
    );
  }
  for (const action of actions) {
    let followUp: GenerationRequest;
    try {
      followUp = requestForButton(action, request, bob, () => -draw, config);
    } catch (error) {
      assertExplains(error); // an image already too large to upscale
      continue;
    }
    assertRunnable(followUp);
  }
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
  fc.bigInt({ min: LIMITS.maxSeed - 5n, max: LIMITS.maxSeed + 1n }).map(String),
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

  it("never crashes on random flag soups, whatever seed the random source draws", () => {
    fc.assert(
      fc.property(flagSoup, seedDraws, (text, draw) => parsesOrExplains(text, undefined, draw)),
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
      fc.property(flagSoup, options, seedDraws, (text, opts, draw) => parsesOrExplains(text, opts, draw)),
      { numRuns: RUNS },
    );
  });

  it("gives a runnable request or a clear refusal for any seed and count, given or drawn", () => {
    const seeds = fc.oneof(
      fc.bigInt({ min: 0n, max: LIMITS.maxSeed }),
      fc.bigInt({ min: LIMITS.maxSeed - 8n, max: LIMITS.maxSeed }),
    );
    const counts = fc.integer({ min: 1, max: g.maxCount });
    fc.assert(
      fc.property(fc.option(seeds), counts, fc.boolean(), seedDraws, (seed, count, asFlags, draw) => {
        if (asFlags) {
          parsesOrExplains(`a cat --n ${count}${seed === null ? "" : ` --seed ${seed}`}`, undefined, draw);
        } else {
          const options: Record<string, string | number> =
            seed === null ? { count } : { count, seed: seed.toString() };
          parsesOrExplains("a cat", options, draw);
        }
      }),
      { numRuns: RUNS },
    );
  });

  it("accepts any valid setting written as flags and reads it back", () => {
    // Image i uses seed + i, so a batch of n may start at most n - 1 below the largest seed.
    const setting = fc.integer({ min: 1, max: g.maxCount }).chain((count) =>
      fc.record({
        steps: fc.integer({ min: 1, max: g.maxSteps }),
        count: fc.constant(count),
        seed: fc.bigInt({ min: 0n, max: LIMITS.maxSeed - BigInt(count - 1) }),
        guidance: fc.integer({ min: 10, max: g.maxGuidance * 10 }).map((tenths) => tenths / 10),
        scheduler: fc.constantFrom(...SCHEDULER_NAMES),
        negative: fc.stringMatching(/^[a-z][a-z ,]{0,20}[a-z]$/),
      }),
    );
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
