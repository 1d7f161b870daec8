/**
 * One job's life in a Slack channel: a status message posted when the job is accepted, edited as
 * the job waits and runs (at most one edit per interval: the shared follow loop coalesces, the
 * newest view wins), then the finished images uploaded into the channel with Slack's external upload flow, a
 * message with the caption and the result buttons under them, and the status message removed.
 * Every job is followed once per process, so nothing is posted twice; a job whose first message
 * cannot be posted is cancelled (its asker is told why), so no image is made for nobody.
 */
import type { webApi } from "@slack/bolt";
import type { Logger } from "pino";
import type { ChatService, JobView } from "../../commands/chat.js";
import { Followers, type JobSink } from "../follow.js";
import { jobMessage, type SlackMessage, textMessage, withFileIds } from "./blocks.js";
import { type SlackImageFile, slackImageFile } from "./image-files.js";
import { postedPlace } from "./posted-images.js";
import {
  cannotPostText,
  cannotUploadText,
  neededScope,
  operatorHint,
  slackErrorCode,
} from "./slack-errors.js";

/** Progress edits: Slack allows about one chat.update per second per channel; every 2 s leaves room. */
export const PROGRESS_INTERVAL_MS = 2000;

/** Where a job's messages go, in Slack's terms. */
export interface SlackPlace {
  teamId: string;
  channelId: string;
  /** The asker's Slack user id (for the mention on the images). */
  userId: string;
}

/** Sends the asker a private answer, best effort (it logs what fails). */
export type TellPrivately = (text: string) => Promise<void>;

export interface JobMessagesOptions {
  client: webApi.WebClient;
  chat: ChatService;
  logger: Logger;
  progressIntervalMs?: number;
}

/** The followed jobs of one Slack app, through the shared follow loop (src/bots/follow.ts). */
export class SlackJobMessages {
  private readonly followers: Followers;

  constructor(private readonly options: JobMessagesOptions) {
    this.followers = new Followers(options.chat, {
      logger: options.logger,
      minIntervalMs: options.progressIntervalMs ?? PROGRESS_INTERVAL_MS,
    });
  }

  /** Posts `view` in the place and follows the job to its end; resolves once the first message is up. */
  follow(view: JobView, place: SlackPlace, tell?: TellPrivately): Promise<void> {
    return this.followers.follow(view, new SlackJobSink(this.options, view.jobId, place, tell));
  }

  /** Resolves when every followed job has delivered its last message (for tests and shutdown). */
  idle(): Promise<void> {
    return this.followers.idle();
  }

  /** Stops following (jobs stay in the queue; after a restart they are recovered and posted anew). */
  stop(): Promise<void> {
    return this.followers.stop();
  }
}

/**
 * One job's messages in a Slack channel: the status message posted first and edited, then the
 * result (uploaded images, a caption with buttons) posted in its place.
 */
class SlackJobSink implements JobSink {
  private ts: string | undefined;
  private lastSent: string | undefined;
  private readonly log: Logger;

  constructor(
    private readonly options: JobMessagesOptions,
    private readonly jobId: string,
    private readonly place: SlackPlace,
    private readonly tell: TellPrivately | undefined,
  ) {
    this.log = options.logger.child({ jobId, channel: place.channelId });
  }

  /** The status message; a job that cannot be shown is cancelled and its asker told why. */
  async post(first: JobView): Promise<void> {
    const message = jobMessage(first);
    try {
      const posted = await this.options.client.chat.postMessage({
        channel: this.place.channelId,
        ...message,
      });
      this.ts = posted.ts;
      this.lastSent = JSON.stringify(message);
    } catch (error) {
      const code = slackErrorCode(error);
      this.log.warn(
        { code },
        `Slack refused chat.postMessage (${code}): ${operatorHint(code, neededScope(error))}; the job is cancelled`,
      );
      await this.cancel(first);
      await this.tell?.(`${cannotPostText(code)} Your request was cancelled.`);
      throw error;
    }
    if (first.final && first.state === "done") await this.deliverResult(first);
  }

  async edit(view: JobView): Promise<void> {
    if (view.final && view.state === "done") await this.deliverResult(view);
    else await this.update(jobMessage(view));
  }

  private async update(message: SlackMessage): Promise<void> {
    const key = JSON.stringify(message);
    if (this.ts === undefined || key === this.lastSent) return;
    try {
      await this.options.client.chat.update({ channel: this.place.channelId, ts: this.ts, ...message });
      this.lastSent = key;
    } catch (error) {
      const code = slackErrorCode(error);
      this.log.warn(
        { code },
        `Slack refused chat.update (${code}): ${operatorHint(code, neededScope(error))}`,
      );
    }
  }

  private async deliverResult(view: JobView): Promise<void> {
    const { client, chat } = this.options;
    const files: SlackImageFile[] = [];
    /** Per uploaded file: the image's index, and whether the file is the image itself (not a blurred copy). */
    const uploads: Array<{ index: number; original: boolean }> = [];
    for (const ref of view.images) {
      // Moderation: a withheld image is not posted. Slack has no spoilers: a spoilered or blurred
      // image is posted as its blurred copy, and its Show button sends the original privately.
      if (ref.display === "withheld") continue;
      const original = ref.display === "plain";
      const image = original ? await chat.image(ref.id) : await chat.blurredImage(ref.id);
      if (!image) continue;
      uploads.push({ index: ref.index, original });
      files.push(slackImageFile(ref, image, !original));
    }
    if (view.notice) await this.tellRequester(view.notice);
    if (files.length === 0) {
      if (view.images.every((image) => image.display === "withheld")) {
        // Nothing to post: the caption says the images were withheld; the job's buttons stay.
        await this.update(jobMessage(view));
        await this.recordPosted(this.ts, []);
        return;
      }
      this.log.error(
        { images: view.images.length },
        "a finished job's images are gone before they were posted",
      );
      await this.update(jobMessage({ ...view, buttons: [] }));
      return;
    }
    let fileIds: string[];
    try {
      // One getUploadURLExternal and one upload per file, one completeUploadExternal for all.
      // The mention notifies the asker; the caption and buttons follow in their own message,
      // since completeUploadExternal drops blocks when there is an initial comment.
      const uploaded = await client.filesUploadV2({
        channel_id: this.place.channelId,
        initial_comment: `<@${this.place.userId}>`,
        file_uploads: files,
      });
      fileIds = (uploaded.files ?? [])
        .flatMap((completed) => completed.files ?? [])
        .map((file) => file.id)
        .filter((id): id is string => typeof id === "string");
    } catch (error) {
      const code = slackErrorCode(error);
      this.log.warn(
        { code },
        `Slack refused the upload of a job's images (${code}): ${operatorHint(code, neededScope(error))}; they stay in the image store until the retention time`,
      );
      await this.update(textMessage(cannotUploadText(code)));
      return;
    }
    // The result names its files, so the delete button can remove them with it.
    const result = withFileIds(jobMessage(view), fileIds);
    let resultTs = this.ts;
    try {
      const posted = await client.chat.postMessage({ channel: this.place.channelId, ...result });
      resultTs = posted.ts;
    } catch (error) {
      // The images are up: keep the buttons by putting them in the status message instead.
      const code = slackErrorCode(error);
      this.log.warn(
        { code },
        `Slack refused the result message (${code}); the status message shows it instead`,
      );
      await this.update(result);
    }
    if (resultTs !== this.ts && this.ts !== undefined) {
      try {
        await client.chat.delete({ channel: this.place.channelId, ts: this.ts });
      } catch (error) {
        this.log.info({ code: slackErrorCode(error) }, "could not remove a finished job's status message");
        await this.update(textMessage(view.text));
      }
    }
    // With the files by image, so a button can fetch an image back once the bot's copy is gone;
    // a blurred copy is not the image, so it is not recorded.
    const uploaded = fileIds.length === uploads.length ? fileIds : [];
    await this.recordPosted(
      resultTs,
      uploaded
        .map((fileId, k) => ({ ...uploads[k]!, fileId }))
        .filter((each) => each.original)
        .map(({ index, fileId }) => ({ index, fileId })),
    );
  }

  private async recordPosted(
    ts: string | undefined,
    files: ReadonlyArray<{ index: number; fileId: string }>,
  ): Promise<void> {
    try {
      const where = { teamId: this.place.teamId, channelId: this.place.channelId, ts };
      await this.options.chat.posted(this.jobId, postedPlace(where, files));
    } catch (error) {
      this.log.error({ err: error }, "could not record where a job's images were posted");
    }
  }

  /** A note for the requester alone (images the content filter withheld): an ephemeral message. */
  private async tellRequester(text: string): Promise<void> {
    try {
      await this.options.client.chat.postEphemeral({
        channel: this.place.channelId,
        user: this.place.userId,
        ...textMessage(text),
      });
    } catch (error) {
      const code = slackErrorCode(error);
      this.log.warn(
        { code },
        `Slack refused chat.postEphemeral (${code}): ${operatorHint(code, neededScope(error))}; the requester was not told`,
      );
    }
  }

  /** Presses the view's cancel button on the asker's behalf (the job cannot be shown anywhere). */
  private async cancel(view: JobView): Promise<void> {
    const cancel = view.buttons.flat().find((button) => button.action.kind === "cancel");
    if (!cancel) return;
    const { requester } = view;
    const reply = await this.options.chat.pressAction(
      cancel.action,
      { userId: requester.userId },
      { platform: "slack", serverId: requester.serverId, channelId: requester.channelId },
    );
    if (reply.kind === "refusal") {
      this.log.warn({ code: reply.code, answer: reply.text }, "could not cancel a job that cannot be posted");
    }
  }
}
