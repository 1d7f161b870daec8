/**
 * The settings documentation against the zod schema in src/config.ts: the README's settings table
 * and config/.env.example each document every setting once, with the schema's default, and no
 * document names a setting the schema does not have.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, it } from "node:test";
import { parse } from "dotenv";
import { loadConfig, SETTING_NAMES } from "../../src/config.js";

const read = (path: string) => readFileSync(new URL(`../../${path}`, import.meta.url), "utf8");
const readme = read("README.md");
const envExample = read("config/.env.example");
const compose = read("docker-compose.yml");

/** Names shaped like easel's settings. */
const SETTING_LIKE = /\b(?:EASEL|DISCORD|SLACK|HF)_[A-Z0-9_]+\b/g;

/** The rows of the README's settings tables: every `| \`NAME\` | default | meaning |` under "## Settings". */
function readmeSettings(): { name: string; value: string }[] {
  const start = readme.indexOf("\n## Settings\n");
  assert.ok(start >= 0, "the README has no ## Settings section");
  const end = readme.indexOf("\n## ", start + 1);
  const section = readme.slice(start, end === -1 ? undefined : end);
  const rows: { name: string; value: string }[] = [];
  for (const line of section.split("\n")) {
    const row = /^\| `([A-Z0-9_]+)` \| ([^|]*) \| .+ \|$/.exec(line);
    if (!row) continue;
    const cell = row[2]!.trim();
    const value = cell === "*empty*" ? "" : /^`([^`]*)`$/.exec(cell)?.[1];
    assert.ok(value !== undefined, `${row[1]}: the default "${cell}" is neither \`value\` nor *empty*`);
    rows.push({ name: row[1]!, value });
  }
  return rows;
}

/** Variables docker-compose.yml interpolates (`${NAME:-default}`): the compose file's, not easel's. */
const composeVariables = new Set(Array.from(compose.matchAll(/\$\{([A-Z0-9_]+)/g), (match) => match[1]!));

describe("the settings documents and the schema", () => {
  it("the README's settings table lists every setting of the schema once, and nothing else", () => {
    const names = readmeSettings().map((row) => row.name);
    assert.deepEqual([...names].sort(), [...SETTING_NAMES].sort());
    assert.equal(new Set(names).size, names.length, "a setting is listed twice");
  });

  it("the README's table shows the schema's defaults, the same as config/.env.example", () => {
    const table = Object.fromEntries(readmeSettings().map((row) => [row.name, row.value]));
    assert.deepEqual(loadConfig(table), loadConfig({}));
    const example = parse(envExample);
    for (const name of SETTING_NAMES) assert.equal(table[name], example[name], `${name}'s default`);
  });

  it("config/.env.example lists every setting once", () => {
    const names = Array.from(envExample.matchAll(/^([A-Z0-9_]+)=/gm), (match) => match[1]!);
    assert.deepEqual([...names].sort(), [...SETTING_NAMES].sort());
  });

  it("no document names a setting the schema does not have", () => {
    const known = new Set<string>(SETTING_NAMES);
    for (const [file, text] of [
      ["README.md", readme],
      ["config/.env.example", envExample],
    ] as const) {
      const unknown = [...new Set(text.match(SETTING_LIKE) ?? [])].filter(
        (name) => !known.has(name) && !composeVariables.has(name),
      );
      assert.deepEqual(unknown, [], `${file} names settings that do not exist`);
    }
  });
});
