/** The Discord `lora` option: a free-text option autocompleted from the LoRA catalogue. */
import assert from "node:assert/strict";
import { test } from "node:test";
import { autocompleteChoices, discordCommandOptions } from "../../src/bots/discord/commands.js";
import { type Config, loadConfig } from "../../src/config.js";
import { catalogueLora } from "../../src/models/loras.js";

const config: Config = {
  ...loadConfig({}),
  loras: [
    catalogueLora("ink", { label: "Ink" }),
    catalogueLora("inkwash", undefined),
    catalogueLora("clay", undefined),
  ],
};

test("the lora option is a string Discord autocompletes, absent without LoRAs", () => {
  const option = discordCommandOptions(config).find((entry) => entry.name === "lora");
  assert.equal(option?.type, 3);
  assert.equal(option?.autocomplete, true);
  assert.equal(option?.choices, undefined);
  assert.equal(
    discordCommandOptions(loadConfig({})).find((entry) => entry.name === "lora"),
    undefined,
  );
});

test("autocompletion completes the last of several LoRAs, keeping those before it", () => {
  assert.deepEqual(autocompleteChoices(config, "lora", "in"), [
    { name: "Ink (ink)", value: "ink" },
    { name: "inkwash", value: "inkwash" },
  ]);
  assert.deepEqual(autocompleteChoices(config, "lora", "ink:0.5, cl"), [
    { name: "ink:0.5, clay", value: "ink:0.5, clay" },
  ]);
});
