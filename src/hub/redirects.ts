/**
 * Redirects followed by hand (`redirect: "manual"`), for metadata and downloads alike: the token
 * is added per hop (the Hub's origin only), and a redirect that can only fail is refused at once
 * rather than retried: no Location, a scheme other than http(s) (`file:`, `data:`…), a step down
 * from https to http, or one hop too many.
 */
import { HubError } from "./errors.js";

const REDIRECT_STATUSES = new Set([301, 302, 303, 307, 308]);
export const MAX_REDIRECTS = 10;

/**
 * Where a redirect `response` to the request for `current` leads, or undefined when the response
 * is not a redirect. `hop` counts the redirects followed so far; `what` names the request in errors.
 */
export function nextRedirect(response: Response, current: URL, hop: number, what: string): URL | undefined {
  if (!REDIRECT_STATUSES.has(response.status)) return undefined;
  const location = response.headers.get("location");
  if (!location) throw new HubError("protocol", `The Hub redirected ${what} without a Location.`);
  let next: URL;
  try {
    next = new URL(location, current);
  } catch {
    throw new HubError(
      "protocol",
      `The Hub redirected ${what} to ${JSON.stringify(location)}, which is not a URL.`,
    );
  }
  if (next.protocol !== "http:" && next.protocol !== "https:") {
    throw new HubError(
      "protocol",
      `Refusing a redirect to a ${next.protocol} URL for ${what}: only http(s) is followed.`,
    );
  }
  if (current.protocol === "https:" && next.protocol !== "https:") {
    throw new HubError("protocol", `Refusing a redirect from https to ${next.protocol} for ${what}.`);
  }
  if (hop >= MAX_REDIRECTS) throw new HubError("protocol", `Too many redirects for ${what}.`);
  return next;
}
