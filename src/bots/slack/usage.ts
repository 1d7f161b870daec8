/**
 * The `/imagine` usage hint for Slack: a Slack slash command is one text string, so the hint shows
 * the flag syntax users type, from the shared option table.
 */
import { type ImagineOption, imagineOptions } from "../../commands/options.js";
import type { Config } from "../../config.js";

function usageValue(option: ImagineOption): string {
  if (option.kind === "integer" || option.kind === "number") return `${option.min}-${option.max}`;
  if (option.placeholder) return option.placeholder;
  return (option.choices ?? []).map((choice) => choice.value).join("|");
}

/** Slack usage hint: the prompt followed by every available flag with its value's shape. */
export function slackUsage(config: Config): string {
  const parts = ["<prompt>"];
  for (const option of imagineOptions(config)) {
    if (option.required || !option.available) continue;
    if (option.kind === "boolean") {
      parts.push(`[${[...option.flags, ...(option.offFlags ?? [])].map((flag) => `--${flag}`).join("|")}]`);
    } else {
      parts.push(`[--${option.flags[0]} ${usageValue(option)}]`);
    }
  }
  return parts.join(" ");
}
