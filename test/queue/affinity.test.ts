/**
 * Model affinity within the fairness rules: a free device prefers a waiting job whose model it
 * holds, but affinity lets at most one job past any waiting job (MAX_AFFINITY_OVERTAKES).
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import {
  type AffinityCandidate,
  MAX_AFFINITY_OVERTAKES,
  pickWithAffinity,
} from "../../src/queue/ordering.js";

const job = (model: string | undefined, overtaken = 0): AffinityCandidate => ({ model, overtaken });

describe("pickWithAffinity", () => {
  it("takes the head when the device holds its model or none of the line's", () => {
    assert.equal(pickWithAffinity([job("a"), job("b")], new Set(["a"])), 0);
    assert.equal(pickWithAffinity([job("a"), job("b")], new Set(["c"])), 0);
    assert.equal(pickWithAffinity([], new Set(["a"])), -1);
  });

  it("takes the first job whose model the device holds, past jobs not yet overtaken", () => {
    assert.equal(pickWithAffinity([job("a"), job("b"), job("c"), job("b")], new Set(["c"])), 2);
    assert.equal(pickWithAffinity([job(undefined), job("t")], new Set(["t", "x"])), 1);
  });

  it("never lets affinity overtake a job twice", () => {
    assert.equal(pickWithAffinity([job("a", 1), job("b")], new Set(["b"])), 0);
    assert.equal(pickWithAffinity([job("a"), job("c", 1), job("b")], new Set(["b"])), 0);
    assert.equal(
      pickWithAffinity([job("a"), job("b", 1)], new Set(["b"])),
      1,
      "its own count does not matter",
    );
  });

  it("over any line and any devices, a waiting job is overtaken by at most one job", () => {
    const models = fc.constantFrom("a", "b", "c", undefined);
    fc.assert(
      fc.property(
        fc.array(models, { minLength: 1, maxLength: 12 }),
        fc.array(fc.array(models, { maxLength: 2 }), { minLength: 12, maxLength: 12 }),
        (lineModels, deviceHoldings) => {
          // The line in fair order; each start is one free device with what it holds.
          const line = lineModels.map((model, place) => ({ place, ...job(model) }));
          const startedPlaces: number[] = [];
          for (const held of deviceHoldings) {
            if (line.length === 0) break;
            const index = pickWithAffinity(line, new Set(held));
            for (const ahead of line.slice(0, index)) ahead.overtaken += 1;
            startedPlaces.push(line.splice(index, 1)[0]!.place);
          }
          // Jobs that started before a job but stood behind it in the fair order.
          for (let i = 0; i < startedPlaces.length; i++) {
            const place = startedPlaces[i]!;
            const past = startedPlaces.slice(0, i).filter((earlier) => earlier > place).length;
            assert.ok(
              past <= MAX_AFFINITY_OVERTAKES,
              `job ${place} overtaken ${past} times: ${startedPlaces}`,
            );
          }
          for (const waiting of line) {
            const past = startedPlaces.filter((started) => started > waiting.place).length;
            assert.ok(past <= MAX_AFFINITY_OVERTAKES, `waiting job ${waiting.place} overtaken ${past} times`);
          }
        },
      ),
      { numRuns: 500 },
    );
  });
});
