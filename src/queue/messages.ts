/** The sentences the queue itself can say to a user (refusals, failures it detects). */

const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? "" : "s"}`;

function minutes(ms: number): string {
  if (ms < 60_000) return plural(Math.max(1, Math.round(ms / 1000)), "second");
  return plural(Math.round(ms / 60_000), "minute");
}

export const queueMessages = {
  userLimit: (limit: number): string =>
    `You already have ${plural(limit, "image job")} queued or running, which is the limit. Please wait for one to finish (or cancel one) and try again.`,
  unknownModel: (name: string, offered?: readonly string[]): string =>
    `The model "${name.slice(0, 64)}" isn't offered here${offered && offered.length > 0 ? `; the models are ${offered.join(", ")}` : ""}.`,
  unknownLora: (name: string): string => `The LoRA "${name.slice(0, 64)}" isn't offered here any more.`,
  noDeviceForModel: (name: string): string =>
    `No image worker can run the model "${name.slice(0, 64)}" right now. Please pick another model or try again later.`,
  totalLimit: (): string => "The queue is full right now. Please try again in a few minutes.",
  stopping: (): string => "The bot is restarting and isn't taking new jobs. Please try again in a minute.",
  jobNotFound: (): string => "That job isn't known to the bot any more. Please run /imagine again.",
  sourceImageGone: (imageNumber: number): string =>
    `Image ${imageNumber} of that job is no longer stored on the bot. Please run /imagine again.`,
  uploadGone: (): string =>
    "The picture you uploaded is no longer stored on the bot. Please upload it again.",
  maskGone: (): string =>
    "The mask of this repaint is no longer stored on the bot. Please draw the region again.",
  sourceJobNotFinished: (): string => "That job hasn't finished yet, so its images can't be reused.",
  alreadyFinished: (): string => "That job has already finished, so there is nothing to cancel.",
  notYourJob: (): string => "Only the person who started this job can cancel it.",
  timedOut: (limitMs: number): string =>
    `This one took longer than ${minutes(limitMs)} and was stopped. Try fewer steps or a smaller size.`,
  workerCrashed: (): string =>
    "The image worker stopped unexpectedly while making this one. Please try again.",
  deviceError: (): string => "The image generator ran into an error while making this one. Please try again.",
  outOfMemory: (): string =>
    "The image generator ran out of memory while making this one. Try a smaller size or fewer images at once.",
  interrupted: (): string =>
    "The bot restarted before this one could finish, and it couldn't be resumed. Please try again.",
  commandLineEnded: (): string =>
    "The easel imagine run that started this one ended before it finished (killed or crashed). Please run it again.",
  storageFailed: (): string =>
    "The bot couldn't save this (its storage is full or not writable). Its owner can see why in the logs; please try again later.",
  interruptedTooOften: (): string =>
    "This one was interrupted by a restart several times, so the bot gave up on it. Please try again with other settings.",
};
