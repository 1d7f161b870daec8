/**
 * Final images as PNG with the generation settings embedded, so that a posted image can be traced
 * back to its prompt and seed and re-created in the popular SD tools.
 *
 * sharp 0.35 has no way to write PNG text chunks (withMetadata / withExif / withXmp cover EXIF, ICC
 * and XMP only), so sharp encodes the pixels and this module inserts the text chunks itself, right
 * after IHDR, before the first IDAT: readers that stop at the image data (libvips, which is what
 * `sharp(png).metadata().comments` reports, and streaming parsers) still see them.
 *
 * Chunks written, in this order:
 *  - `parameters`: the text the popular SD web UIs write and read (prompt line(s), then
 *    "Negative prompt: ..." when there is one, then "Steps: 30, Sampler: Euler, CFG scale: 5,
 *    Seed: 1, Size: 1024x1024, Model: ..."), so "PNG info" style readers show the settings;
 *  - `easel`: the same settings as JSON (the ImageMetadata object), for machines;
 *  - `Software`: the PNG standard keyword, naming the program.
 * Text that is pure ASCII goes into tEXt; anything else (emoji, CJK, accents) into iTXt, whose text
 * is UTF-8 (tEXt is Latin-1 only, and many readers mis-decode its non-ASCII bytes). NUL characters,
 * which no PNG text may contain, are dropped. Same pixels and metadata -> identical bytes.
 */

import { inflateSync } from "node:zlib";
import sharp from "sharp";
import { InvalidInputError } from "../../errors.js";
import type { PanDirection, Prediction, Rect, SchedulerName, Spacing } from "../types.js";

export interface ImageMetadata {
  prompt: string;
  /** Absent or "" when the image had no negative prompt. */
  negativePrompt?: string;
  /** 64-bit unsigned seed in decimal (JSON has no bigint). */
  seed: string;
  steps: number;
  guidance: number;
  scheduler: SchedulerName;
  /** Present when the request replaced the model's timestep spacing or prediction type. */
  spacing?: Spacing;
  prediction?: Prediction;
  /** Decoded by the tiny VAE (a draft) rather than the model's VAE. */
  draft?: boolean;
  width: number;
  height: number;
  /** Base model name (e.g. the model folder's name). */
  model?: string;
  /** The refiner model, and where the base handed over (absent when the refiner refined an existing image). */
  refiner?: { model?: string; switchAt?: number };
  variation?: { subseed: string; strength: number };
  /** Present when the image refined an existing one (img2img). */
  img2img?: { strength: number; upscale: number };
  /** Present for zoom out, pan and repaint: the action and where the source's pixels were placed. */
  canvas?: CanvasMetadata;
  /** Program name and version, e.g. "easel 0.1.0". */
  software: string;
}

export interface CanvasMetadata {
  action: "zoom_out" | "pan" | "repaint";
  /** Zoom out's factor. */
  factor?: number;
  /** Pan's direction. */
  direction?: PanDirection;
  source: Rect;
}

/** The canvas action in words, for the `parameters` line: "zoom out x2", "pan left", "repaint". */
export function canvasLabel(canvas: CanvasMetadata): string {
  if (canvas.action === "zoom_out") return `zoom out x${canvas.factor}`;
  if (canvas.action === "pan") return `pan ${canvas.direction}`;
  return "repaint";
}

/** zlib level for final images: on 1024x1024 images level 3 with adaptive filtering is within a
 * few percent of level 6's size at a lower encode time (measured with sharp 0.35 / libvips 8.18). */
export const PNG_COMPRESSION_LEVEL = 3;

const PNG_SIGNATURE = Uint8Array.of(0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a);
/** Bound on inflated zTXt/iTXt text when reading, against decompression bombs. */
const MAX_INFLATED_TEXT_BYTES = 8 * 1024 * 1024;

/** The sampler names the popular SD web UIs use for our schedulers. */
const SAMPLER_LABELS: Record<SchedulerName, string> = {
  euler: "Euler",
  "euler-a": "Euler a",
  "dpmpp-2m-karras": "DPM++ 2M Karras",
  ddim: "DDIM",
  lcm: "LCM",
};

/** RGB (HWC uint8) -> PNG bytes with the metadata text chunks described above. */
export async function encodePng(
  rgb: Uint8Array,
  width: number,
  height: number,
  metadata: ImageMetadata,
): Promise<Uint8Array> {
  if (rgb.length !== width * height * 3) {
    throw new RangeError(`rgb holds ${rgb.length} bytes; ${width}x${height} RGB needs ${width * height * 3}`);
  }
  const encoded = await sharp(rgb, { raw: { width, height, channels: 3 } })
    .png({ compressionLevel: PNG_COMPRESSION_LEVEL, adaptiveFiltering: true })
    .toBuffer();
  const chunks = [
    textChunk("parameters", formatParameters(metadata)),
    textChunk("easel", JSON.stringify(metadataJson(metadata))),
    textChunk("Software", metadata.software),
  ];
  return insertBeforeImageData(
    new Uint8Array(encoded.buffer, encoded.byteOffset, encoded.byteLength),
    chunks,
  );
}

/**
 * The `parameters` text: prompt, optional "Negative prompt:" line, then one line of
 * "Key: value" pairs. Values that contain a comma, colon or newline are JSON-quoted, as those
 * tools do, so the line stays parseable.
 */
export function formatParameters(metadata: ImageMetadata): string {
  const settings: [string, string | number][] = [
    ["Steps", metadata.steps],
    ["Sampler", SAMPLER_LABELS[metadata.scheduler]],
    ...(metadata.spacing ? [["Timestep spacing", metadata.spacing] as [string, string]] : []),
    ...(metadata.prediction ? [["Prediction type", metadata.prediction] as [string, string]] : []),
    ["CFG scale", metadata.guidance],
    ["Seed", metadata.seed],
    ["Size", `${metadata.width}x${metadata.height}`],
  ];
  if (metadata.model) settings.push(["Model", metadata.model]);
  // A1111's key for the decoder used; a draft is decoded by the tiny VAE.
  if (metadata.draft) settings.push(["VAE", "TAESDXL"]);
  if (metadata.variation) {
    settings.push(["Variation seed", metadata.variation.subseed]);
    settings.push(["Variation seed strength", metadata.variation.strength]);
  }
  if (metadata.img2img) settings.push(["Denoising strength", metadata.img2img.strength]);
  if (metadata.canvas) settings.push(["Canvas", canvasLabel(metadata.canvas)]);
  if (metadata.refiner) {
    if (metadata.refiner.model) settings.push(["Refiner", metadata.refiner.model]);
    if (metadata.refiner.switchAt !== undefined)
      settings.push(["Refiner switch at", metadata.refiner.switchAt]);
  }
  settings.push(["Version", metadata.software]);

  const lines = [metadata.prompt];
  if (metadata.negativePrompt) lines.push(`Negative prompt: ${metadata.negativePrompt}`);
  lines.push(settings.map(([key, value]) => `${key}: ${quoteSettingValue(String(value))}`).join(", "));
  return lines.join("\n");
}

function quoteSettingValue(value: string): string {
  return /[,:\n]/.test(value) ? JSON.stringify(value) : value;
}

/** The metadata with a fixed key order and no undefined fields, so the JSON text is stable. */
function metadataJson(metadata: ImageMetadata): ImageMetadata {
  const json: ImageMetadata = {
    prompt: metadata.prompt,
    seed: metadata.seed,
    steps: metadata.steps,
    guidance: metadata.guidance,
    scheduler: metadata.scheduler,
    width: metadata.width,
    height: metadata.height,
    software: metadata.software,
  };
  if (metadata.negativePrompt !== undefined) json.negativePrompt = metadata.negativePrompt;
  if (metadata.spacing !== undefined) json.spacing = metadata.spacing;
  if (metadata.prediction !== undefined) json.prediction = metadata.prediction;
  if (metadata.model !== undefined) json.model = metadata.model;
  if (metadata.draft) json.draft = true;
  if (metadata.refiner) {
    json.refiner = {
      ...(metadata.refiner.model !== undefined ? { model: metadata.refiner.model } : {}),
      ...(metadata.refiner.switchAt !== undefined ? { switchAt: metadata.refiner.switchAt } : {}),
    };
  }
  if (metadata.variation) {
    json.variation = { subseed: metadata.variation.subseed, strength: metadata.variation.strength };
  }
  if (metadata.img2img) {
    json.img2img = { strength: metadata.img2img.strength, upscale: metadata.img2img.upscale };
  }
  if (metadata.canvas) {
    const { action, factor, direction, source } = metadata.canvas;
    json.canvas = {
      action,
      ...(factor !== undefined ? { factor } : {}),
      ...(direction !== undefined ? { direction } : {}),
      source: { x: source.x, y: source.y, width: source.width, height: source.height },
    };
  }
  return json;
}

// --- chunk writing -------------------------------------------------------------------------

/** Keywords and tEXt bodies are ASCII here, where UTF-8 and Latin-1 agree. */
const utf8Encoder = new TextEncoder();
const utf8Decoder = new TextDecoder("utf-8", { fatal: false });
const latin1Decoder = new TextDecoder("latin1");

/** A tEXt chunk for ASCII text, an uncompressed iTXt chunk (UTF-8) for anything else. */
export function textChunk(keyword: string, text: string): Uint8Array {
  if (!/^[\x20-\x7e]{1,79}$/.test(keyword) || keyword.trim() !== keyword) {
    throw new RangeError(`invalid PNG text keyword: ${JSON.stringify(keyword)}`);
  }
  const clean = text.replaceAll("\0", "");
  const keywordBytes = utf8Encoder.encode(keyword);
  // tEXt text may hold tab and newline, nothing else below 0x20.
  if (/^[\t\n\x20-\x7e]*$/.test(clean)) {
    return chunk("tEXt", concat([keywordBytes, Uint8Array.of(0), utf8Encoder.encode(clean)]));
  }
  // iTXt: keyword, NUL, compression flag 0, method 0, empty language tag + NUL,
  // empty translated keyword + NUL, UTF-8 text.
  return chunk("iTXt", concat([keywordBytes, Uint8Array.of(0, 0, 0, 0, 0), utf8Encoder.encode(clean)]));
}

function chunk(type: string, data: Uint8Array): Uint8Array {
  const out = new Uint8Array(12 + data.length);
  const view = new DataView(out.buffer);
  view.setUint32(0, data.length);
  for (let i = 0; i < 4; i++) out[4 + i] = type.charCodeAt(i);
  out.set(data, 8);
  view.setUint32(8 + data.length, crc32(out.subarray(4, 8 + data.length)));
  return out;
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((sum, part) => sum + part.length, 0));
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

/** Inserts `chunks` just before the first IDAT chunk of `png`. */
function insertBeforeImageData(png: Uint8Array, chunks: Uint8Array[]): Uint8Array {
  const idat = walkChunks(png).find((entry) => entry.type === "IDAT");
  if (!idat) throw new Error("sharp produced a PNG without image data");
  return concat([png.subarray(0, idat.start), ...chunks, png.subarray(idat.start)]);
}

// CRC-32 (ISO 3309, the PNG/zlib polynomial), table driven. zlib.crc32 only exists from Node
// 20.15 / 22.2, and the project supports Node 20.9.
const CRC_TABLE: Uint32Array = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

export function crc32(bytes: Uint8Array): number {
  let crc = 0xffffffff;
  for (let i = 0; i < bytes.length; i++) crc = CRC_TABLE[(crc ^ bytes[i]) & 0xff] ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}

// --- chunk reading -------------------------------------------------------------------------

interface ChunkEntry {
  type: string;
  /** Offset of the chunk's length field. */
  start: number;
  data: Uint8Array;
}

function walkChunks(png: Uint8Array): ChunkEntry[] {
  const notPng = () => new InvalidInputError("The file is not a valid PNG image.");
  if (png.length < 8 || PNG_SIGNATURE.some((byte, i) => png[i] !== byte)) throw notPng();
  const view = new DataView(png.buffer, png.byteOffset, png.byteLength);
  const entries: ChunkEntry[] = [];
  let offset = 8;
  while (offset + 12 <= png.length) {
    const length = view.getUint32(offset);
    const end = offset + 12 + length;
    if (end > png.length) throw notPng();
    const type = latin1Decoder.decode(png.subarray(offset + 4, offset + 8));
    entries.push({ type, start: offset, data: png.subarray(offset + 8, offset + 8 + length) });
    if (type === "IEND") return entries;
    offset = end;
  }
  throw notPng();
}

/**
 * Every tEXt, zTXt and iTXt chunk of a PNG as keyword -> text (tEXt/zTXt decoded as Latin-1,
 * iTXt as UTF-8, compressed ones inflated). A keyword that appears twice keeps its last text.
 * Throws InvalidInputError when the bytes are not a well-formed PNG.
 */
export function readPngTextChunks(png: Uint8Array): Record<string, string> {
  const entries: [string, string][] = [];
  for (const { type, data } of walkChunks(png)) {
    if (type !== "tEXt" && type !== "zTXt" && type !== "iTXt") continue;
    const keywordEnd = data.indexOf(0);
    if (keywordEnd < 1) continue;
    const keyword = latin1Decoder.decode(data.subarray(0, keywordEnd));
    const text =
      type === "tEXt"
        ? latin1Decoder.decode(data.subarray(keywordEnd + 1))
        : type === "zTXt"
          ? latin1Decoder.decode(inflateText(data.subarray(keywordEnd + 2)))
          : readInternationalText(data, keywordEnd);
    entries.push([keyword, text]);
  }
  // fromEntries defines own properties, so a keyword such as "__proto__" stays plain data.
  return Object.fromEntries(entries);
}

function readInternationalText(data: Uint8Array, keywordEnd: number): string {
  const compressed = data[keywordEnd + 1] === 1;
  const languageEnd = data.indexOf(0, keywordEnd + 3);
  const translatedEnd = languageEnd < 0 ? -1 : data.indexOf(0, languageEnd + 1);
  if (translatedEnd < 0) throw new InvalidInputError("The file is not a valid PNG image.");
  const body = data.subarray(translatedEnd + 1);
  return utf8Decoder.decode(compressed ? inflateText(body) : body);
}

function inflateText(bytes: Uint8Array): Uint8Array {
  try {
    return inflateSync(bytes, { maxOutputLength: MAX_INFLATED_TEXT_BYTES });
  } catch {
    throw new InvalidInputError("The file is not a valid PNG image.");
  }
}
