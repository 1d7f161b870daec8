/**
 * The cookies this server reads and sets: the per-browser id (who a browser or a `curl -c/-b`
 * client is across calls) and, with a token configured, the page's session derived from the token.
 * The Cookie header is parsed here: only our own names matter, so a small strict reader suffices.
 */
import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";

export const BROWSER_COOKIE = "easel_id";
export const SESSION_COOKIE = "easel_session";
/** 400 days, the longest lifetime browsers keep a cookie for. */
const MAX_AGE_SECONDS = 400 * 24 * 3600;
/** 128 random bits, base64url. */
const BROWSER_ID = /^[A-Za-z0-9_-]{22}$/;

/** name → value for each `name=value` pair of a Cookie header; the first of a repeated name wins. */
export function parseCookies(header: string | undefined): Map<string, string> {
  const cookies = new Map<string, string>();
  if (!header) return cookies;
  for (const part of header.split(";")) {
    const eq = part.indexOf("=");
    if (eq <= 0) continue;
    const name = part.slice(0, eq).trim();
    let value = part.slice(eq + 1).trim();
    if (value.startsWith('"') && value.endsWith('"') && value.length >= 2) value = value.slice(1, -1);
    if (name && !cookies.has(name)) cookies.set(name, value);
  }
  return cookies;
}

export function isBrowserId(value: string | undefined): value is string {
  return value !== undefined && BROWSER_ID.test(value);
}

export function newBrowserId(): string {
  return randomBytes(16).toString("base64url");
}

interface CookieOptions {
  sameSite: "Lax" | "Strict";
  maxAgeSeconds?: number;
  secure?: boolean;
}

/** A Set-Cookie value: HttpOnly always, so page scripts never see identities or sessions. */
export function setCookie(name: string, value: string, options: CookieOptions): string {
  const parts = [
    `${name}=${value}`,
    "Path=/",
    "HttpOnly",
    `SameSite=${options.sameSite}`,
    `Max-Age=${options.maxAgeSeconds ?? MAX_AGE_SECONDS}`,
  ];
  if (options.secure) parts.push("Secure");
  return parts.join("; ");
}

/**
 * The page's session cookie value for a token: an HMAC of a fixed label keyed by the token, so the
 * cookie proves knowledge of the token without holding it, and changing the token ends sessions.
 */
export function sessionValue(token: string): string {
  return createHmac("sha256", token).update("easel web session v1").digest("base64url");
}

/** Constant-time comparison of two strings (lengths may differ). */
export function sameSecret(given: string, expected: string): boolean {
  const a = createHmac("sha256", "compare").update(given).digest();
  const b = createHmac("sha256", "compare").update(expected).digest();
  return timingSafeEqual(a, b) && given.length === expected.length;
}
