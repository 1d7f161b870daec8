/**
 * The Slack app on Bolt: Socket Mode when an app token is configured (no public URL needed),
 * otherwise HTTP on host:port at Bolt's `/slack/events`, where Bolt's receiver checks every
 * request's signature and refuses timestamps more than five minutes old or ahead (receiver.ts). `/imagine` and button
 * presses are acknowledged first (Slack waits 3 s at most), then handed to the chat service; its
 * private answers go back ephemerally, accepted jobs are posted in the channel. `/easel` is the
 * admin command (the service decides who may use it); a delete press removes the result message.
 */
import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import { App, type RespondFn, webApi } from "@slack/bolt";
import type { Logger } from "pino";
import { adminCommand } from "../../commands/admin.js";
import type { ChatReply, ChatService, JobView } from "../../commands/chat.js";
import { isHelpRequest } from "../../commands/imagine.js";
import { chatTexts, moderationTexts } from "../../commands/texts.js";
import type { SlackConfig } from "../../config.js";
import { ConfigError } from "../../errors.js";
import { userId, type Where, type Who } from "../../requests/request.js";
import { RecentIds } from "../recent-ids.js";
import { removeDeletedResult } from "../remove-result.js";
import { parseAdminText, slackUserArgument } from "./admin-text.js";
import { fileIdsOf, textMessage } from "./blocks.js";
import { boltLogger } from "./bolt-logger.js";
import { slackImageFile } from "./image-files.js";
import { SlackJobMessages, type SlackPlace, type TellPrivately } from "./job-messages.js";
import { toMrkdwn } from "./mrkdwn.js";
import { slackPostedImages } from "./posted-images.js";
import { sendImageByDirectMessage } from "./private-images.js";
import { signedRequestReceiver } from "./receiver.js";
import { neededScope, operatorHint, slackErrorCode } from "./slack-errors.js";
import { slackTexts } from "./texts.js";

/**
 * WebClient's retries, for server errors and 429s alike (a 429 first waits its Retry-After):
 * about half a minute in all before a call is given up and logged.
 */
const RETRY_CONFIG: webApi.RetryOptions = { retries: 5, factor: 2, minTimeout: 500, maxTimeout: 10_000 };

export interface SlackAppOptions {
  config: SlackConfig;
  chat: ChatService;
  logger: Logger;
  /** The `/imagine` usage line shown above the help. */
  usage: string;
  progressIntervalMs?: number;
}

export interface RunningSlackApp {
  mode: "socket" | "http";
  /** HTTP mode: where Slack sends commands and interactivity (`…/slack/events`). */
  eventsUrl: string | undefined;
  /** The followed jobs (tests wait on `idle()`). */
  messages: SlackJobMessages;
  stop(): Promise<void>;
}

export async function startSlackApp(options: SlackAppOptions): Promise<RunningSlackApp> {
  const { config, chat, logger } = options;
  const log = boltLogger(logger);
  const clientOptions: webApi.WebClientOptions = {
    slackApiUrl: config.apiUrl,
    retryConfig: RETRY_CONFIG,
    logger: log,
  };
  // Checked here, with a clear error, instead of by Bolt in its constructor (unawaited there);
  // the answer also spares Bolt an auth.test call per event.
  let identity: { botId: string; botUserId: string };
  try {
    const answer = await new webApi.WebClient(config.botToken, clientOptions).auth.test();
    identity = { botId: answer.bot_id ?? "", botUserId: answer.user_id ?? "" };
  } catch (error) {
    const code = slackErrorCode(error);
    logger.error({ err: error, code }, "Slack refused the bot token");
    throw new ConfigError(
      `SLACK_BOT_TOKEN: Slack refused it at ${config.apiUrl} (${code}): ${operatorHint(code)}`,
    );
  }
  const common = {
    token: config.botToken,
    ...identity,
    logger: log,
    clientOptions,
    tokenVerificationEnabled: false,
  };
  const app = config.appToken
    ? new App({
        ...common,
        socketMode: true,
        appToken: config.appToken,
        // Bolt's Socket Mode client reads the API base from here, not from clientOptions.
        installerOptions: { clientOptions },
      })
    : new App({
        ...common,
        // loadConfig requires the signing secret in HTTP mode; Bolt refuses an empty one too.
        receiver: signedRequestReceiver(config.signingSecret ?? "", log),
      });

  const messages = new SlackJobMessages({
    client: app.client,
    chat,
    logger,
    progressIntervalMs: options.progressIntervalMs,
  });

  const privately =
    (respond: RespondFn | undefined, channel: string | undefined, user: string): TellPrivately =>
    async (text) => {
      const message = textMessage(text);
      if (respond) {
        try {
          await respond({ response_type: "ephemeral", replace_original: false, ...message });
          return;
        } catch (error) {
          const code = slackErrorCode(error);
          logger.warn(
            { code, channel },
            `Slack refused the response_url (${code}): ${operatorHint(code)}; trying chat.postEphemeral`,
          );
        }
      }
      if (channel === undefined) return;
      try {
        await app.client.chat.postEphemeral({ channel, user, ...message });
      } catch (error) {
        const code = slackErrorCode(error);
        logger.warn(
          { code, channel },
          `Slack refused chat.postEphemeral (${code}): ${operatorHint(code)}; the user was not told`,
        );
      }
    };

  const answer = async (reply: ChatReply, place: SlackPlace, tell: TellPrivately, prefix?: string) => {
    if (reply.kind === "job") await messages.follow(reply.view, place, tell);
    else if (reply.kind === "info" && reply.original)
      await showPrivately(reply.original, reply.text, place, tell);
    else await tell(prefix ? `${prefix}\n${reply.text}` : reply.text);
  };

  /** An original for the asker alone: into their direct message with the bot (private-images.ts). */
  const showPrivately = async (
    original: NonNullable<Extract<ChatReply, { kind: "info" }>["original"]>,
    text: string,
    place: SlackPlace,
    tell: TellPrivately,
  ) => {
    try {
      await sendImageByDirectMessage(app.client, place.userId, text, original);
      await tell(slackTexts.sentByDirectMessage(original.image.index + 1));
    } catch (error) {
      const code = slackErrorCode(error);
      logger.warn(
        { code, jobId: original.image.jobId },
        `Slack refused to send an image by direct message (${code}): ${operatorHint(code, neededScope(error))}`,
      );
      await tell(slackTexts.couldNotSendPrivately());
    }
  };

  /**
   * A deleted result's message goes, with the image files it names (uploaded just before it), or
   * shows the deleted view when Slack will not delete it (an old message, a missing scope).
   */
  const removeResult = (channel: string, ts: string, fileIds: readonly string[], view: JobView) =>
    removeDeletedResult(
      {
        remove: async () => {
          for (const file of fileIds) {
            try {
              await app.client.files.delete({ file });
            } catch (error) {
              const code = slackErrorCode(error);
              logger.warn(
                { code, channel, file, jobId: view.jobId },
                `Slack refused to delete a deleted result's image file (${code}): ${operatorHint(code, neededScope(error))}`,
              );
            }
          }
          await app.client.chat.delete({ channel, ts });
        },
        replace: async (deleted) => {
          await app.client.chat.update({ channel, ts, text: textMessage(deleted.text).text, blocks: [] });
        },
      },
      view,
      logger,
    );

  const triggers = new RecentIds();

  // /easel is the admin command; any other name is /imagine (an operator may rename it).
  app.command(/^\//, async ({ command, ack, respond }) => {
    await ack();
    if (!triggers.firstTime(command.trigger_id)) {
      logger.info(
        { channel: command.channel_id },
        "a Slack command was delivered twice; the copy is ignored",
      );
      return;
    }
    const team = command.team_id || command.enterprise_id || "";
    const place: SlackPlace = { teamId: team, channelId: command.channel_id, userId: command.user_id };
    const tell = privately(respond, command.channel_id, command.user_id);
    const who: Who = { userId: userId("slack", team, command.user_id), userName: command.user_name };
    const where: Where = { platform: "slack", serverId: team, channelId: command.channel_id };
    try {
      if (command.command === `/${adminCommand.name}`) {
        const { subcommand, args } = parseAdminText(command.text ?? "");
        if (args["user"] !== undefined) args["user"] = slackUserArgument(args["user"], team);
        await answer(await chat.admin(subcommand, args, who, where), place, tell);
        return;
      }
      const input = { text: command.text ?? "" };
      const reply = await chat.imagine(input, who, where);
      await answer(
        reply,
        place,
        tell,
        isHelpRequest(input) ? `Usage: \`${command.command} ${options.usage}\`` : undefined,
      );
    } catch (error) {
      logger.error({ err: error, channel: command.channel_id }, "a Slack command failed");
      await tell(chatTexts.internalError());
    }
  });

  app.action(/^easel:/, async ({ ack, body, action, respond }) => {
    await ack();
    if (body.type !== "block_actions" || action.type !== "button") return;
    if (!triggers.firstTime(body.trigger_id)) {
      logger.info(
        { channel: body.channel?.id },
        "a Slack button press was delivered twice; the copy is ignored",
      );
      return;
    }
    const team = body.team?.id ?? body.user.team_id ?? "";
    const channel = body.channel?.id ?? body.container?.channel_id;
    const tell = privately(respond, channel, body.user.id);
    if (channel === undefined) {
      await tell("These buttons only work in a channel.");
      return;
    }
    const who: Who = {
      userId: userId("slack", team, body.user.id),
      userName: body.user.username ?? body.user.name,
    };
    const where: Where = { platform: "slack", serverId: team, channelId: channel };
    try {
      const reply = await chat.press(action.value ?? "", who, where);
      const messageTs = body.message?.ts ?? body.container?.message_ts;
      if (reply.kind === "info" && reply.deleted && typeof messageTs === "string") {
        await removeResult(channel, messageTs, fileIdsOf(body.message?.["blocks"]), reply.deleted);
      }
      await answer(reply, { teamId: team, channelId: channel, userId: body.user.id }, tell);
    } catch (error) {
      logger.error({ err: error, channel }, "a Slack button press failed");
      await tell(chatTexts.internalError());
    }
  });

  app.error(async (error) => {
    logger.error({ err: error }, "Slack app error");
  });

  // Buttons on results whose images the bot no longer keeps fetch them back from Slack.
  const offPostedImages = chat.addPostedImageSource(slackPostedImages(app.client, config.botToken, logger));

  // A withheld image an admin released: posted in its result's channel, naming the requester.
  const offReleased = chat.onReleased(({ view, image }) => {
    const place = placeOf(view);
    if (!place) return;
    void (async () => {
      const bytes = await chat.image(image.id);
      if (!bytes) return;
      await app.client.filesUploadV2({
        channel_id: place.channelId,
        initial_comment: `<@${place.userId}> ${toMrkdwn(moderationTexts.releasedPost(image.index + 1))}`,
        file_uploads: [slackImageFile(image, bytes)],
      });
    })().catch((error: unknown) => {
      const code = slackErrorCode(error);
      logger.warn(
        { code, jobId: view.jobId },
        `Slack refused the upload of a released image (${code}): ${operatorHint(code, neededScope(error))}`,
      );
    });
  });

  // After a restart, jobs that were queued or running get a new message: the old one may be
  // hours old or gone.
  const offRecovered = chat.onRecovered((view: JobView) => {
    const place = placeOf(view);
    if (!place) return;
    messages.follow(view, place).catch((error: unknown) => {
      logger.error({ err: error, jobId: view.jobId }, "could not post a recovered job in Slack");
    });
  });

  let server: Server | undefined;
  try {
    if (config.appToken) {
      await app.start();
    } else {
      server = (await app.start({ port: config.port, host: config.host })) as Server;
    }
  } catch (error) {
    offRecovered();
    offReleased();
    offPostedImages();
    throw error;
  }
  const address = server?.address() as AddressInfo | null | undefined;
  const eventsUrl = address ? `http://${urlHost(address.address)}:${address.port}/slack/events` : undefined;
  logger.info({ mode: config.appToken ? "socket" : "http", eventsUrl }, "Slack app is listening");

  return {
    mode: config.appToken ? "socket" : "http",
    eventsUrl,
    messages,
    stop: async () => {
      offRecovered();
      offReleased();
      offPostedImages();
      await messages.stop();
      const stopping = app.stop();
      // Keep-alive connections would hold the HTTP server open until they time out.
      server?.closeIdleConnections();
      await stopping;
    },
  };
}

/** A recovered job's Slack place, or undefined for another platform's job. */
function placeOf(view: JobView): SlackPlace | undefined {
  const { requester } = view;
  if (requester.platform !== "slack" || !requester.channelId || !requester.serverId) return undefined;
  const slackUser = requester.userId.split(":")[2];
  if (!slackUser) return undefined;
  return { teamId: requester.serverId, channelId: requester.channelId, userId: slackUser };
}

function urlHost(address: string): string {
  return address.includes(":") ? `[${address}]` : address;
}
