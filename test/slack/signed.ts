/**
 * What Slack sends an HTTP-mode app, signed the way Slack signs it: `v0=` + HMAC-SHA256 of
 * `v0:<X-Slack-Request-Timestamp>:<raw body>` with the signing secret. Payload builders give the
 * form bodies of a slash command and of a `block_actions` press, with the fields Bolt reads.
 */
import { createHmac, randomUUID } from "node:crypto";

export function slackSignature(secret: string, timestampSeconds: number, body: string): string {
  return `v0=${createHmac("sha256", secret).update(`v0:${timestampSeconds}:${body}`).digest("hex")}`;
}

export interface SignedPostOptions {
  secret: string;
  /** Seconds since the epoch; default now. */
  timestamp?: number;
  /** Replace the computed signature (to send a bad one). */
  signature?: string;
}

export interface PostResult {
  status: number;
  body: string;
  /** Milliseconds from sending to the full answer (Bolt answers once ack() is called). */
  ms: number;
}

/** POSTs a form body to Bolt's endpoint with Slack's signature headers. */
export async function postSigned(url: string, body: string, options: SignedPostOptions): Promise<PostResult> {
  const timestamp = options.timestamp ?? Math.floor(Date.now() / 1000);
  const started = performance.now();
  const response = await fetch(url, {
    method: "POST",
    headers: {
      "content-type": "application/x-www-form-urlencoded",
      "x-slack-request-timestamp": String(timestamp),
      "x-slack-signature": options.signature ?? slackSignature(options.secret, timestamp, body),
    },
    body,
  });
  const text = await response.text();
  return { status: response.status, body: text, ms: performance.now() - started };
}

export interface SlashCommandFields {
  text: string;
  teamId: string;
  channelId: string;
  userId: string;
  userName?: string;
  responseUrl: string;
  command?: string;
}

/** A slash command's fields, as Slack sends them (form fields; Socket Mode: the same as JSON). */
export function slashCommandPayload(fields: SlashCommandFields): Record<string, string> {
  return {
    token: "deprecated-verification-token",
    team_id: fields.teamId,
    team_domain: "fake",
    channel_id: fields.channelId,
    channel_name: "general",
    user_id: fields.userId,
    user_name: fields.userName ?? "ada",
    command: fields.command ?? "/imagine",
    text: fields.text,
    api_app_id: "A0FAKE",
    is_enterprise_install: "false",
    response_url: fields.responseUrl,
    trigger_id: `${Date.now()}.${randomUUID()}`,
  };
}

export function formBody(fields: Record<string, string>): string {
  return new URLSearchParams(fields).toString();
}

export interface ButtonPressFields {
  teamId: string;
  channelId: string;
  userId: string;
  userName?: string;
  /** The button's value (our button id) and action_id. */
  value: string;
  actionId?: string;
  messageTs: string;
  responseUrl: string;
}

/** A `block_actions` payload for one button press. */
export function blockActionsPayload(fields: ButtonPressFields): Record<string, unknown> {
  return {
    type: "block_actions",
    team: { id: fields.teamId, domain: "fake" },
    user: {
      id: fields.userId,
      username: fields.userName ?? "ada",
      name: fields.userName ?? "ada",
      team_id: fields.teamId,
    },
    api_app_id: "A0FAKE",
    token: "deprecated-verification-token",
    container: {
      type: "message",
      message_ts: fields.messageTs,
      channel_id: fields.channelId,
      is_ephemeral: false,
    },
    trigger_id: `${Date.now()}.${randomUUID()}`,
    channel: { id: fields.channelId, name: "general" },
    message: { type: "message", ts: fields.messageTs, text: "" },
    response_url: fields.responseUrl,
    actions: [
      {
        type: "button",
        action_id: fields.actionId ?? fields.value,
        block_id: "buttons",
        text: { type: "plain_text", text: "button" },
        value: fields.value,
        action_ts: `${Date.now() / 1000}`,
      },
    ],
  };
}

/** Interactivity payloads arrive as one form field, `payload`, holding JSON. */
export function interactiveBody(payload: Record<string, unknown>): string {
  return formBody({ payload: JSON.stringify(payload) });
}
