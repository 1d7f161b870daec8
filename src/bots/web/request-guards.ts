/**
 * Who may use the chat page and the API: the Host check against DNS rebinding on a loopback
 * address, the cross-site check for requests that change something, and the token check.
 */
import type { IncomingHttpHeaders } from "node:http";
import { isLoopbackHost } from "../../config.js";
import { parseCookies, SESSION_COOKIE, sameSecret, sessionValue } from "./cookies.js";

/** Host names a loopback server may be addressed by. */
export function isLoopbackName(name: string): boolean {
  return isLoopbackHost(name);
}

/**
 * Whether a Host header names this loopback server: a loopback name and our port. A page on
 * another site whose name was rebound to 127.0.0.1 sends its own name, and is refused.
 */
export function hostIsOurs(hostHeader: string | undefined, port: number): boolean {
  if (!hostHeader) return false;
  const match = /^(\[[0-9a-fA-F:.]+\]|[^:[\]]+)(?::(\d{1,5}))?$/.exec(hostHeader.trim());
  if (!match) return false;
  const [, name, portText] = match;
  if (!isLoopbackName(name!)) return false;
  const given = portText === undefined ? 80 : Number(portText);
  return given === port;
}

/**
 * Whether a request comes from another site: its Origin names another host, or the browser says
 * so (Sec-Fetch-Site). Requests without either (curl, scripts) are not cross-site.
 */
export function isCrossSite(headers: IncomingHttpHeaders): boolean {
  const site = headers["sec-fetch-site"];
  if (site === "cross-site" || site === "same-site") return true;
  const origin = headers.origin;
  if (origin === undefined) return false;
  if (origin === "null") return true;
  try {
    return new URL(origin).host !== headers.host;
  } catch {
    return true;
  }
}

/** The Bearer token of an Authorization header, if any. */
export function bearerToken(header: string | undefined): string | undefined {
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header ?? "");
  return match?.[1];
}

/** Whether a request carries the configured token: as a Bearer token, or as the page's session cookie. */
export function isAuthorised(headers: IncomingHttpHeaders, token: string): boolean {
  const bearer = bearerToken(headers.authorization);
  if (bearer !== undefined) return sameSecret(bearer, token);
  const session = parseCookies(headers.cookie).get(SESSION_COOKIE);
  return session !== undefined && sameSecret(session, sessionValue(token));
}
