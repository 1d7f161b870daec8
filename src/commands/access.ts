/**
 * The access policy of a public bot, as pure functions over the config and what the ledger says:
 * where the bot answers, who is an admin, daily image quotas (UTC days) and cooldowns between a
 * user's requests. The chat service applies them before anything is queued.
 *
 * Places: `discord:<guild>` (every channel of a server), `discord:<guild>/<channel>`,
 * `slack:<team>` (a whole workspace) and `slack:<team>/<channel>`. An empty list means everywhere;
 * a non-empty one limits Discord and Slack alike (a platform with no entry answers nowhere, DMs
 * included). The web chat and the CLI are not channel-restricted: they have no channels, and
 * whoever reaches them is the operator or someone the web token lets in.
 */
import type { Config } from "../config.js";
import { ConfigError } from "../errors.js";
import { parsePlace, type Usage } from "../requests/operator.js";
import {
  CHANNEL_PLATFORMS,
  type Platform,
  qualifiedUserId,
  roleId,
  type Where,
  type Who,
} from "../requests/request.js";

export interface ChannelRule {
  platform: Platform;
  serverId: string;
  /** Undefined: every channel of the server. */
  channelId?: string;
}

/** EASEL_ALLOWED_CHANNELS entries as rules; a ConfigError names the first malformed one. */
export function parseChannelRules(entries: readonly string[]): ChannelRule[] {
  return entries.map((entry) => {
    const place = parsePlace(entry);
    if (!place) {
      throw new ConfigError(
        `EASEL_ALLOWED_CHANNELS: "${entry}" is not discord:<guild>, discord:<guild>/<channel>, slack:<team> or slack:<team>/<channel>.`,
      );
    }
    return place;
  });
}

/** Checks EASEL_ADMINS entries (platform-qualified users, Discord roles); a ConfigError names a bad one. */
export function checkAdminEntries(entries: readonly string[]): void {
  for (const entry of entries) {
    if (!qualifiedUserId(entry) && !roleId(entry)) {
      throw new ConfigError(
        `EASEL_ADMINS: "${entry}" is not a platform-qualified user (discord:<id>, slack:<team>:<user>, web:<id>, cli:<name>) or a discord-role:<id>.`,
      );
    }
  }
}

/**
 * The access settings as the chat service uses them, checked: EASEL_ALLOWED_CHANNELS as rules and
 * EASEL_ADMINS entry by entry. A ConfigError names the first bad entry. `easel start` (through the
 * chat service) and `easel doctor` both call this, so the doctor refuses what would stop a start.
 */
export function accessSettingsOf(config: Config): { channelRules: ChannelRule[] } {
  const channelRules = parseChannelRules(config.access.allowedChannels);
  checkAdminEntries(config.access.admins);
  return { channelRules };
}

/** Whether the bot may answer at `where`. */
export function isAllowedPlace(rules: readonly ChannelRule[], where: Where): boolean {
  if (rules.length === 0 || !CHANNEL_PLATFORMS.includes(where.platform)) return true;
  return rules.some(
    (rule) =>
      rule.platform === where.platform &&
      rule.serverId === where.serverId &&
      (rule.channelId === undefined || rule.channelId === where.channelId),
  );
}

/** Whether `who` is an admin: their user id or one of their Discord roles is in EASEL_ADMINS. */
export function isAdmin(admins: readonly string[], who: Who): boolean {
  return admins.includes(who.userId) || (who.roles ?? []).some((role) => admins.includes(role));
}

const DAY_MS = 86_400_000;

/** The start of the UTC day that holds `at`. */
export function utcDayStart(at: number): number {
  return Math.floor(at / DAY_MS) * DAY_MS;
}

/** A refusal by quota or cooldown: when the user may ask again. */
export type RateRefusal =
  | { kind: "quota"; quota: number; used: number; asked: number; retryAt: number }
  | { kind: "cooldown"; retryAt: number };

/**
 * Whether a non-admin's request for `asked` images may go ahead, given what they used today (from
 * the ledger): the cooldown since their last request first, then the day's quota. A request the
 * quota cannot hold in full is refused (the user can ask for fewer images).
 */
export function rateRefusal(
  access: Pick<Config["access"], "quotaPerDay" | "cooldownSeconds">,
  usage: Usage,
  asked: number,
  now: number,
): RateRefusal | undefined {
  if (access.cooldownSeconds > 0 && usage.lastRequestAt !== undefined) {
    const retryAt = usage.lastRequestAt + access.cooldownSeconds * 1000;
    if (now < retryAt) return { kind: "cooldown", retryAt };
  }
  if (access.quotaPerDay > 0 && usage.images + asked > access.quotaPerDay) {
    return {
      kind: "quota",
      quota: access.quotaPerDay,
      used: usage.images,
      asked,
      retryAt: utcDayStart(now) + DAY_MS,
    };
  }
  return undefined;
}
