/**
 * The service's texts (plain text with `**bold**` and `code` spans) as Slack mrkdwn. Slack reads
 * `&`, `<` and `>` as markup (links, mentions, `<!channel>`), so every one a user typed is escaped,
 * inside code spans too; `**bold**` becomes Slack's `*bold*`; code spans stay as they are.
 */

/** Escapes the three characters Slack gives a meaning in any text it formats. */
export function escapeSlackText(text: string): string {
  return text.replaceAll("&", "&amp;").replaceAll("<", "&lt;").replaceAll(">", "&gt;");
}

const CODE_SPAN = /(`[^`\n]+`)/;
const BOLD = /\*\*(\S(?:[^*\n]*?\S)?)\*\*/g;

export function toMrkdwn(text: string): string {
  return text
    .split(CODE_SPAN)
    .map((part, index) =>
      index % 2 === 1 ? escapeSlackText(part) : escapeSlackText(part).replace(BOLD, "*$1*"),
    )
    .join("");
}

/** Cuts a text to at most `max` characters (Block Kit's limits count characters), marking the cut. */
export function clip(text: string, max: number): string {
  const chars = Array.from(text);
  return chars.length <= max ? text : `${chars.slice(0, max - 1).join("")}…`;
}
