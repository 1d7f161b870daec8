/**
 * The one Discord message that shows a job, kept in step with its views by the shared follow loop
 * (src/bots/follow.ts: one send at a time, the newest view wins, identical ones skipped). The
 * message is the interaction's reply while its token lives (15 min), else a channel message
 * posted with the bot token that mentions the user. A finished result is followed by a
 * short ping, since edits notify no one, and recorded as posted.
 */
import { DiscordAPIError, HTTPError, MessageFlags, type REST, type RequestData, Routes } from "discord.js";
import type { Logger } from "pino";
import type { ChatService, JobView } from "../../commands/chat.js";
import type { JobSink } from "../follow.js";
import { postedPlace } from "./posted-images.js";
import { type MessageDraft, renderView, textMessage } from "./render.js";
import { discordTexts } from "./texts.js";

/** Where a job's message lives. */
export type MessageTarget =
  /** The reply to an interaction, edited through its token while the token lives. */
  | { kind: "interaction"; token: string; createdAt: number }
  /** A message the bot posted in the channel with its own token. */
  | { kind: "channel"; messageId: string };

export interface JobMessageContext {
  rest: REST;
  chat: ChatService;
  logger: Logger;
  applicationId: string;
  /** How long an interaction token may be used, with a margin (Discord: 15 min). */
  tokenLifetimeMs: number;
}

/** Discord error codes meaning the interaction token can no longer be used. */
const DEAD_TOKEN_CODES = new Set([10015, 10062, 50027]);

function isDeadToken(error: unknown): boolean {
  return (
    error instanceof DiscordAPIError && (DEAD_TOKEN_CODES.has(Number(error.code)) || error.status === 401)
  );
}

export function describeError(error: unknown): Record<string, unknown> {
  if (error instanceof DiscordAPIError)
    return { status: error.status, code: error.code, message: error.message };
  if (error instanceof HTTPError) return { status: error.status, message: error.message };
  return { message: error instanceof Error ? error.message : String(error) };
}

interface SentMessage {
  id: string;
  channel_id: string;
}

/** The Discord side of following a job (src/bots/follow.ts): every view is one send. */
export class JobMessage implements JobSink {
  private target: MessageTarget | undefined;

  constructor(
    private readonly context: JobMessageContext,
    readonly jobId: string,
    private readonly channelId: string,
    /** Discord id of the user the job belongs to. */
    private readonly userId: string | undefined,
    /** Largest file Discord accepts in this channel. */
    private readonly attachmentSizeLimit: number,
    target?: MessageTarget,
  ) {
    this.target = target;
  }

  /** A first message that fails is logged, not fatal: the next view posts in the channel. */
  async post(view: JobView): Promise<void> {
    try {
      await this.send(view);
    } catch (error) {
      this.context.logger.warn(
        { jobId: this.jobId, state: view.state, ...describeError(error) },
        "discord message update failed",
      );
    }
  }

  edit(view: JobView): Promise<void> {
    return this.send(view);
  }

  private tokenAlive(target: MessageTarget): target is Extract<MessageTarget, { kind: "interaction" }> {
    return target.kind === "interaction" && Date.now() - target.createdAt < this.context.tokenLifetimeMs;
  }

  private async send(view: JobView): Promise<void> {
    const { rest, chat } = this.context;
    const render = (mention?: string) =>
      renderView(view, {
        image: (id) => chat.image(id),
        blurredImage: (id) => chat.blurredImage(id),
        attachmentSizeLimit: this.attachmentSizeLimit,
        ...(mention ? { mention } : {}),
      });
    let sent: SentMessage | undefined;
    let pinged = false;
    const target = this.target;
    if (target && this.tokenAlive(target)) {
      try {
        sent = (await rest.patch(
          Routes.webhookMessage(this.context.applicationId, target.token, "@original"),
          request(await render(), false),
        )) as SentMessage;
      } catch (error) {
        if (!isDeadToken(error)) throw error;
        this.context.logger.info(
          { jobId: this.jobId },
          "discord interaction token expired; posting in the channel",
        );
        this.target = undefined;
      }
    } else if (target?.kind === "channel") {
      // A message of our own in the channel keeps naming the user (edits notify no one again).
      sent = (await rest.patch(
        Routes.channelMessage(this.channelId, target.messageId),
        request(await render(this.userId), true),
      )) as SentMessage;
    } else {
      this.target = undefined;
    }
    if (!sent) {
      // No message of ours to edit (any more): post one with the bot token, naming the user.
      sent = (await rest.post(
        Routes.channelMessages(this.channelId),
        request(await render(this.userId), true),
      )) as SentMessage;
      this.target = { kind: "channel", messageId: sent.id };
      pinged = this.userId !== undefined;
    }
    if (view.state === "done") {
      if (!pinged) await this.ping();
      if (view.notice) await this.tellPrivately(view.notice);
      await chat.posted(this.jobId, postedPlace(sent.channel_id, sent.id));
    }
  }

  /**
   * A note for the requester's eyes only (images the content filter withheld): an ephemeral
   * follow-up while the interaction token lives, else a direct message. Best effort: logged.
   */
  private async tellPrivately(text: string): Promise<void> {
    if (!this.userId) return;
    try {
      const target = this.target;
      if (target && this.tokenAlive(target)) {
        await this.context.rest.post(
          Routes.webhook(this.context.applicationId, target.token),
          request(textMessage(text, MessageFlags.Ephemeral), false),
        );
        return;
      }
      await sendDirectMessage(this.context.rest, this.userId, textMessage(text));
    } catch (error) {
      this.context.logger.warn(
        { jobId: this.jobId, ...describeError(error) },
        "discord: could not tell the requester privately",
      );
    }
  }

  /** A short follow-up mentioning the user: the edit that completed the result notified no one. */
  private async ping(): Promise<void> {
    if (!this.userId) return;
    const message = textMessage(discordTexts.resultReady(`<@${this.userId}>`));
    message.body.allowed_mentions = { parse: [], users: [this.userId] };
    try {
      const target = this.target;
      if (target && this.tokenAlive(target)) {
        await this.context.rest.post(
          Routes.webhook(this.context.applicationId, target.token),
          request(message, false),
        );
      } else {
        await this.context.rest.post(Routes.channelMessages(this.channelId), request(message, true));
      }
    } catch (error) {
      this.context.logger.warn({ jobId: this.jobId, ...describeError(error) }, "discord result ping failed");
    }
  }
}

/** Posts `draft` in a direct message to a user (the bot opens, or reuses, the DM channel). */
async function sendDirectMessage(rest: REST, userId: string, draft: MessageDraft): Promise<void> {
  const channel = (await rest.post(Routes.userChannels(), { body: { recipient_id: userId } })) as {
    id: string;
  };
  await rest.post(Routes.channelMessages(channel.id), request(draft, true));
}

/** A REST request for a draft; interaction-token routes go without the bot token. */
export function request(draft: MessageDraft, auth: boolean): RequestData {
  return { body: draft.body, ...(draft.files.length > 0 ? { files: draft.files } : {}), auth };
}
