import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, it } from "node:test";
import * as zlib from "node:zlib";
import sharp from "sharp";
import { InvalidInputError } from "../../src/errors.js";
import {
  decodedValueToByte,
  rgbToVaeInput,
  showableRgb,
  vaeOutputToRgb,
} from "../../src/pipeline/image/pixels.js";
import {
  crc32,
  encodePng,
  formatParameters,
  type ImageMetadata,
  readPngTextChunks,
} from "../../src/pipeline/image/png.js";
import { loadSourceImage, MIN_SOURCE_SIDE, sniffImageFormat } from "../../src/pipeline/image/source.js";
import {
  float16BitsToFloat32,
  float32BitsToFloat16Bits,
  float32ToFloat16Bits,
} from "../../src/pipeline/onnx/float16.js";

interface PostprocessExample {
  decoded: number;
  denormalized: number;
  times_255: number;
  uint8: number;
}

const conditioning = JSON.parse(
  readFileSync(new URL("../fixtures/reference/sdxl_conditioning.json", import.meta.url), "utf8"),
) as { postprocess_examples: PostprocessExample[] };

/** A deterministic RGB test image with distinct values per pixel and channel. */
function testImage(width: number, height: number): Uint8Array {
  const rgb = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const i = (y * width + x) * 3;
      rgb[i] = (x * 3 + y) & 255;
      rgb[i + 1] = (y * 5 + 40) & 255;
      rgb[i + 2] = (x * y + 7) & 255;
    }
  }
  return rgb;
}

function meanAbsDifference(a: Uint8Array, b: Uint8Array): number {
  assert.equal(a.length, b.length);
  let sum = 0;
  for (let i = 0; i < a.length; i++) sum += Math.abs(a[i] - b[i]);
  return sum / a.length;
}

describe("VAE output to pixels", () => {
  it("gives diffusers' uint8 for every postprocess example, .5 ties included", () => {
    const examples = conditioning.postprocess_examples;
    assert.ok(examples.length >= 16);
    for (const example of examples) {
      assert.equal(decodedValueToByte(example.decoded), example.uint8, `decoded ${example.decoded}`);
    }
    // The same values through the tensor path: one image, 1 x N, all three channels.
    const n = examples.length;
    const decoded = new Float32Array(3 * n);
    for (let c = 0; c < 3; c++) {
      for (const [i, e] of examples.entries()) decoded[c * n + i] = e.decoded;
    }
    const [rgb] = vaeOutputToRgb(decoded, 1, 1, n);
    for (const [i, e] of examples.entries()) {
      assert.deepEqual([...rgb.subarray(i * 3, i * 3 + 3)], [e.uint8, e.uint8, e.uint8]);
    }
  });

  it("rounds exact .5 values to the even neighbour, not up", () => {
    const ties = conditioning.postprocess_examples.filter((e) => e.times_255 % 1 === 0.5);
    // Ties whose lower neighbour is even: there round-half-up would be one too high.
    assert.ok(ties.filter((tie) => Math.floor(tie.times_255) % 2 === 0).length >= 4);
    for (const tie of ties) {
      const byte = decodedValueToByte(tie.decoded);
      assert.equal(byte % 2, 0);
      assert.equal(Math.abs(byte - tie.times_255), 0.5);
    }
  });

  it("clamps out-of-range values and maps NaN to 0", () => {
    assert.equal(decodedValueToByte(-7), 0);
    assert.equal(decodedValueToByte(-1.0000001), 0);
    assert.equal(decodedValueToByte(42), 255);
    assert.equal(decodedValueToByte(Number.POSITIVE_INFINITY), 255);
    assert.equal(decodedValueToByte(Number.NEGATIVE_INFINITY), 0);
    assert.equal(decodedValueToByte(Number.NaN), 0);
  });

  it("splits a batch and turns NCHW planes into interleaved RGB rows", () => {
    const batch = 2;
    const height = 2;
    const width = 3;
    // Byte wanted at (image, y, x, channel); the decoded value b/127.5 - 1 maps back to b.
    const want = (b: number, y: number, x: number, c: number) => 10 + b * 100 + c * 30 + y * 7 + x;
    const decoded = new Float32Array(batch * 3 * height * width);
    for (let b = 0; b < batch; b++)
      for (let c = 0; c < 3; c++)
        for (let y = 0; y < height; y++)
          for (let x = 0; x < width; x++)
            decoded[((b * 3 + c) * height + y) * width + x] = want(b, y, x, c) / 127.5 - 1;

    const images = vaeOutputToRgb(decoded, batch, height, width);
    assert.equal(images.length, 2);
    const expected = (b: number) => {
      const bytes: number[] = [];
      for (let y = 0; y < height; y++)
        for (let x = 0; x < width; x++) for (let c = 0; c < 3; c++) bytes.push(want(b, y, x, c));
      return bytes;
    };
    assert.deepEqual([...images[0]], expected(0));
    assert.deepEqual([...images[1]], expected(1));
  });

  it("rejects a tensor whose length does not match the shape", () => {
    assert.throws(() => vaeOutputToRgb(new Float32Array(17), 1, 2, 3), RangeError);
  });
});

describe("showableRgb", () => {
  // One 8x8 image: 3 planes of 64 values.
  const normal = () => Float32Array.from({ length: 3 * 8 * 8 }, (_, i) => Math.sin(i) * 0.9);

  it("converts an ordinary decode exactly as vaeOutputToRgb does", () => {
    const data = normal();
    assert.deepEqual(showableRgb(data, 8, 8), vaeOutputToRgb(data, 1, 8, 8)[0]);
  });

  it("refuses NaN, +Infinity and -Infinity anywhere", () => {
    for (const bad of [Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY]) {
      for (const at of [0, 100, 191]) {
        const data = normal();
        data[at] = bad;
        assert.equal(showableRgb(data, 8, 8), undefined, `${bad} at ${at}`);
      }
    }
  });

  it("refuses a constant image and checks the length", () => {
    assert.equal(showableRgb(new Float32Array(192), 8, 8), undefined);
    assert.equal(showableRgb(new Float32Array(192).fill(-1), 8, 8), undefined);
    assert.throws(() => showableRgb(new Float32Array(191), 8, 8), RangeError);
  });
});

describe("source pixels to VAE input", () => {
  it("maps bytes to float32(p / 255) * 2 - 1 in NCHW", () => {
    const rgb = Uint8Array.of(0, 128, 255, 51, 204, 1); // 1 x 2 image
    const input = rgbToVaeInput(rgb, 1, 2);
    const f = (p: number) => Math.fround(Math.fround(p / 255) * 2 - 1);
    assert.deepEqual([...input], [f(0), f(51), f(128), f(204), f(255), f(1)]);
    assert.equal(input[0], -1);
    assert.equal(input[4], 1);
  });

  it("writes into a given buffer and round-trips every byte value through the VAE output path", () => {
    const rgb = new Uint8Array(256 * 3);
    for (let i = 0; i < rgb.length; i++) rgb[i] = i % 256;
    const out = new Float32Array(rgb.length);
    assert.equal(rgbToVaeInput(rgb, 1, 256, out), out);
    const [back] = vaeOutputToRgb(out, 1, 1, 256);
    assert.deepEqual(back, rgb);
  });
});

describe("float16 conversion", () => {
  const toHalf = (value: number) => float32ToFloat16Bits(Float32Array.of(value))[0];
  const fromHalf = (bits: number) => float16BitsToFloat32(Uint16Array.of(bits))[0];

  it("converts edge values to the right bit patterns", () => {
    const cases: [number, number][] = [
      [0, 0x0000],
      [-0, 0x8000],
      [1, 0x3c00],
      [-2, 0xc000],
      [65504, 0x7bff],
      [65519.99, 0x7bff], // below the halfway point to 2^16: stays finite
      [65520, 0x7c00], // halfway, ties to even = Infinity
      [1e6, 0x7c00],
      [-1e6, 0xfc00],
      [Number.POSITIVE_INFINITY, 0x7c00],
      [Number.NEGATIVE_INFINITY, 0xfc00],
      [2 ** -14, 0x0400], // smallest normal, 6.103515625e-5
      [6.1e-5, 0x03ff], // just below it: largest subnormal
      [2 ** -24, 0x0001], // smallest subnormal
      [2 ** -25, 0x0000], // tie between 0 and 2^-24 goes to even (0)
      [Math.fround(2 ** -25 * 1.0000001), 0x0001],
      [3 * 2 ** -25, 0x0002], // tie between 1 and 2 subnormal steps goes to 2
      [1 + 2 ** -11, 0x3c00], // tie goes down to the even mantissa
      [1 + 3 * 2 ** -11, 0x3c02], // tie goes up to the even mantissa
      [1e-40, 0x0000], // float32 subnormal
      [-1e-40, 0x8000],
    ];
    for (const [value, bits] of cases) {
      assert.equal(toHalf(value), bits, `${value} -> 0x${bits.toString(16)}`);
    }
  });

  it("keeps NaN as NaN, with the quiet bit set", () => {
    const bits = toHalf(Number.NaN);
    assert.equal(bits & 0x7c00, 0x7c00);
    assert.notEqual(bits & 0x3ff, 0);
    // A float32 NaN whose payload sits only in the low bits must not become Infinity.
    assert.equal(float32BitsToFloat16Bits(0x7f800001) & 0x3ff, 0x200);
    assert.ok(Number.isNaN(fromHalf(0x7c01)));
    assert.ok(Number.isNaN(fromHalf(0xfe00)));
  });

  it("decodes all 65536 half patterns exactly", () => {
    const all = Uint16Array.from({ length: 65536 }, (_, i) => i);
    const values = float16BitsToFloat32(all);
    for (let bits = 0; bits < 65536; bits++) {
      const sign = bits & 0x8000 ? -1 : 1;
      const exponent = (bits >> 10) & 0x1f;
      const mantissa = bits & 0x3ff;
      const expected =
        exponent === 31
          ? mantissa === 0
            ? sign * Number.POSITIVE_INFINITY
            : Number.NaN
          : exponent === 0
            ? sign * mantissa * 2 ** -24
            : sign * 2 ** (exponent - 15) * (1 + mantissa / 1024);
      assert.ok(Object.is(values[bits], expected), `0x${bits.toString(16)}: ${values[bits]} vs ${expected}`);
    }
    // ...and every non-NaN pattern converts back to itself.
    const back = float32ToFloat16Bits(values);
    for (let bits = 0; bits < 65536; bits++) {
      if (!Number.isNaN(values[bits])) assert.equal(back[bits], bits);
    }
  });

  it("rounds arbitrary float32 values to the nearest half, ties to even", () => {
    let state = 12345;
    const values = new Float32Array(20000);
    const raw = new Uint32Array(values.buffer);
    for (let i = 0; i < raw.length; i++) {
      state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
      // Exponents around the half range (2^-27 .. 2^17), random mantissa and sign.
      const exponent = 100 + (state % 45);
      state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
      raw[i] = ((state & 1) << 31) | (exponent << 23) | (state >>> 9);
    }
    const halves = float32ToFloat16Bits(values);
    for (let i = 0; i < values.length; i++) {
      const x = values[i];
      const h = halves[i];
      const v = fromHalf(h);
      if (!Number.isFinite(v)) {
        assert.ok(Math.abs(x) >= 65520, `${x} overflowed`);
        continue;
      }
      // Neighbours along the magnitude axis; the result must be at least as close as both.
      const magnitude = h & 0x7fff;
      const sign = h & 0x8000;
      const below = magnitude > 0 ? fromHalf(sign | (magnitude - 1)) : v;
      const above = fromHalf(sign | (magnitude + 1));
      const error = Math.abs(x - v);
      assert.ok(error <= Math.abs(x - below), `${x}: ${v} vs ${below}`);
      if (Number.isFinite(above)) assert.ok(error <= Math.abs(x - above), `${x}: ${v} vs ${above}`);
      if (error === Math.abs(x - below) && below !== v) assert.equal(h & 1, 0, `${x}: tie not even`);
      if (error === Math.abs(x - above)) assert.equal(h & 1, 0, `${x}: tie not even`);
    }
  });
});

const METADATA: ImageMetadata = {
  prompt: "a lighthouse at dusk, oil painting",
  negativePrompt: "blurry",
  seed: "18446744073709551615",
  steps: 30,
  guidance: 7.5,
  scheduler: "dpmpp-2m-karras",
  width: 64,
  height: 48,
  model: "sdxl-base-1.0",
  software: "easel 0.1.0",
};

describe("PNG encoding", () => {
  it("round-trips the pixels and is byte-for-byte deterministic", async () => {
    const rgb = testImage(64, 48);
    const first = await encodePng(rgb, 64, 48, METADATA);
    const second = await encodePng(rgb, 64, 48, METADATA);
    assert.deepEqual(first, second);
    const { data, info } = await sharp(first).raw().toBuffer({ resolveWithObject: true });
    assert.equal(info.width, 64);
    assert.equal(info.height, 48);
    assert.equal(info.channels, 3);
    assert.deepEqual(new Uint8Array(data), rgb);
  });

  it("writes the parameters text, the JSON settings and Software, readable by our reader and sharp", async () => {
    const png = await encodePng(testImage(64, 48), 64, 48, METADATA);
    const text = readPngTextChunks(png);
    assert.deepEqual(Object.keys(text), ["parameters", "easel", "Software"]);
    assert.equal(
      text.parameters,
      "a lighthouse at dusk, oil painting\n" +
        "Negative prompt: blurry\n" +
        "Steps: 30, Sampler: DPM++ 2M Karras, CFG scale: 7.5, Seed: 18446744073709551615, Size: 64x48, " +
        "Model: sdxl-base-1.0, Version: easel 0.1.0",
    );
    assert.deepEqual(JSON.parse(text.easel), METADATA);
    assert.equal(text.Software, "easel 0.1.0");

    const { comments } = await sharp(png).metadata();
    assert.deepEqual(
      comments?.map((c) => [c.keyword, c.text]),
      Object.entries(text),
    );
  });

  it("puts valid chunks (CRC checked) before the image data", async () => {
    const png = await encodePng(testImage(16, 16), 16, 16, { ...METADATA, prompt: "naïve café 🐱 東京" });
    const view = new DataView(png.buffer, png.byteOffset, png.byteLength);
    const types: string[] = [];
    for (let offset = 8; offset < png.length; ) {
      const length = view.getUint32(offset);
      const typeAndData = png.subarray(offset + 4, offset + 8 + length);
      types.push(Buffer.from(typeAndData.subarray(0, 4)).toString("latin1"));
      const stored = view.getUint32(offset + 8 + length);
      assert.equal(crc32(typeAndData), stored, `CRC of ${types.at(-1)}`);
      if (typeof zlib.crc32 === "function") assert.equal(zlib.crc32(typeAndData), stored);
      offset += 12 + length;
    }
    assert.equal(types[0], "IHDR");
    assert.equal(types.at(-1), "IEND");
    const firstImageData = types.indexOf("IDAT");
    assert.ok(types.indexOf("iTXt") < firstImageData && types.indexOf("tEXt") < firstImageData);
  });

  it("keeps a unicode prompt intact through iTXt", async () => {
    const prompt = "naïve café 🐱 in 東京, «neon» — ünïcödé\nsecond line";
    const metadata = { ...METADATA, prompt, negativePrompt: "低品質" };
    const png = await encodePng(testImage(16, 16), 16, 16, metadata);
    const text = readPngTextChunks(png);
    assert.ok(text.parameters.startsWith(`${prompt}\nNegative prompt: 低品質\nSteps: 30,`));
    assert.equal(JSON.parse(text.easel).prompt, prompt);
    const { comments } = await sharp(png).metadata();
    const parameters = comments?.find((c) => c.keyword === "parameters")?.text;
    assert.equal(parameters, text.parameters);
    // The ASCII-only Software text stays a plain tEXt chunk.
    assert.ok(Buffer.from(png).includes(Buffer.from("tEXtSoftware\0easel 0.1.0", "latin1")));
  });

  it("formats optional settings the way SD tools read them", () => {
    const parameters = formatParameters({
      prompt: "p",
      seed: "1",
      steps: 40,
      guidance: 5,
      scheduler: "euler-a",
      width: 1216,
      height: 832,
      model: "base, v2: fixed",
      refiner: { model: "refiner-1.0", switchAt: 0.8 },
      variation: { subseed: "99", strength: 0.25 },
      img2img: { strength: 0.3, upscale: 1.5 },
      software: "easel 0.1.0",
    });
    assert.equal(
      parameters,
      "p\nSteps: 40, Sampler: Euler a, CFG scale: 5, Seed: 1, Size: 1216x832, " +
        'Model: "base, v2: fixed", Variation seed: 99, Variation seed strength: 0.25, ' +
        "Denoising strength: 0.3, Refiner: refiner-1.0, Refiner switch at: 0.8, Version: easel 0.1.0",
    );
  });

  it("reads zTXt and compressed iTXt chunks, and rejects what is not a PNG", async () => {
    const plain = await encodePng(testImage(8, 8), 8, 8, METADATA);
    const rawChunk = (type: string, data: Uint8Array) => {
      const body = Buffer.concat([Buffer.from(type, "latin1"), data]);
      const out = Buffer.alloc(body.length + 8);
      out.writeUInt32BE(data.length, 0);
      body.copy(out, 4);
      out.writeUInt32BE(crc32(body), body.length + 4);
      return out;
    };
    const zText = rawChunk(
      "zTXt",
      Buffer.concat([
        Buffer.from("Comment\0\0", "latin1"),
        zlib.deflateSync(Buffer.from("caf\xe9", "latin1")),
      ]),
    );
    const iText = rawChunk(
      "iTXt",
      Buffer.concat([
        Buffer.from("Title\0\x01\0en\0Titel\0", "latin1"),
        zlib.deflateSync(Buffer.from("🌊 wave")),
      ]),
    );
    const png = Buffer.concat([plain.subarray(0, 33), zText, iText, plain.subarray(33)]);
    const text = readPngTextChunks(png);
    assert.equal(text.Comment, "café");
    assert.equal(text.Title, "🌊 wave");
    assert.equal(text.Software, "easel 0.1.0");

    assert.throws(() => readPngTextChunks(Buffer.from("not a png at all")), InvalidInputError);
    assert.throws(() => readPngTextChunks(plain.subarray(0, plain.length - 20)), InvalidInputError);
  });
});

describe("source images", () => {
  const LIMITS = { upscale: 1 as const, maxPixels: 2048 * 2048, maxBytes: 4 * 1024 * 1024 };
  const raw = (rgb: Uint8Array, width: number, height: number, channels: 3 | 4 = 3) =>
    sharp(rgb, { raw: { width, height, channels } });

  async function rejectsAsInvalid(promise: Promise<unknown>, message: RegExp) {
    await assert.rejects(promise, (error: unknown) => {
      assert.ok(error instanceof InvalidInputError, String(error));
      assert.match(error.userMessage, message);
      assert.equal(error.field, "image");
      return true;
    });
  }

  it("accepts PNG losslessly, and JPEG and WebP closely", async () => {
    const rgb = testImage(80, 72);
    const png = await raw(rgb, 80, 72).png().toBuffer();
    const fromPng = await loadSourceImage(png, LIMITS);
    assert.deepEqual([fromPng.width, fromPng.height], [80, 72]);
    assert.deepEqual(fromPng.rgb, rgb);

    const smooth = new Uint8Array(80 * 72 * 3).map((_, i) => 60 + ((i / 3) % 80));
    for (const encoded of [
      await raw(smooth, 80, 72).jpeg({ quality: 95 }).toBuffer(),
      await raw(smooth, 80, 72).webp({ quality: 95 }).toBuffer(),
    ]) {
      const loaded = await loadSourceImage(encoded, LIMITS);
      assert.deepEqual([loaded.width, loaded.height], [80, 72]);
      assert.ok(meanAbsDifference(loaded.rgb, smooth) < 3);
    }
  });

  it("rejects text, garbage, truncated files and other image formats", async () => {
    const notImage = /not a PNG, JPEG or WebP image/;
    await rejectsAsInvalid(loadSourceImage(Buffer.from("hello, this is text"), LIMITS), notImage);
    await rejectsAsInvalid(
      loadSourceImage(
        Uint8Array.from({ length: 500 }, (_, i) => (i * 37) & 255),
        LIMITS,
      ),
      notImage,
    );
    const png = await raw(testImage(64, 64), 64, 64).png().toBuffer();
    await rejectsAsInvalid(loadSourceImage(png.subarray(0, 60), LIMITS), notImage);
    const corrupt = Buffer.from(png);
    corrupt.fill(0x55, 50, 120); // header fine, image data destroyed
    await rejectsAsInvalid(loadSourceImage(corrupt, LIMITS), notImage);
    // A PNG signature in front of JPEG data: the decoder disagrees with the signature.
    const jpeg = await raw(testImage(64, 64), 64, 64).jpeg().toBuffer();
    await rejectsAsInvalid(loadSourceImage(Buffer.concat([png.subarray(0, 8), jpeg]), LIMITS), notImage);
    await rejectsAsInvalid(
      loadSourceImage(await raw(testImage(64, 64), 64, 64).gif().toBuffer(), LIMITS),
      notImage,
    );
    await rejectsAsInvalid(
      loadSourceImage(await raw(testImage(64, 64), 64, 64).tiff().toBuffer(), LIMITS),
      notImage,
    );
    assert.equal(sniffImageFormat(Buffer.from("RIFF1234WAVE")), undefined);
  });

  it("rejects files over maxBytes and images over maxPixels", async () => {
    const png = await raw(testImage(128, 128), 128, 128).png().toBuffer();
    await rejectsAsInvalid(
      loadSourceImage(png, { ...LIMITS, maxBytes: png.length - 1 }),
      /image file is .* MB/,
    );
    assert.equal((await loadSourceImage(png, { ...LIMITS, maxBytes: png.length })).width, 128);
    await rejectsAsInvalid(
      loadSourceImage(png, { ...LIMITS, maxPixels: 128 * 128 - 1 }),
      /128x128 pixels; the limit/,
    );
    assert.equal((await loadSourceImage(png, { ...LIMITS, maxPixels: 128 * 128 })).height, 128);
    // The limit applies to the upscaled result.
    await rejectsAsInvalid(
      loadSourceImage(png, { upscale: 2, maxPixels: 200 * 200, maxBytes: 1 << 20 }),
      /256x256 pixels after upscaling x2/,
    );
    const tiny = await raw(testImage(40, 40), 40, 40).png().toBuffer();
    await rejectsAsInvalid(loadSourceImage(tiny, LIMITS), new RegExp(`at least ${MIN_SOURCE_SIDE}`));
  });

  it("calls a PNG that declares a huge size too large, not 'not a PNG'", async () => {
    const png = Buffer.from(await raw(testImage(64, 64), 64, 64).png().toBuffer());
    // IHDR is the first chunk: length at 8, type at 12, width at 16, height at 20, CRC at 29.
    png.writeUInt32BE(20_000, 16);
    png.writeUInt32BE(20_000, 20);
    png.writeUInt32BE(crc32(png.subarray(12, 29)), 29);
    await rejectsAsInvalid(loadSourceImage(png, LIMITS), /too large: 20000x20000 pixels; the limit is/);
    // The same, declared in a JPEG's frame header (SOF0 height and width).
    const jpeg = Buffer.from(await raw(testImage(64, 64), 64, 64).jpeg().toBuffer());
    const sof = jpeg.indexOf(Buffer.from([0xff, 0xc0]));
    jpeg.writeUInt16BE(60_000, sof + 5);
    jpeg.writeUInt16BE(60_000, sof + 7);
    await rejectsAsInvalid(loadSourceImage(jpeg, LIMITS), /too large: 60000x60000 pixels/);
  });

  it("names the minimum size for an image that is too small", async () => {
    const dot = await raw(testImage(1, 1), 1, 1).png().toBuffer();
    for (const upscale of [1, 1.5, 2] as const) {
      const error = await loadSourceImage(dot, { ...LIMITS, upscale }).catch((e: unknown) => e);
      assert.ok(error instanceof InvalidInputError, String(error));
      assert.match(error.userMessage, /too small: 1x1 pixels/);
      assert.match(error.userMessage, new RegExp(`at least ${MIN_SOURCE_SIDE}x${MIN_SOURCE_SIDE} pixels`));
      assert.doesNotMatch(error.userMessage, /0x0/);
    }
    // x2 needs 32 px a side before upscaling (64 after), x1.5 needs 43 (64.5 rounds to 64 + 1, then down to 64).
    const error = await loadSourceImage(dot, { ...LIMITS, upscale: 2 }).catch((e: unknown) => e);
    assert.match((error as InvalidInputError).userMessage, /32x32 before upscaling x2/);
    const edge = await raw(testImage(43, 43), 43, 43).png().toBuffer();
    assert.equal((await loadSourceImage(edge, { ...LIMITS, upscale: 1.5 })).width, 64);
    const below = await raw(testImage(42, 42), 42, 42).png().toBuffer();
    await rejectsAsInvalid(
      loadSourceImage(below, { ...LIMITS, upscale: 1.5 }),
      /43x43 before upscaling x1.5/,
    );
  });

  it("upscales x1.5 and x2 and rounds sides down to multiples of 8", async () => {
    const png = await raw(testImage(80, 72), 80, 72).png().toBuffer();
    const x15 = await loadSourceImage(png, { ...LIMITS, upscale: 1.5 });
    assert.deepEqual([x15.width, x15.height], [120, 104]); // 120x108 -> 120x104
    assert.equal(x15.rgb.length, 120 * 104 * 3);
    const x2 = await loadSourceImage(png, { ...LIMITS, upscale: 2 });
    assert.deepEqual([x2.width, x2.height], [160, 144]);

    const odd = await raw(testImage(101, 67), 101, 67).png().toBuffer();
    const rounded = await loadSourceImage(odd, LIMITS);
    assert.deepEqual([rounded.width, rounded.height], [96, 64]);
    const oddX15 = await loadSourceImage(odd, { ...LIMITS, upscale: 1.5 });
    assert.deepEqual([oddX15.width, oddX15.height], [152, 96]); // 151.5x100.5 -> 152x101 -> 152x96
  });

  it("keeps the picture when upscaling (a flat colour stays that colour)", async () => {
    const flat = new Uint8Array(64 * 64 * 3);
    for (let i = 0; i < flat.length; i += 3) flat.set([200, 40, 90], i);
    const png = await raw(flat, 64, 64).png().toBuffer();
    const { rgb } = await loadSourceImage(png, { ...LIMITS, upscale: 2 });
    for (let i = 0; i < rgb.length; i += 3) assert.deepEqual([rgb[i], rgb[i + 1], rgb[i + 2]], [200, 40, 90]);
  });

  it("flattens transparency onto white and expands grey to RGB", async () => {
    const rgba = new Uint8Array(64 * 64 * 4);
    for (let i = 0; i < rgba.length; i += 4)
      rgba.set(i < rgba.length / 2 ? [0, 0, 0, 0] : [255, 0, 0, 128], i);
    const { rgb } = await loadSourceImage(await raw(rgba, 64, 64, 4).png().toBuffer(), LIMITS);
    assert.deepEqual([...rgb.subarray(0, 3)], [255, 255, 255]); // fully transparent -> white
    const last = rgb.subarray(rgb.length - 3);
    assert.equal(last[0], 255);
    assert.ok(Math.abs(last[1] - 127) <= 1 && Math.abs(last[2] - 127) <= 1, `${[...last]}`);

    const grey = await sharp(new Uint8Array(64 * 64).fill(77), {
      raw: { width: 64, height: 64, channels: 1 },
    })
      .png()
      .toBuffer();
    const fromGrey = await loadSourceImage(grey, LIMITS);
    assert.equal(fromGrey.rgb.length, 64 * 64 * 3);
    assert.ok(fromGrey.rgb.every((v) => v === 77));
  });

  it("applies EXIF orientation", async () => {
    const jpeg = await raw(testImage(96, 64), 96, 64).jpeg().withMetadata({ orientation: 6 }).toBuffer();
    const loaded = await loadSourceImage(jpeg, LIMITS);
    assert.deepEqual([loaded.width, loaded.height], [64, 96]);
  });
});
