/**
 * The application commands the bot registers — `/imagine` from the shared option table (rendered
 * as Discord's option JSON) plus the Discord-only image attachment, `/help`, and `/easel` from the
 * shared admin definition — and their
 * registration, which writes only when what Discord has differs from what this build would
 * register (a bulk overwrite resets Discord's command cache for every user, so it is skipped when
 * nothing changed).
 */
import { type REST, Routes } from "discord.js";
import type { Logger } from "pino";
import { type AdminArgument, adminCommand, MAX_STATS_DAYS } from "../../commands/admin.js";
import {
  type ImagineOption,
  imagineOptions,
  MAX_LISTED_CHOICES,
  type OptionChoice,
  type OptionKind,
} from "../../commands/options.js";
import type { Config } from "../../config.js";

/** Discord's option types used here: 3 string, 4 integer, 10 number, 5 boolean. */
export type DiscordOptionType = 3 | 4 | 5 | 10;

/** One option in Discord's API shape (snake_case, as the REST API and discord.js's toJSON use). */
export interface DiscordCommandOption {
  type: DiscordOptionType;
  name: string;
  description: string;
  required: boolean;
  choices?: { name: string; value: string }[];
  /** The choices are too many to list (over 25): Discord asks the bot as the user types. */
  autocomplete?: boolean;
  min_value?: number;
  max_value?: number;
  min_length?: number;
  max_length?: number;
}

export interface DiscordSlashCommand {
  /** 1 = chat input (slash) command. */
  type: 1;
  name: string;
  description: string;
  options: DiscordCommandOption[];
}

const DISCORD_TYPES: Record<OptionKind, DiscordOptionType> = {
  string: 3,
  choice: 3,
  integer: 4,
  number: 10,
  boolean: 5,
};

function discordOption(option: ImagineOption): DiscordCommandOption {
  const rendered: DiscordCommandOption = {
    type: DISCORD_TYPES[option.kind],
    name: option.name,
    description: option.description,
    required: option.required,
  };
  // A free-text option with suggestions (`lora`: NAME:SCALE, several) is autocompleted, never limited to them.
  if (option.choices && (option.kind === "string" || option.choices.length > MAX_LISTED_CHOICES))
    rendered.autocomplete = true;
  else if (option.choices) rendered.choices = option.choices.map(({ name, value }) => ({ name, value }));
  if (option.kind === "integer" || option.kind === "number") {
    if (option.min !== undefined) rendered.min_value = option.min;
    if (option.max !== undefined) rendered.max_value = option.max;
  }
  if (option.kind === "string" && option.maxLength !== undefined) {
    rendered.max_length = option.maxLength;
    if (option.required) rendered.min_length = 1;
  }
  return rendered;
}

/** `/imagine`'s options for Discord, required ones first (Discord's rule); unavailable ones left out. */
export function discordCommandOptions(config: Config): DiscordCommandOption[] {
  const options = imagineOptions(config).filter((option) => option.available);
  return [...options.filter((o) => o.required), ...options.filter((o) => !o.required)].map(discordOption);
}

/** The whole `/imagine` command for Discord's bulk-overwrite endpoint. */
export function discordImagineCommand(config: Config): DiscordSlashCommand {
  return {
    type: 1,
    name: "imagine",
    description: "Create images from a text prompt with Stable Diffusion XL",
    options: discordCommandOptions(config),
  };
}

/** Discord's attachment option type. */
const ATTACHMENT_OPTION = 11;
/** Interaction contexts: 0 in a server, 1 in a DM with the bot. */
const CONTEXTS = [0, 1];

export const IMAGE_OPTION = "image";
export const IMAGINE_COMMAND = "imagine";
export const HELP_COMMAND = "help";
export const ADMIN_COMMAND = adminCommand.name;

/** Discord's subcommand option type. */
const SUBCOMMAND_OPTION = 1;

type OptionDefinition =
  | DiscordCommandOption
  | { type: 11; name: string; description: string; required: boolean }
  | { type: 1; name: string; description: string; options: DiscordCommandOption[] };

/** An `/easel` argument as a Discord option: strings (a user may be a mention), days an integer. */
function adminOption(argument: AdminArgument): DiscordCommandOption {
  const option: DiscordCommandOption = {
    type: argument.kind === "integer" ? 4 : 3,
    name: argument.name,
    description: argument.description,
    required: argument.required,
  };
  if (argument.kind === "integer") {
    option.min_value = 1;
    option.max_value = argument.max ?? MAX_STATS_DAYS;
  }
  return option;
}

/**
 * `/easel` with one subcommand per admin operation. Open to every member on Discord's side (no
 * default_member_permissions): the chat service decides who is an admin (EASEL_ADMINS).
 */
export function discordAdminCommand(): CommandDefinition {
  return {
    type: 1,
    name: ADMIN_COMMAND,
    description: adminCommand.description,
    options: adminCommand.subcommands.map((subcommand) => ({
      type: SUBCOMMAND_OPTION,
      name: subcommand.name,
      description: subcommand.description,
      // Required options first (Discord's rule).
      options: [
        ...subcommand.args.filter((a) => a.required),
        ...subcommand.args.filter((a) => !a.required),
      ].map(adminOption),
    })),
    contexts: CONTEXTS,
  };
}

export interface CommandDefinition {
  type: 1;
  name: string;
  description: string;
  options: OptionDefinition[];
  contexts: number[];
}

/** Everything this deployment registers, in Discord's JSON shape. */
export function commandDefinitions(config: Config): CommandDefinition[] {
  const imagine = discordImagineCommand(config);
  return [
    {
      ...imagine,
      options: [
        ...imagine.options,
        {
          type: ATTACHMENT_OPTION,
          name: IMAGE_OPTION,
          description: "A picture to refine instead of starting from noise",
          required: false,
        },
      ],
      contexts: CONTEXTS,
    },
    {
      type: 1,
      name: HELP_COMMAND,
      description: "How to use /imagine: the options, flags and buttons",
      options: [],
      contexts: CONTEXTS,
    },
    discordAdminCommand(),
  ];
}

/**
 * A command reduced to what decides its behaviour, with Discord's omissions filled in (it leaves
 * out `required: false`, empty option lists and absent bounds), so a definition compares equal to
 * what Discord returns for it.
 */
function canonical(command: Record<string, unknown>): string {
  return JSON.stringify({
    type: command.type ?? 1,
    name: command.name,
    description: command.description,
    contexts: Array.isArray(command.contexts) ? [...(command.contexts as number[])].sort() : null,
    default_member_permissions: command.default_member_permissions ?? null,
    options: canonicalOptions(command.options),
  });
}

/** Options (and a subcommand's own options) with Discord's omissions filled in. */
function canonicalOptions(given: unknown): unknown[] {
  const options = Array.isArray(given) ? (given as Record<string, unknown>[]) : [];
  return options.map((option) => ({
    type: option.type,
    name: option.name,
    description: option.description,
    required: option.required === true,
    choices: Array.isArray(option.choices)
      ? (option.choices as Record<string, unknown>[]).map((c) => ({ name: c.name, value: c.value }))
      : [],
    min_value: option.min_value ?? null,
    max_value: option.max_value ?? null,
    min_length: option.min_length ?? null,
    max_length: option.max_length ?? null,
    options: canonicalOptions(option.options),
  }));
}

/** Whether Discord's current commands are exactly the wanted ones (in any order). */
export function sameCommands(
  wanted: readonly CommandDefinition[],
  current: readonly Record<string, unknown>[],
): boolean {
  if (wanted.length !== current.length) return false;
  const have = current.map(canonical).sort();
  const want = wanted.map((command) => canonical({ ...command })).sort();
  return have.every((entry, i) => entry === want[i]);
}

/**
 * Registers the commands in one guild (instant) or globally, unless Discord already has them.
 * Returns whether it wrote.
 */
export async function registerCommands(
  rest: REST,
  target: { applicationId: string; guildId: string | undefined },
  wanted: readonly CommandDefinition[],
  logger: Logger,
): Promise<boolean> {
  const route = target.guildId
    ? Routes.applicationGuildCommands(target.applicationId, target.guildId)
    : Routes.applicationCommands(target.applicationId);
  const scope = target.guildId ? `guild ${target.guildId}` : "global";
  const current = (await rest.get(route)) as Record<string, unknown>[];
  if (sameCommands(wanted, current)) {
    logger.info({ scope }, "discord commands unchanged; not registering");
    return false;
  }
  await rest.put(route, { body: wanted });
  logger.info({ scope, commands: wanted.map((c) => c.name) }, "discord commands registered");
  return true;
}

/** Choices of an autocompleted `/imagine` option for what the user typed so far: matches first, at most 25. */
export function autocompleteChoices(config: Config, optionName: string, typed: string): OptionChoice[] {
  const option = imagineOptions(config).find((entry) => entry.name === optionName);
  // A repeatable option's value holds several (`ink:0.8, cl`): the last one is completed.
  const cut = option?.repeatable ? typed.lastIndexOf(",") + 1 : 0;
  const before = cut > 0 ? `${typed.slice(0, cut).trim()} ` : "";
  const wanted = typed.slice(cut).trim().toLowerCase();
  const choices = (option?.choices ?? []).map(({ name, value }) => ({ name, value: `${before}${value}` }));
  const starts = choices.filter((choice) =>
    choice.value.slice(before.length).toLowerCase().startsWith(wanted),
  );
  const contains = choices.filter(
    (choice) => !starts.includes(choice) && choice.name.toLowerCase().includes(wanted),
  );
  return [...starts, ...contains]
    .slice(0, MAX_LISTED_CHOICES)
    .map(({ name, value }) => ({ name: `${before}${name}`.slice(0, 100), value: value.slice(0, 100) }));
}
