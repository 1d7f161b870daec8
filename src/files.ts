/**
 * Files written and read at the edges (the CLI's --out, the data dir's images): a write lands
 * whole or not at all, and a read takes only regular files, up to a size.
 */
import { randomBytes } from "node:crypto";
import { constants, renameSync, rmSync, writeFileSync } from "node:fs";
import { copyFile, open, rename, rm, writeFile } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { InvalidInputError } from "./errors.js";

const READ_PIECE_BYTES = 1 << 20;

/** A temporary name in the same folder as `path`, so the rename stays on one file system. */
function temporaryBeside(path: string): string {
  return join(dirname(path), `.${basename(path)}.${randomBytes(4).toString("hex")}.tmp`);
}

/**
 * Writes `data` to a temporary file beside `path`, then renames it over `path`. On any failure (a
 * full disk, a missing folder) the temporary file is removed and an existing file at `path` is
 * left as it was. Rejects with the file system's error.
 */
export async function writeFileAtomically(path: string, data: Uint8Array | string): Promise<void> {
  const temporary = temporaryBeside(path);
  try {
    await writeFile(temporary, data);
    await rename(temporary, path);
  } catch (error) {
    await rm(temporary, { force: true });
    throw error;
  }
}

/** Copies `source` to `path` the same way: whole or not at all, an existing `path` kept on failure. */
export async function copyFileAtomically(source: string, path: string): Promise<void> {
  const temporary = temporaryBeside(path);
  try {
    await copyFile(source, temporary);
    await rename(temporary, path);
  } catch (error) {
    await rm(temporary, { force: true });
    throw error;
  }
}

/** writeFileAtomically, synchronously (for writes that must be on disk before a callback returns). */
export function writeFileAtomicallySync(path: string, data: Uint8Array | string): void {
  const temporary = temporaryBeside(path);
  try {
    writeFileSync(temporary, data);
    renameSync(temporary, path);
  } catch (error) {
    rmSync(temporary, { force: true });
    throw error;
  }
}

/** "ENOSPC: no space left on device, write" -> "no space left on device (ENOSPC)", without paths. */
export function describeFileError(error: unknown): string {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  const text = error instanceof Error ? error.message : String(error);
  const reason = /^[A-Z]+: ([^,]+)/.exec(text)?.[1] ?? text;
  return code ? `${reason} (${code})` : reason;
}

/**
 * Reads a regular file of at most `maxBytes` bytes. Devices (/dev/zero), FIFOs, sockets and
 * folders are refused without reading; the file is opened non-blocking, so a FIFO cannot hang the
 * open, and at most `maxBytes + 1` bytes are read even if the file grows meanwhile.
 * Errors are InvalidInputError for `field`, naming `label` (the path as the caller gave it).
 */
export async function readRegularFile(
  path: string,
  maxBytes: number,
  field: string,
  label = path,
): Promise<Uint8Array> {
  let handle: Awaited<ReturnType<typeof open>>;
  try {
    handle = await open(path, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (error) {
    throw new InvalidInputError(`Cannot read ${label}: ${describeFileError(error)}.`, field);
  }
  try {
    const stats = await handle.stat();
    if (!stats.isFile()) throw new InvalidInputError(`${label} is not a regular file.`, field);
    const tooLarge = () =>
      new InvalidInputError(`${label} is larger than the limit of ${maxBytes} bytes.`, field);
    if (stats.size > maxBytes) throw tooLarge();
    // Read in pieces rather than trusting the size: the file may grow while it is read.
    const pieces: Uint8Array[] = [];
    let length = 0;
    while (length <= maxBytes) {
      const piece = new Uint8Array(Math.min(READ_PIECE_BYTES, maxBytes + 1 - length));
      const { bytesRead } = await handle.read(piece, 0, piece.length, length);
      if (bytesRead === 0) break;
      pieces.push(piece.subarray(0, bytesRead));
      length += bytesRead;
    }
    if (length > maxBytes) throw tooLarge();
    return Buffer.concat(pieces, length);
  } catch (error) {
    if (error instanceof InvalidInputError) throw error;
    throw new InvalidInputError(`Cannot read ${label}: ${describeFileError(error)}.`, field);
  } finally {
    await handle.close();
  }
}
