// A repaint mask as the smallest honest PNG: 1-bit greyscale (white = repaint), deflated with the
// platform's CompressionStream. A browser canvas's own PNG is 8-bit RGBA and quickly encoded:
// tens of kilobytes for one brush stroke, against the API's 64 KiB body; this is a few.
// No DOM: the page and the Node tests use the same file.

const SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];

const CRC_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

/** CRC-32 (ISO-HDLC, as PNG chunks use) of several byte arrays in a row. */
export function crc32(...parts) {
  let crc = 0xffffffff;
  for (const bytes of parts) {
    for (const byte of bytes) crc = CRC_TABLE[(crc ^ byte) & 0xff] ^ (crc >>> 8);
  }
  return (crc ^ 0xffffffff) >>> 0;
}

function uint32(value) {
  return [(value >>> 24) & 0xff, (value >>> 16) & 0xff, (value >>> 8) & 0xff, value & 0xff];
}

function chunk(type, data) {
  const name = new TextEncoder().encode(type);
  return [...uint32(data.length), ...name, ...data, ...uint32(crc32(name, data))];
}

/** Rows of 1-bit pixels, each behind PNG's filter byte 0 (none); `white[i]` truthy = white. */
export function packRows(white, width, height) {
  const stride = Math.ceil(width / 8) + 1;
  const rows = new Uint8Array(stride * height);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      if (white[y * width + x]) rows[y * stride + 1 + (x >> 3)] |= 0x80 >> (x & 7);
    }
  }
  return rows;
}

async function deflate(bytes) {
  const stream = new Blob([bytes]).stream().pipeThrough(new CompressionStream("deflate"));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

/** The mask as PNG bytes: `white` has one entry per pixel, row by row. */
export async function maskPng(white, width, height) {
  const header = [...uint32(width), ...uint32(height), 1, 0, 0, 0, 0]; // 1 bit, greyscale
  const data = await deflate(packRows(white, width, height));
  return new Uint8Array([
    ...SIGNATURE,
    ...chunk("IHDR", header),
    ...chunk("IDAT", data),
    ...chunk("IEND", []),
  ]);
}

/** White where an RGBA image's red channel is at least half: a canvas's pixels, antialiasing decided. */
export function whiteOf(rgba) {
  const white = new Uint8Array(rgba.length / 4);
  for (let p = 0; p < white.length; p++) white[p] = rgba[p * 4] >= 128 ? 1 : 0;
  return white;
}

/** Bytes as a `data:image/png;base64,…` URL. */
export function pngDataUrl(bytes) {
  let text = "";
  for (let i = 0; i < bytes.length; i += 0x8000) {
    text += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return `data:image/png;base64,${btoa(text)}`;
}
