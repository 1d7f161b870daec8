/**
 * `/easel` as Slack delivers it: one line of text. Its grammar (words, a mention for a user, the
 * reason taking the rest) is Slack's business; the chat service gets the subcommand and its
 * arguments by name, with users as platform-qualified ids.
 */
import { adminCommand } from "../../commands/admin.js";
import { userId } from "../../requests/request.js";

/**
 * `queue`, `ban <@U2> spamming` → the subcommand and its arguments by name, in the definition's
 * order; the last `rest` argument takes the remaining words. An empty text is `help`.
 */
export function parseAdminText(text: string): { subcommand: string; args: Record<string, string> } {
  const words = text
    .trim()
    .split(/\s+/)
    .filter((word) => word.length > 0);
  const subcommand = (words.shift() ?? "help").toLowerCase();
  const definition = adminCommand.subcommands.find((each) => each.name === subcommand);
  const args: Record<string, string> = {};
  for (const argument of definition?.args ?? []) {
    if (words.length === 0) break;
    args[argument.name] = argument.kind === "rest" ? words.splice(0).join(" ") : words.shift()!;
  }
  return { subcommand, args };
}

/**
 * A user as typed in `/easel ban …` in a Slack team: a mention (`<@U2>`, `<@U2|name>`, as Slack
 * escapes one) or a bare member id becomes `slack:<team>:<user>`; anything else is passed on as
 * given (a qualified id of any platform, or something the service will refuse).
 */
export function slackUserArgument(text: string, teamId: string): string {
  const value = text.trim();
  const bare =
    /^<@([A-Z0-9]+)(?:\|[^>]*)?>$/.exec(value)?.[1] ?? (/^[UW][A-Z0-9]+$/.test(value) ? value : undefined);
  return bare && teamId ? userId("slack", teamId, bare) : value;
}
