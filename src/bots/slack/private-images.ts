/**
 * An image for one person's eyes on Slack (output moderation's "show", an admin's `/easel show`).
 * Slack's ephemeral messages cannot carry files, and an image block needs a URL Slack's servers
 * can fetch (a self-hosted bot is usually not on the internet) or a file the viewer already has:
 * so the image is uploaded into the person's direct message with the bot, which only they see
 * and which keeps it. Needs the `im:write` scope (conversations.open) besides `files:write`.
 */
import type { webApi } from "@slack/bolt";
import type { ViewImage } from "../../commands/moderated-images.js";
import type { EncodedImage } from "../../pipeline/types.js";
import { slackImageFile } from "./image-files.js";
import { toMrkdwn } from "./mrkdwn.js";

/** Uploads `bytes` into the direct message between the bot and `slackUserId`, with `text`. */
export async function sendImageByDirectMessage(
  client: webApi.WebClient,
  slackUserId: string,
  text: string,
  original: { image: Pick<ViewImage, "jobId" | "index" | "seed">; bytes: EncodedImage },
): Promise<void> {
  const opened = await client.conversations.open({ users: slackUserId });
  const channel = opened.channel?.id;
  if (!channel) throw new Error("Slack opened no direct message channel");
  const { image, bytes } = original;
  await client.filesUploadV2({
    channel_id: channel,
    initial_comment: toMrkdwn(text),
    file_uploads: [slackImageFile(image, bytes)],
  });
}
