/**
 * Bolt's HTTP receiver, which checks every request's signature and refuses a timestamp more than
 * five minutes old, made to refuse one more than five minutes ahead as well: Slack signs with the
 * time it sends, so a request from the future was signed for a later replay.
 */
import { type Logger as BoltLogger, HTTPReceiver } from "@slack/bolt";

/** How far a request's timestamp may be from now, either way (Bolt's window). */
export const MAX_REQUEST_AGE_SECONDS = 5 * 60;

export function signedRequestReceiver(
  signingSecret: string,
  logger: BoltLogger,
  now: () => number = Date.now,
): HTTPReceiver {
  const receiver = new HTTPReceiver({ signingSecret, logger });
  const verifying = receiver.requestListener;
  receiver.requestListener = (request, response) => {
    const stamp = Number(request.headers["x-slack-request-timestamp"]);
    if (Number.isFinite(stamp) && stamp > now() / 1000 + MAX_REQUEST_AGE_SECONDS) {
      logger.warn("A Slack request was refused: its timestamp is more than 5 minutes ahead");
      response.writeHead(401).end();
      return;
    }
    verifying(request, response);
  };
  return receiver;
}
