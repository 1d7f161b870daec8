/** Recognising an uploaded image's format from its first bytes (no decoder needed, so cheap to import). */

export type SourceFormat = "png" | "jpeg" | "webp";

/** The format named by the file's signature bytes, if it is one we accept. */
export function sniffImageFormat(data: Uint8Array): SourceFormat | undefined {
  const startsWith = (bytes: readonly number[], at = 0) =>
    data.length >= at + bytes.length && bytes.every((byte, i) => data[at + i] === byte);
  if (startsWith([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])) return "png";
  if (startsWith([0xff, 0xd8, 0xff])) return "jpeg";
  if (startsWith([0x52, 0x49, 0x46, 0x46]) && startsWith([0x57, 0x45, 0x42, 0x50], 8)) return "webp";
  return undefined;
}
