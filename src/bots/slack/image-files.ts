/**
 * A result's image as a file Slack's upload flow takes: one name and title for a result's files,
 * a released image and an original sent privately, so a file reads the same wherever it appears.
 */
import type { EncodedImage } from "../../pipeline/types.js";
import { IMAGE_EXTENSIONS } from "../../requests/jobs.js";

export interface SlackImageFile {
  file: Buffer;
  filename: string;
  title: string;
}

/** `easel-<job>-<n>.<ext>`, titled with its number and seed; a blurred copy says it is one. */
export function slackImageFile(
  image: { jobId: string; index: number; seed: string },
  bytes: EncodedImage,
  blurred = false,
): SlackImageFile {
  const number = image.index + 1;
  return {
    file: Buffer.from(bytes.data.buffer, bytes.data.byteOffset, bytes.data.byteLength),
    filename: `easel-${image.jobId}-${number}${blurred ? "-blurred" : ""}.${IMAGE_EXTENSIONS[bytes.mime]}`,
    title: `Image ${number}${blurred ? " (blurred)" : ""} · seed ${image.seed}`,
  };
}
