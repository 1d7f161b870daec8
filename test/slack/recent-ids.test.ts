import assert from "node:assert/strict";
import { test } from "node:test";
import { RecentIds } from "../../src/bots/recent-ids.js";

test("a trigger id is new once within its time to live, and again after it", () => {
  const ids = new RecentIds(1000, 10);
  assert.equal(ids.firstTime("a", 0), true);
  assert.equal(ids.firstTime("a", 999), false);
  assert.equal(ids.firstTime("a", 2000), true);
  assert.equal(ids.firstTime(undefined, 0), true);
  assert.equal(ids.firstTime(undefined, 0), true);
});

test("past the cap the oldest ids are forgotten first", () => {
  const ids = new RecentIds(60_000, 3);
  for (const id of ["a", "b", "c", "d"]) assert.equal(ids.firstTime(id, 0), true);
  assert.equal(ids.firstTime("d", 1), false);
  assert.equal(ids.firstTime("b", 1), false);
  assert.equal(ids.firstTime("a", 1), true, "a was dropped for d");
});
