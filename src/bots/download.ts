/** Downloads from a platform's file servers (a posted result, an attachment), bounded in time. */
import type { Logger } from "pino";
import type { EncodedImage } from "../pipeline/types.js";
import type { ImageRef } from "../requests/jobs.js";

/** A download gives up after this long. */
export const DOWNLOAD_TIMEOUT_MS = 30_000;

/** The bytes at `url`; throws on a network error, a timeout or a status other than 2xx. */
export async function downloadBytes(url: string, headers: Record<string, string> = {}): Promise<Uint8Array> {
  const response = await fetch(url, { headers, signal: AbortSignal.timeout(DOWNLOAD_TIMEOUT_MS) });
  if (!response.ok) throw new Error(`HTTP ${response.status}`);
  return new Uint8Array(await response.arrayBuffer());
}

/**
 * A posted result's image fetched back from `url`, described as its `ImageRef` says; undefined
 * (with a warning naming `posted`) when it cannot be had. The chat service checks the bytes.
 */
export async function downloadPostedImage(
  url: string,
  image: ImageRef,
  where: { posted: string; platform: string; logger: Logger; headers?: Record<string, string> },
): Promise<EncodedImage | undefined> {
  try {
    const data = await downloadBytes(url, where.headers);
    return { mime: image.mime, data, width: image.width, height: image.height };
  } catch (error) {
    where.logger.warn(
      { posted: where.posted, reason: error instanceof Error ? error.message : String(error) },
      `${where.platform}: a posted image could not be downloaded`,
    );
    return undefined;
  }
}
