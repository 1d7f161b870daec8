/**
 * Slack's refusals, named: the error code of a failed Web API call (or a response_url post), the
 * line the operator reads in the logs, and the sentence the user reads. Rate limits never reach
 * here as long as WebClient's retries last: it waits Retry-After and calls again.
 */
import { webApi } from "@slack/bolt";

/** `not_in_channel`, `missing_scope`, `ratelimited`, `http_500`, `request_error`, ... */
export function slackErrorCode(error: unknown): string {
  if (typeof error !== "object" || error === null) return "unknown";
  const coded = error as { code?: string; data?: { error?: string }; statusCode?: number; message?: string };
  switch (coded.code) {
    case webApi.ErrorCode.PlatformError:
      return coded.data?.error ?? "platform_error";
    case webApi.ErrorCode.RateLimitedError:
      return "ratelimited";
    case webApi.ErrorCode.HTTPError:
      return `http_${coded.statusCode ?? "error"}`;
    case webApi.ErrorCode.RequestError:
      return "request_error";
  }
  // Bolt's respond() posts with axios: an expired response_url answers 404 "expired_url".
  const response = (error as { response?: { status?: number; data?: unknown } }).response;
  if (response?.status !== undefined) {
    return typeof response.data === "string" && /^[a-z_]+$/.test(response.data)
      ? response.data
      : `http_${response.status}`;
  }
  return coded.message?.includes("rate limit") ? "ratelimited" : "unknown";
}

/** The scope a `missing_scope` error names, when Slack says. */
export function neededScope(error: unknown): string | undefined {
  const data = (error as { data?: { needed?: string } } | null)?.data;
  return typeof data?.needed === "string" ? data.needed : undefined;
}

/** What the operator should do about a code, for the log line. */
export function operatorHint(code: string, scope?: string): string {
  switch (code) {
    case "not_in_channel":
      return "the app is not a member of the channel: invite it (/invite @<app>)";
    case "channel_not_found":
      return "the channel is private, a DM or gone, and the app cannot see it: add the app to it";
    case "missing_scope":
      return `the app lacks the scope ${scope ?? "named by Slack"}: add it in slack-manifest.yml / the app settings and reinstall`;
    case "invalid_auth":
    case "not_authed":
    case "token_revoked":
    case "account_inactive":
      return "SLACK_BOT_TOKEN is not valid for this workspace";
    case "expired_url":
      return "the response_url expired (30 minutes or 5 uses)";
    case "ratelimited":
      return "Slack kept answering 429 past the retries";
    default:
      return "see Slack's error code";
  }
}

/** What the user reads when the bot cannot post in their channel. */
export function cannotPostText(code: string): string {
  switch (code) {
    case "not_in_channel":
      return "I'm not a member of this channel, so I can't post images here. Add me with `/invite @easel` and try again.";
    case "channel_not_found":
      return "I can't post in this conversation (a private channel or a DM I'm not part of). Add me to a channel and try there.";
    case "missing_scope":
      return "This Slack app is missing a permission it needs; the workspace admin has to reinstall it.";
    default:
      return "Slack didn't let me post in this channel right now. Please try again in a moment.";
  }
}

/** What the channel reads when finished images could not be uploaded. */
export function cannotUploadText(code: string): string {
  return code === "missing_scope"
    ? "The images are done, but this Slack app may not upload files (a missing permission). The workspace admin has to reinstall it."
    : "The images are done, but Slack didn't accept the upload. Press Re-roll or run /imagine again.";
}
