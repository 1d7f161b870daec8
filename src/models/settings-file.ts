/**
 * A small JSON settings file (a model's easel.json, a LoRA's <name>.json) checked against its zod
 * schema: the first problem becomes one ConfigError naming the file and the field.
 */
import type { z } from "zod";
import { ConfigError } from "../errors.js";

export function parseSettingsFile<Schema extends z.ZodType>(
  schema: Schema,
  text: string,
  path: string,
): z.infer<Schema> {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new ConfigError(
      `${path}: not valid JSON (${error instanceof Error ? error.message : String(error)}).`,
    );
  }
  const parsed = schema.safeParse(value);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const field = issue.path.length > 0 ? issue.path.join(".") : undefined;
    const keys = issue.code === "unrecognized_keys" ? issue.keys.join(", ") : undefined;
    const where = keys ? `unknown field ${keys}` : field ? `field "${field}"` : "the file";
    throw new ConfigError(`${path}: ${where}: ${issue.message}.`);
  }
  return parsed.data;
}
