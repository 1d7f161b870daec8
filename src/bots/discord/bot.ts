/**
 * The Discord bot: a discord.js gateway client that turns `/imagine`, `/help`, `/easel` (admin)
 * and button presses into chat-service calls and keeps one JobMessage per job in step with the
 * service's views.
 *
 * Answering within Discord's 3 s: the service parses, validates and queues in one fast call, so the
 * first answer is that call's outcome — a private (ephemeral) error with nothing queued, or the
 * job's first view posted publicly as the reply, which later views edit. Should the call ever be
 * slow (an attachment download, a busy store), the bot defers privately before the deadline and,
 * for an accepted job, posts the job's message in the channel instead.
 */
import {
  type ButtonInteraction,
  type ChatInputCommandInteraction,
  Client,
  Events,
  GatewayIntentBits,
  type Interaction,
  InteractionResponseType,
  MessageFlags,
  Partials,
  Routes,
} from "discord.js";
import type { Logger } from "pino";
import { isEaselButtonId } from "../../commands/buttons.js";
import type { ChatReply, ChatService, ImagineInput, JobView, ReleasedImage } from "../../commands/chat.js";
import { chatTexts, moderationTexts } from "../../commands/texts.js";
import { MAX_UPLOAD_BYTES } from "../../commands/upload.js";
import type { Config, DiscordConfig } from "../../config.js";
import type { AdapterContext } from "../adapter.js";
import { downloadBytes } from "../download.js";
import { Followers } from "../follow.js";
import { RecentIds } from "../recent-ids.js";
import { removeDeletedResult } from "../remove-result.js";
import {
  ADMIN_COMMAND,
  autocompleteChoices,
  commandDefinitions,
  HELP_COMMAND,
  IMAGE_OPTION,
  IMAGINE_COMMAND,
  registerCommands,
} from "./commands.js";
import { describeError, JobMessage, type MessageTarget, request } from "./job-message.js";
import { discordPostedImages } from "./posted-images.js";
import { imageMessage, type MessageDraft, renderView, textMessage } from "./render.js";
import { discordUserArgument, discordUserId, missingPermissions, whereOf, whoOf } from "./requester.js";
import { discordTexts } from "./texts.js";

export interface DiscordBotOptions {
  /** How long an interaction token is used before posting with the bot token (Discord: 15 min). */
  tokenLifetimeMs?: number;
  /** Past this, a still-running answer is deferred privately (Discord allows 3 s). */
  answerWithinMs?: number;
  /** At most one progress edit per message per this many ms (default 2 s: Discord's edit limits). */
  viewIntervalMs?: number;
}

/** 15 minutes, less a margin for a slow edit. */
const TOKEN_LIFETIME_MS = 14.5 * 60_000;
const ANSWER_WITHIN_MS = 2000;
/** The upload limit when Discord has not said (channel messages after a restart). */
const DEFAULT_ATTACHMENT_LIMIT = 10 * 1024 * 1024;
const MEGABYTE = 1024 * 1024;
/** Progress views at most this often per message (Discord's edit rate limits). */
const VIEW_INTERVAL_MS = 2000;

type Answerable = ChatInputCommandInteraction | ButtonInteraction;

export class DiscordBot {
  private readonly config: DiscordConfig;
  /** The whole config: the option table (autocompleted choices) is derived from it. */
  private readonly fullConfig: Config;
  private readonly chat: ChatService;
  private readonly logger: Logger;
  private readonly client: Client;
  private readonly tokenLifetimeMs: number;
  private readonly answerWithinMs: number;
  private readonly viewIntervalMs: number;
  private readonly followers: Followers;
  private readonly seen = new RecentIds();
  private applicationId: string | undefined;
  private readonly readyViews: JobView[] = [];
  private stopRecovered: (() => void) | undefined;
  private stopReleased: (() => void) | undefined;
  private stopPostedImages: (() => void) | undefined;
  private stopping = false;

  constructor(
    private readonly context: Pick<AdapterContext, "config" | "chat" | "logger">,
    options: DiscordBotOptions = {},
  ) {
    if (!context.config.discord) throw new Error("the Discord adapter needs config.discord");
    this.config = context.config.discord;
    this.fullConfig = context.config;
    this.chat = context.chat;
    this.logger = context.logger;
    this.tokenLifetimeMs = options.tokenLifetimeMs ?? TOKEN_LIFETIME_MS;
    this.answerWithinMs = options.answerWithinMs ?? ANSWER_WITHIN_MS;
    this.viewIntervalMs = options.viewIntervalMs ?? VIEW_INTERVAL_MS;
    this.followers = new Followers(this.chat, { logger: this.logger, minIntervalMs: this.viewIntervalMs });
    this.client = new Client({
      // Guilds brings channels (their NSFW flag) and roles; no privileged intent is needed.
      intents: [GatewayIntentBits.Guilds],
      partials: [Partials.Channel],
      rest: { api: this.config.apiUrl },
    });
  }

  /** Connects, registers the commands when they changed, and starts answering. */
  async start(): Promise<void> {
    // Subscribe before the queue's recovery runs; views that come before the gateway is up wait.
    this.stopRecovered = this.chat.onRecovered((view) => this.onRecovered(view));
    this.stopReleased = this.chat.onReleased((released) => void this.onReleased(released));
    // Buttons on results whose images the bot no longer keeps fetch them back from the message.
    this.stopPostedImages = this.chat.addPostedImageSource(
      discordPostedImages(this.client.rest, this.logger),
    );
    this.client.on(Events.InteractionCreate, (interaction) => void this.onInteraction(interaction));
    this.client.on(Events.Error, (error) => this.logger.error({ err: error }, "discord client error"));
    this.client.on(Events.ShardDisconnect, (event) =>
      this.logger.warn({ code: event.code }, "discord gateway closed"),
    );
    this.client.on(Events.ShardResume, () => this.logger.info("discord gateway resumed"));
    const ready = new Promise<void>((resolve) => this.client.once(Events.ClientReady, () => resolve()));
    await this.client.login(this.config.token);
    await ready;
    this.applicationId = this.config.applicationId ?? this.client.application?.id;
    if (!this.applicationId) throw new Error("Discord did not say which application this bot is");
    await registerCommands(
      this.client.rest,
      { applicationId: this.applicationId, guildId: this.config.guildId },
      commandDefinitions(this.context.config),
      this.logger,
    );
    this.logger.info({ user: this.client.user?.tag, applicationId: this.applicationId }, "discord bot ready");
    for (const view of this.readyViews.splice(0)) this.onRecovered(view);
  }

  /** Stops answering, lets edits in flight finish (briefly), and closes the gateway. */
  async stop(): Promise<void> {
    this.stopping = true;
    this.stopRecovered?.();
    this.stopReleased?.();
    this.stopPostedImages?.();
    // Edits in flight and waiting views go out (briefly); the jobs stay in the queue.
    await this.followers.stop(5000);
    await this.client.destroy();
  }

  // ── Interactions ─────────────────────────────────────────────────────────────────────────────

  private async onInteraction(interaction: Interaction): Promise<void> {
    // A repeat delivery (a gateway resume) carries the same interaction id: answered once.
    if (this.stopping || !this.seen.firstTime(interaction.id)) return;
    try {
      if (interaction.isChatInputCommand()) {
        if (interaction.commandName === HELP_COMMAND) {
          await this.callback(interaction, textMessage(this.chat.help(), MessageFlags.Ephemeral));
        } else if (interaction.commandName === IMAGINE_COMMAND) {
          await this.answer(interaction, () => this.imagine(interaction));
        } else if (interaction.commandName === ADMIN_COMMAND) {
          // Answered privately in any channel: the bot's channel permissions do not matter.
          await this.answer(interaction, () => this.admin(interaction), { anyChannel: true });
        }
      } else if (interaction.isAutocomplete() && interaction.commandName === IMAGINE_COMMAND) {
        const focused = interaction.options.getFocused(true);
        const choices = autocompleteChoices(this.fullConfig, focused.name, String(focused.value));
        await this.client.rest.post(Routes.interactionCallback(interaction.id, interaction.token), {
          body: { type: InteractionResponseType.ApplicationCommandAutocompleteResult, data: { choices } },
          auth: false,
        });
      } else if (interaction.isButton() && isEaselButtonId(interaction.customId)) {
        const kind = this.chat.actionOf(interaction.customId)?.kind;
        await this.answer(
          interaction,
          () => this.chat.press(interaction.customId, whoOf(interaction), whereOf(interaction)),
          // Cancel and delete post nothing new: they work where the bot may no longer post.
          { anyChannel: kind === "cancel" || kind === "delete" },
        );
      }
    } catch (error) {
      this.logger.error(
        { interaction: interaction.id, ...describeError(error) },
        "discord interaction failed",
      );
    }
  }

  private async imagine(interaction: ChatInputCommandInteraction): Promise<ChatReply> {
    const options: Record<string, string | number | boolean> = {};
    for (const option of interaction.options.data) {
      if (option.name === "prompt" || option.name === IMAGE_OPTION || option.value === undefined) continue;
      options[option.name] = option.value;
    }
    const input: ImagineInput = { text: interaction.options.getString("prompt") ?? "", options };
    const attachment = interaction.options.getAttachment(IMAGE_OPTION);
    if (attachment) {
      // Refuse what Discord already says is wrong before downloading it; the service checks the bytes.
      if (attachment.contentType && !attachment.contentType.startsWith("image/")) {
        return { kind: "refusal", code: "invalid_input", text: chatTexts.uploadNotAnImage() };
      }
      if (attachment.size > MAX_UPLOAD_BYTES) {
        return {
          kind: "refusal",
          code: "invalid_input",
          text: chatTexts.uploadTooLarge(MAX_UPLOAD_BYTES / MEGABYTE),
        };
      }
      try {
        input.image = { data: await downloadBytes(attachment.url), name: attachment.name };
      } catch (error) {
        this.logger.warn({ ...describeError(error) }, "discord attachment download failed");
        return { kind: "refusal", code: "invalid_input", text: discordTexts.attachmentUnreadable() };
      }
    }
    return this.chat.imagine(input, whoOf(interaction), whereOf(interaction));
  }

  /** `/easel <subcommand>`: its options by name, as text, for the chat service to judge. */
  private admin(interaction: ChatInputCommandInteraction): Promise<ChatReply> {
    const subcommand = interaction.options.getSubcommand(false) ?? "help";
    const args: Record<string, string> = {};
    const given = interaction.options.data.find((option) => option.name === subcommand)?.options ?? [];
    for (const option of given) {
      if (option.value !== undefined && option.value !== null) args[option.name] = String(option.value);
    }
    if (args["user"] !== undefined) args["user"] = discordUserArgument(args["user"]);
    return this.chat.admin(subcommand, args, whoOf(interaction), whereOf(interaction));
  }

  /** A deleted result's message goes, or shows the deleted view (src/bots/remove-result.ts). */
  private async removeResult(interaction: Answerable, view: JobView): Promise<void> {
    if (!interaction.isButton()) return;
    const route = Routes.channelMessage(interaction.message.channelId, interaction.message.id);
    await removeDeletedResult(
      {
        remove: async () => {
          await this.client.rest.delete(route);
        },
        replace: async (deleted) => {
          await this.client.rest.patch(route, {
            body: { content: deleted.text, attachments: [], components: [], allowed_mentions: { parse: [] } },
          });
        },
      },
      view,
      this.logger,
    );
  }

  /**
   * Runs `work` (the service call) and gives Discord its first answer: the outcome when it comes in
   * time, otherwise a private deferral followed by the outcome.
   */
  private async answer(
    interaction: Answerable,
    work: () => Promise<ChatReply>,
    { anyChannel = false }: { anyChannel?: boolean } = {},
  ): Promise<void> {
    const missing = anyChannel ? [] : missingPermissions(interaction.appPermissions);
    if (missing.length > 0) {
      this.logger.warn(
        { guild: interaction.guildId, channel: interaction.channelId, missing },
        "discord: missing permissions in a channel; nothing queued",
      );
      await this.callback(
        interaction,
        textMessage(discordTexts.missingPermissions(missing), MessageFlags.Ephemeral),
      );
      return;
    }
    const outcome = work().then(
      (reply) => ({ reply }),
      (error: unknown) => ({ error }),
    );
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<"late">((resolve) => {
      timer = setTimeout(() => resolve("late"), this.answerWithinMs);
    });
    const first = await Promise.race([outcome, late]);
    clearTimeout(timer);
    if (first === "late") {
      await this.callback(interaction, undefined);
      const result = await outcome;
      const note =
        "error" in result
          ? chatTexts.internalError()
          : result.reply.kind === "job"
            ? discordTexts.postedInChannel()
            : result.reply.text;
      if ("error" in result)
        this.logger.error({ ...describeError(result.error) }, "discord: the chat service failed");
      // The deferral was private: a "show" answer's edit shows the original to the asker alone.
      const original = "reply" in result && result.reply.kind === "info" ? result.reply.original : undefined;
      await this.client.rest.patch(
        Routes.webhookMessage(this.applicationId!, interaction.token, "@original"),
        request(
          original
            ? await imageMessage(note, original, this.limitOf(interaction), undefined)
            : textMessage(note),
          false,
        ),
      );
      if (original) return;
      if ("reply" in result && result.reply.kind === "job")
        this.follow(interaction, result.reply.view, undefined);
      if ("reply" in result && result.reply.kind === "info" && result.reply.deleted)
        await this.removeResult(interaction, result.reply.deleted);
      return;
    }
    if ("error" in first) {
      this.logger.error({ ...describeError(first.error) }, "discord: the chat service failed");
      await this.callback(interaction, textMessage(chatTexts.internalError(), MessageFlags.Ephemeral));
      return;
    }
    if (first.reply.kind !== "job") {
      // The answer first (Discord's 3 s), then a deleted result's message goes (its images already did).
      const deleted = first.reply.kind === "info" ? first.reply.deleted : undefined;
      const original = first.reply.kind === "info" ? first.reply.original : undefined;
      try {
        await this.callback(
          interaction,
          original
            ? await imageMessage(first.reply.text, original, this.limitOf(interaction))
            : textMessage(first.reply.text, MessageFlags.Ephemeral),
        );
      } finally {
        if (deleted) await this.removeResult(interaction, deleted);
      }
      return;
    }
    const view = first.reply.view;
    const limit = this.limitOf(interaction);
    let target: MessageTarget | undefined;
    try {
      await this.callback(
        interaction,
        await renderView(view, {
          image: (id) => this.chat.image(id),
          blurredImage: (id) => this.chat.blurredImage(id),
          attachmentSizeLimit: limit,
        }),
      );
      target = { kind: "interaction", token: interaction.token, createdAt: interaction.createdTimestamp };
    } catch (error) {
      // The job is queued: show it in the channel rather than lose it.
      this.logger.warn(
        { jobId: view.jobId, ...describeError(error) },
        "discord: first answer failed; posting in the channel",
      );
    }
    this.follow(interaction, view, target);
  }

  private limitOf(interaction: Answerable): number {
    return interaction.attachmentSizeLimit ?? DEFAULT_ATTACHMENT_LIMIT;
  }

  /** Answers an interaction: a message (type 4), or a private deferral (type 5, ephemeral). */
  private async callback(interaction: Answerable, draft: MessageDraft | undefined): Promise<void> {
    const body = draft
      ? { type: InteractionResponseType.ChannelMessageWithSource, data: draft.body }
      : {
          type: InteractionResponseType.DeferredChannelMessageWithSource,
          data: { flags: MessageFlags.Ephemeral },
        };
    await this.client.rest.post(Routes.interactionCallback(interaction.id, interaction.token), {
      body,
      ...(draft && draft.files.length > 0 ? { files: draft.files } : {}),
      auth: false,
    });
  }

  /** Keeps the job's message (the reply, or a channel message) in step with its views. */
  private follow(interaction: Answerable, view: JobView, target: MessageTarget | undefined): void {
    const shown = target ? view : undefined;
    this.watch(
      view,
      interaction.channelId!,
      interaction.attachmentSizeLimit ?? DEFAULT_ATTACHMENT_LIMIT,
      target,
      shown,
    );
  }

  private watch(
    view: JobView,
    channelId: string,
    attachmentSizeLimit: number,
    target: MessageTarget | undefined,
    shown: JobView | undefined,
  ): void {
    if (this.stopping) return;
    const message = new JobMessage(
      {
        rest: this.client.rest,
        chat: this.chat,
        logger: this.logger,
        applicationId: this.applicationId!,
        tokenLifetimeMs: this.tokenLifetimeMs,
      },
      view.jobId,
      channelId,
      discordUserId(view.requester.userId),
      attachmentSizeLimit,
      target,
    );
    void this.followers.follow(view, message, shown);
  }

  // ── Moderation ───────────────────────────────────────────────────────────────────────────────

  /** A withheld image an admin released: posted in its result's channel, naming the requester. */
  private async onReleased({ view, image }: ReleasedImage): Promise<void> {
    const { platform, channelId } = view.requester;
    if (platform !== "discord" || !channelId || this.stopping) return;
    try {
      const bytes = await this.chat.image(image.id);
      if (!bytes) return;
      const user = discordUserId(view.requester.userId);
      const text = `${user ? `<@${user}> ` : ""}${moderationTexts.releasedPost(image.index + 1)}`;
      const draft = await imageMessage(text, { image, bytes }, DEFAULT_ATTACHMENT_LIMIT, undefined);
      draft.body.allowed_mentions = user ? { parse: [], users: [user] } : { parse: [] };
      await this.client.rest.post(Routes.channelMessages(channelId), request(draft, true));
    } catch (error) {
      this.logger.warn(
        { jobId: view.jobId, ...describeError(error) },
        "discord: could not post a released image",
      );
    }
  }

  // ── After a restart ──────────────────────────────────────────────────────────────────────────

  /** A job from before a restart: its old reply can't be edited, so it gets a new channel message. */
  private onRecovered(view: JobView): void {
    const { platform, channelId } = view.requester;
    if (platform !== "discord" || !channelId || this.stopping) return;
    if (!this.applicationId) {
      this.readyViews.push(view);
      return;
    }
    this.logger.info(
      { jobId: view.jobId, state: view.state },
      "discord: posting a recovered job in its channel",
    );
    this.watch(view, channelId, DEFAULT_ATTACHMENT_LIMIT, undefined, undefined);
  }
}
