/**
 * The few sentences that exist only because of Slack's transport. Everything about the job itself
 * comes from the chat service.
 */
export const slackTexts = {
  /** A "show" answer: Slack's private messages carry no files, so the image went to a DM. */
  sentByDirectMessage: (imageNumber: number): string =>
    `I sent you image ${imageNumber} in a direct message: only you can see it there.`,
  couldNotSendPrivately: (): string =>
    "I couldn't send you the image in a direct message. Please ask an admin to check the app's permissions.",
};
