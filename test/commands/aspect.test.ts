import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  bucketForAspect,
  nearestBucket,
  parseAspectRatio,
  parseImageSize,
  SDXL_BUCKETS,
} from "../../src/commands/aspect.js";

const size = (text: string) => {
  const bucket = bucketForAspect(text);
  return bucket && `${bucket.width}x${bucket.height}`;
};

describe("aspect buckets", () => {
  it("maps every named ratio to its SDXL bucket", () => {
    const expected: Record<string, string> = {
      "1:1": "1024x1024",
      "4:3": "1152x896",
      "3:4": "896x1152",
      "3:2": "1216x832",
      "2:3": "832x1216",
      "16:9": "1344x768",
      "9:16": "768x1344",
      "21:9": "1536x640",
      "9:21": "640x1536",
    };
    for (const [ratio, dimensions] of Object.entries(expected)) assert.equal(size(ratio), dimensions, ratio);
    assert.equal(SDXL_BUCKETS.length, 9);
  });

  it("finds the same bucket for a named ratio by nearest log-aspect", () => {
    for (const bucket of SDXL_BUCKETS) {
      const [w, h] = bucket.ratio.split(":").map(Number);
      assert.equal(nearestBucket(w! / h!), bucket, bucket.ratio);
    }
  });

  it("maps free ratios to the nearest bucket", () => {
    assert.equal(size("5:4"), "1152x896");
    assert.equal(size("4:5"), "896x1152");
    assert.equal(size("2.39:1"), "1536x640");
    assert.equal(size("1.85:1"), "1344x768");
    assert.equal(size("1:2"), "768x1344");
    assert.equal(size("100:1"), "1536x640");
    assert.equal(size("1:100"), "640x1536");
    assert.equal(size("7/5"), "1216x832");
    assert.equal(size(" 16 : 10 "), "1344x768"); // 1.6: just nearer 1.75 than 1.46 in log space
  });

  it("measures nearness in log space, so a ratio and its inverse mirror each other", () => {
    for (const ratio of [0.3, 0.55, 0.8, 1.1, 1.4, 1.6, 2, 3]) {
      const wide = nearestBucket(ratio);
      const tall = nearestBucket(1 / ratio);
      assert.deepEqual([wide.width, wide.height], [tall.height, tall.width], String(ratio));
    }
  });

  it("rejects ratios that are not two positive numbers", () => {
    for (const text of [
      "",
      "16",
      "16:",
      ":9",
      "0:1",
      "1:0",
      "-1:1",
      "a:b",
      "16:9:1",
      "1e3:1",
      "Infinity:1",
      "16x9",
    ]) {
      assert.equal(parseAspectRatio(text), undefined, text);
      assert.equal(bucketForAspect(text), undefined, text);
    }
  });
});

describe("explicit sizes", () => {
  it("accepts multiples of 8 from 512 to 2048 in common spellings", () => {
    assert.deepEqual(parseImageSize("1024x768"), { width: 1024, height: 768 });
    assert.deepEqual(parseImageSize("512X2048"), { width: 512, height: 2048 });
    assert.deepEqual(parseImageSize("1152×896"), { width: 1152, height: 896 });
    assert.deepEqual(parseImageSize("1000*520"), { width: 1000, height: 520 });
  });

  it("rejects sides outside the pipeline's limits or not multiples of 8", () => {
    for (const text of [
      "504x1024",
      "1024x2056",
      "1001x1024",
      "1024x",
      "x1024",
      "1024",
      "1024x768x2",
      "-512x512",
    ]) {
      assert.equal(parseImageSize(text), undefined, text);
    }
  });
});
