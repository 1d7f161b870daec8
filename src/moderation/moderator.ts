/**
 * Output moderation as the job book runs it: each finished image is classified (in the
 * classifier's own thread) and decided once, before it is stored and before `done` goes out, so no
 * adapter can post an image that was not looked at. Made only when EASEL_MODERATION is not off.
 */
import { type Logger, silentLogger } from "../logger.js";
import type { ImageModeration } from "../requests/jobs.js";
import type { Requester } from "../requests/request.js";
import { ImageClassifier } from "./classifier.js";
import { decideModeration } from "./decision.js";
import type { ClassifierInfo } from "./protocol.js";
import type { ModerationConfig } from "./settings.js";

export class Moderator {
  constructor(
    readonly config: ModerationConfig,
    private readonly classifier: ImageClassifier,
  ) {}

  /** Loads the classifier; rejects with a ClassifierLoadError (the operator's reason) when it cannot. */
  start(): Promise<ClassifierInfo> {
    return this.classifier.start();
  }

  /** Classifies an encoded image and decides what is done with it; rejects with a ClassificationError. */
  async moderate(image: Uint8Array, requester: Pick<Requester, "nsfwChannel">): Promise<ImageModeration> {
    return decideModeration(await this.classifier.classify(image), this.config, requester);
  }

  stop(): Promise<void> {
    return this.classifier.stop();
  }
}

/** The moderator the settings ask for; undefined when moderation is off (nothing is loaded then). */
export function moderatorFor(
  config: ModerationConfig,
  options: { logger?: Logger; timeoutMs?: number } = {},
): Moderator | undefined {
  if (config.mode === "off") return undefined;
  const logger = options.logger ?? silentLogger;
  return new Moderator(
    config,
    new ImageClassifier({
      model: config.model,
      logger,
      ...(options.timeoutMs !== undefined ? { timeoutMs: options.timeoutMs } : {}),
    }),
  );
}
