/**
 * Who may use the chat page and the API: the Host check against DNS rebinding on a loopback
 * address, the cross-site check for requests that change something, and the token check.
 *
 * `refusalOf` decides on the request target exactly as the client sent it, before any router
 * decodes it: only plainly written paths outside `/api/` and the exact session call go without a
 * token, and a path that is not written plainly (percent-encoding, `//`, dot segments, `;`, `\`)
 * is refused after the guards. So no spelling of a path can reach a route the guards did not see
 * (`/%61pi/v1/jobs/…` is `/api/…` to the router), and a foreign Host or a missing token is
 * answered before any parser runs. Refusing rather than decoding: no route needs an encoded
 * character, and one reading of a path (ours) cannot disagree with another (the router's).
 */
import type { IncomingHttpHeaders } from "node:http";
import { isLoopbackHost } from "../../config.js";
import { parseCookies, SESSION_COOKIE, sameSecret, sessionValue } from "./cookies.js";
import { type ApiErrorCode, httpMessages } from "./http-errors.js";

/** Served to anyone, on any Host, without a token: probes and scrapers. */
const OPS_PATHS = new Set(["/healthz", "/metrics"]);
/** The one API call that goes without a token: the page trading the token for its session cookie. */
const SESSION_PATH = "/api/v1/session";

export interface GuardSettings {
  /** The chat page and the API are served; otherwise only /healthz and /metrics. */
  chat: boolean;
  /** The server listens on a loopback address, so the Host header must name it. */
  loopback: boolean;
  /** The port the server listens on. */
  port: number;
  token: string | undefined;
}

export interface GuardedRequest {
  method: string;
  /** The request target as received (path and query, still encoded). */
  url: string;
  headers: IncomingHttpHeaders;
}

/** Why a request is refused: an error code and message, and any headers the answer needs. */
export interface Refusal {
  code: ApiErrorCode;
  message: string;
  headers?: Record<string, string>;
}

/** The path of a request target, without its query. */
export function pathOf(url: string): string {
  const query = url.indexOf("?");
  return query === -1 ? url : url.slice(0, query);
}

/**
 * Whether a path is written plainly, so that every router reads it as written: `/`, or segments of
 * letters, digits and `._~-`, none empty, `.` or `..`, and no trailing slash.
 */
export function isPlainPath(path: string): boolean {
  return path === "/" || /^(?:\/(?!\.{1,2}(?:\/|$))[A-Za-z0-9._~-]+)+$/.test(path);
}

/**
 * Whether a request may go without the token: reading a plain path outside `/api/` (the page and
 * its files; a router reads a plain path as written), and the session call.
 */
function isTokenFree(method: string, path: string): boolean {
  if (method === "POST" && path === SESSION_PATH) return true;
  return (method === "GET" || method === "HEAD") && isPlainPath(path) && !/^\/api(?:\/|$)/i.test(path);
}

/**
 * The guards, in order: /healthz and /metrics pass; with the chat off nothing else exists; then the
 * Host check (loopback), the cross-site check (anything but GET and HEAD), the token check (all but
 * the page and the session call), and last the plain-path check. Undefined: the request may pass.
 */
export function refusalOf(request: GuardedRequest, settings: GuardSettings): Refusal | undefined {
  const path = pathOf(request.url);
  const { method, headers } = request;
  const reading = method === "GET" || method === "HEAD";
  if (reading && OPS_PATHS.has(path)) return undefined;
  if (!settings.chat) return { code: "not_found", message: httpMessages.notFound };
  if (settings.loopback && !hostIsOurs(headers.host, settings.port)) {
    return { code: "bad_host", message: httpMessages.badHost };
  }
  if (!reading && isCrossSite(headers)) return { code: "forbidden", message: httpMessages.crossSite };
  const { token } = settings;
  if (token !== undefined && !isTokenFree(method, path) && !isAuthorised(headers, token)) {
    return {
      code: "unauthorized",
      message: httpMessages.unauthorized,
      headers: { "www-authenticate": 'Bearer realm="easel"' },
    };
  }
  if (!isPlainPath(path)) return { code: "invalid_input", message: httpMessages.notPlainPath };
  return undefined;
}

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
