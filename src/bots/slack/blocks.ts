/**
 * A job's view as a Slack message: the text as an mrkdwn section (and the message's fallback
 * text, which notifications show), a progress bar while it runs, and the view's buttons as
 * actions blocks, one per row. The button's `value` and `action_id` are the service's button id,
 * so a press decodes the same way after a restart.
 */
import type { types } from "@slack/bolt";
import type { ButtonSpec } from "../../commands/buttons.js";
import type { JobView } from "../../commands/chat.js";
import { toMrkdwn } from "./mrkdwn.js";

/** Block Kit's limits (docs.slack.dev, reference/block-kit). */
export const SLACK_LIMITS = {
  sectionText: 3000,
  buttonText: 75,
  actionId: 255,
  buttonValue: 2000,
  elementsPerActions: 25,
  blocksPerMessage: 50,
} as const;

export interface SlackMessage {
  /** Fallback text (notifications, screen readers), mrkdwn. */
  text: string;
  blocks: types.KnownBlock[];
}

/** The service's text as mrkdwn of at most `max` characters, cut before conversion so no escape is split. */
export function mrkdwnWithin(text: string, max: number): string {
  const whole = toMrkdwn(text);
  if (whole.length <= max) return whole;
  // The longest prefix whose conversion (with the cut mark) fits: escapes make lengths uneven.
  const chars = Array.from(text);
  let fits = 0;
  let over = chars.length;
  while (over - fits > 1) {
    const middle = (fits + over) >>> 1;
    if (toMrkdwn(`${chars.slice(0, middle).join("")}…`).length <= max) fits = middle;
    else over = middle;
  }
  return toMrkdwn(`${chars.slice(0, fits).join("")}…`);
}

function plainWithin(text: string, max: number): string {
  const chars = Array.from(text);
  return chars.length <= max ? text : `${chars.slice(0, max - 1).join("")}…`;
}

export function slackButton(spec: ButtonSpec): types.Button | undefined {
  // Ids are at most 100 characters by design; anything longer would be refused by Slack.
  if (spec.id.length > SLACK_LIMITS.actionId || spec.id.length > SLACK_LIMITS.buttonValue) return undefined;
  const button: types.Button = {
    type: "button",
    text: { type: "plain_text", text: plainWithin(spec.label, SLACK_LIMITS.buttonText), emoji: true },
    action_id: spec.id,
    value: spec.id,
  };
  // Slack has no "secondary" style: a button without a style is the neutral one.
  if (spec.style !== "secondary") button.style = spec.style;
  return button;
}

export function buttonBlocks(rows: readonly ButtonSpec[][]): types.ActionsBlock[] {
  const blocks: types.ActionsBlock[] = [];
  rows.forEach((row, index) => {
    const elements = row
      .map(slackButton)
      .filter((button): button is types.Button => button !== undefined)
      .slice(0, SLACK_LIMITS.elementsPerActions);
    if (elements.length > 0) blocks.push({ type: "actions", block_id: `easel-row-${index}`, elements });
  });
  return blocks;
}

/** "▰▰▰▱▱▱▱▱▱▱": a text bar, since Block Kit has no progress element. */
export function progressBar(step: number, total: number, width = 20): string {
  const filled = total > 0 ? Math.min(width, Math.max(0, Math.round((width * step) / total))) : 0;
  return `${"▰".repeat(filled)}${"▱".repeat(width - filled)}`;
}

/** A plain mrkdwn message (private answers, notices). */
export function textMessage(text: string): SlackMessage {
  const mrkdwn = mrkdwnWithin(text, SLACK_LIMITS.sectionText);
  return { text: mrkdwn, blocks: [{ type: "section", text: { type: "mrkdwn", text: mrkdwn } }] };
}

/** A job's status message (queued, running, failed, cancelled) or its result's caption with buttons. */
export function jobMessage(view: JobView): SlackMessage {
  const message = textMessage(view.text);
  if (view.state === "running" && view.step !== undefined && view.total !== undefined) {
    message.blocks.push({
      type: "context",
      elements: [
        { type: "mrkdwn", text: `${progressBar(view.step, view.total)}  ${view.step}/${view.total}` },
      ],
    });
  }
  message.blocks.push(
    ...buttonBlocks(view.buttons).slice(0, SLACK_LIMITS.blocksPerMessage - message.blocks.length),
  );
  return message;
}
