/**
 * Fetching back a result's image from the file uploaded to Slack, once the bot's own copy is gone
 * (past EASEL_RETENTION_HOURS): `files.info` gives the file's private URL, downloaded with the bot
 * token (`Authorization: Bearer`). A file a user deleted is gone (`file_not_found`).
 *
 * Where a result was posted is recorded as `slack:<team>/<channel>/<ts>` followed by
 * `/<image index>=<file id>,…` for the files uploaded with it (postedPlace).
 */
import type { webApi } from "@slack/bolt";
import type { Logger } from "pino";
import type { PostedImageSource } from "../../commands/chat.js";
import type { ImageRef } from "../../requests/jobs.js";
import { downloadPostedImage } from "../download.js";
import { slackErrorCode } from "./slack-errors.js";

const PLACE = /^slack:([^/]+)\/([^/]+)\/([^/]+)(?:\/((?:\d+=[A-Z0-9]+,?)*))?$/;

/** What `ChatService.posted` records for a result message and its uploaded files. */
export function postedPlace(
  where: { teamId: string; channelId: string; ts: string | undefined },
  files: ReadonlyArray<{ index: number; fileId: string }>,
): string {
  const base = `slack:${where.teamId}/${where.channelId}/${where.ts ?? ""}`;
  return files.length === 0 ? base : `${base}/${files.map((f) => `${f.index}=${f.fileId}`).join(",")}`;
}

/** The file id of image `index` in a recorded place; undefined when none was recorded. */
export function postedFileId(posted: string, index: number): string | undefined {
  const files = PLACE.exec(posted)?.[4];
  if (!files) return undefined;
  for (const entry of files.split(",")) {
    const [at, fileId] = entry.split("=");
    if (Number(at) === index && fileId) return fileId;
  }
  return undefined;
}

export function slackPostedImages(
  client: webApi.WebClient,
  botToken: string,
  logger: Logger,
): PostedImageSource {
  return {
    platform: "slack",
    async fetch(posted: string, image: ImageRef) {
      const file = postedFileId(posted, image.index);
      if (!file) return undefined;
      let url: string | undefined;
      try {
        const info = await client.files.info({ file });
        url = info.file?.url_private_download ?? info.file?.url_private;
      } catch (error) {
        logger.info({ posted, code: slackErrorCode(error) }, "slack: a posted image's file is gone");
        return undefined;
      }
      if (!url) return undefined;
      // Without a valid token Slack answers with its sign-in page (HTML), which is no image either:
      // the chat service checks the bytes.
      return downloadPostedImage(url, image, {
        posted,
        platform: "slack",
        logger,
        headers: { authorization: `Bearer ${botToken}` },
      });
    },
  };
}
