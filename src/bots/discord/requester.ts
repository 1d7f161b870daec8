/**
 * Who pressed or typed, and where, in the platform-neutral terms of the chat service: user ids
 * `discord:<id>`, roles `discord-role:<id>`, the guild as the server, the channel's NSFW flag;
 * and whether the bot may answer in that channel at all.
 */
import { type BaseInteraction, ChannelType, PermissionFlagsBits, type PermissionsBitField } from "discord.js";
import type { RoleId, Where, Who } from "../../requests/request.js";

/** What the bot needs where it answers: see the channel, post there, attach images. */
export const REQUIRED_PERMISSIONS = {
  "View Channel": PermissionFlagsBits.ViewChannel,
  "Send Messages": PermissionFlagsBits.SendMessages,
  "Attach Files": PermissionFlagsBits.AttachFiles,
} as const;

/** Names of the required permissions the bot lacks in the interaction's channel. */
export function missingPermissions(appPermissions: Readonly<PermissionsBitField> | null): string[] {
  if (!appPermissions) return [];
  return Object.entries(REQUIRED_PERMISSIONS)
    .filter(([, bit]) => !appPermissions.has(bit, false))
    .map(([name]) => name);
}

/** Member role ids from either a cached GuildMember or the raw member of an uncached guild. */
function roleIds(interaction: BaseInteraction): string[] {
  const member = interaction.member;
  if (!member) return [];
  const roles = member.roles;
  const ids = Array.isArray(roles) ? (roles as string[]) : [...roles.cache.keys()];
  // Every member has @everyone, whose id is the guild's: it says nothing about the member.
  return ids.filter((id) => id !== interaction.guildId);
}

function displayName(interaction: BaseInteraction): string {
  const member = interaction.member;
  const nick = member && "displayName" in member ? member.displayName : (member?.nick ?? undefined);
  return nick ?? interaction.user.globalName ?? interaction.user.username;
}

export function whoOf(interaction: BaseInteraction): Who {
  const roles = roleIds(interaction).map((id): RoleId => `discord-role:${id}`);
  return {
    userId: `discord:${interaction.user.id}`,
    userName: displayName(interaction),
    ...(roles.length > 0 ? { roles } : {}),
  };
}

/** A channel's NSFW flag; a thread inherits its parent's. Unknown channels count as safe-for-work. */
function nsfwChannel(interaction: BaseInteraction): boolean {
  const channel = interaction.channel;
  if (!channel || channel.type === ChannelType.DM || channel.type === ChannelType.GroupDM) return false;
  if (channel.isThread()) return channel.parent !== null && "nsfw" in channel.parent && channel.parent.nsfw;
  return "nsfw" in channel && channel.nsfw === true;
}

export function whereOf(interaction: BaseInteraction): Where {
  return {
    platform: "discord",
    ...(interaction.guildId ? { serverId: interaction.guildId } : {}),
    ...(interaction.channelId ? { channelId: interaction.channelId } : {}),
    nsfwChannel: nsfwChannel(interaction),
  };
}

/**
 * A user as typed in `/easel ban …` on Discord: a mention (`<@123>`, `<@!123>`) or a bare user id
 * becomes `discord:<id>`; anything else is passed on as given (a qualified id of any platform, or
 * something the service will refuse).
 */
export function discordUserArgument(text: string): string {
  const value = text.trim();
  const id = /^<@!?(\d+)>$/.exec(value)?.[1] ?? (/^\d+$/.test(value) ? value : undefined);
  return id ? `discord:${id}` : value;
}

/** The Discord user id inside `discord:<id>`. */
export function discordUserId(userId: string): string | undefined {
  return userId.startsWith("discord:") ? userId.slice("discord:".length) : undefined;
}
