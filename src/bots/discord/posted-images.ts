/**
 * Fetching back a result's image from the Discord message that shows it, once the bot's own copy
 * is gone (past EASEL_RETENTION_HOURS). Attachment URLs on Discord's CDN are signed and expire
 * (about a day), so the message is read again for fresh URLs, then the attachment is downloaded.
 * Where a result was posted is recorded as `discord:<channel>/<message>` (postedPlace).
 */
import { type REST, Routes } from "discord.js";
import type { Logger } from "pino";
import type { PostedImageSource } from "../../commands/chat.js";
import type { ImageRef } from "../../requests/jobs.js";
import { downloadPostedImage } from "../download.js";
import { attachmentBaseName, SPOILER_PREFIX } from "./images.js";

const PLACE = /^discord:(\d+)\/(\d+)$/;

/** What `ChatService.posted` records for a message of ours. */
export function postedPlace(channelId: string, messageId: string): string {
  return `discord:${channelId}/${messageId}`;
}

interface MessageAttachments {
  attachments?: Array<{ filename?: string; url?: string }>;
}

export function discordPostedImages(rest: REST, logger: Logger): PostedImageSource {
  return {
    platform: "discord",
    async fetch(posted: string, image: ImageRef) {
      const place = PLACE.exec(posted);
      if (!place) return undefined;
      let message: MessageAttachments;
      try {
        message = (await rest.get(Routes.channelMessage(place[1]!, place[2]!))) as MessageAttachments;
      } catch (error) {
        // Deleted, or the bot can no longer see the channel: the image is gone from Discord too.
        logger.info({ posted, err: error }, "discord: a posted result's message is gone");
        return undefined;
      }
      const name = attachmentBaseName(image);
      // A spoiler is the image itself under Discord's prefix; a blurred copy is not the image.
      const attachment = message.attachments?.find(
        (each) =>
          each.filename?.startsWith(`${name}.`) || each.filename?.startsWith(`${SPOILER_PREFIX}${name}.`),
      );
      if (!attachment?.url) return undefined;
      return downloadPostedImage(attachment.url, image, { posted, platform: "discord", logger });
    },
  };
}
