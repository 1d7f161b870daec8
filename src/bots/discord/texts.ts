/**
 * The few sentences that exist only because of Discord's transport (permissions, upload limits,
 * the interaction token's life). Everything about the job itself comes from the chat service.
 */
export const discordTexts = {
  missingPermissions: (names: readonly string[]): string =>
    `I can't post results in this channel: I'm missing the ${names.join(", ")} permission${names.length === 1 ? "" : "s"}. ` +
    "Ask a server admin to grant them, or use me in another channel.",
  attachmentNotImage: (): string =>
    "The attached file isn't a picture. Attach a PNG, JPEG or WebP image to refine.",
  attachmentTooLarge: (maxMiB: number): string =>
    `The attached picture is too large; the limit is ${maxMiB} MiB.`,
  attachmentUnreadable: (): string => "I couldn't download the attached picture. Please try again.",
  /** A slow answer was moved out of the private "thinking" reply into the channel. */
  postedInChannel: (): string => "Your job is queued; its progress and result are posted in this channel.",
  /** Appended to a caption when images were re-encoded to fit Discord's upload limit. */
  reencoded: (formats: readonly string[]): string =>
    `_Sent as ${formats.join("/")} to fit Discord's upload limit; the PNG with its parameters is too large._`,
  /** The short follow-up that notifies the user (edits of a message notify no one). */
  resultReady: (mention: string): string => `${mention} your images are ready ↑`,
};
