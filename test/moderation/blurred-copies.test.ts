/** The blurred copies the chat service keeps: made once while kept, the newest few, never a failure. */
import assert from "node:assert/strict";
import { test } from "node:test";
import sharp from "sharp";
import { BlurredCopies } from "../../src/moderation/blurred-copies.js";
import type { EncodedImage } from "../../src/pipeline/types.js";

async function png(grey: number): Promise<EncodedImage> {
  const data = await sharp({
    create: { width: 32, height: 32, channels: 3, background: { r: grey, g: grey, b: grey } },
  })
    .png()
    .toBuffer();
  return { mime: "image/png", data: new Uint8Array(data), width: 32, height: 32 };
}

/** An image store by id that counts how often each image was read. */
function store(images: Map<string, EncodedImage>) {
  const reads = new Map<string, number>();
  const get = async (imageId: string) => {
    reads.set(imageId, (reads.get(imageId) ?? 0) + 1);
    return images.get(imageId);
  };
  return { get, reads: (imageId: string) => reads.get(imageId) ?? 0 };
}

test("a copy is made once while kept; the oldest goes past the limit; forget lets one go", async () => {
  const images = new Map([
    ["a-0", await png(10)],
    ["b-0", await png(120)],
    ["c-0", await png(240)],
  ]);
  const { get, reads } = store(images);
  const copies = new BlurredCopies(get, 2);
  const first = await copies.get("a-0");
  assert.equal(first?.mime, "image/jpeg");
  assert.equal(await copies.get("a-0"), first, "the same copy, not made again");
  assert.equal(reads("a-0"), 1);

  await copies.get("b-0");
  await copies.get("c-0"); // a third: a-0, the oldest, goes
  await copies.get("a-0");
  assert.equal(reads("a-0"), 2);
  await copies.get("c-0");
  assert.equal(reads("c-0"), 1, "the newest stay");

  copies.forget("c-0");
  await copies.get("c-0");
  assert.equal(reads("c-0"), 2);
});

test("a copy that could not be made is not kept: the next viewer tries again", async () => {
  const images = new Map<string, EncodedImage>();
  const { get, reads } = store(images);
  const copies = new BlurredCopies(get);
  assert.equal(await copies.get("a-0"), undefined, "an image that is gone has no copy");
  images.set("a-0", { mime: "image/png", data: new Uint8Array([1, 2, 3]), width: 32, height: 32 });
  await assert.rejects(copies.get("a-0"), "bytes that do not decode");
  images.set("a-0", await png(60));
  assert.equal((await copies.get("a-0"))?.mime, "image/jpeg");
  assert.equal(reads("a-0"), 3);
});
