/**
 * `/imagine` as a Discord application command: the shared option table rendered as Discord's
 * option JSON (for the bulk-overwrite endpoint).
 */
import { type ImagineOption, imagineOptions, type OptionKind } from "../../commands/options.js";
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
  if (option.choices) rendered.choices = option.choices.map(({ name, value }) => ({ name, value }));
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
