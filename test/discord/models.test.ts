/**
 * Several models on Discord: /imagine registers a `model` option with the catalogue as choices
 * (autocompleted past 25), a Turbo model answers at 512x512 in 1 step at guidance 0, and a
 * re-roll keeps the model.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import {
  autocompleteChoices,
  type DiscordCommandOption,
  discordCommandOptions,
} from "../../src/bots/discord/commands.js";
import { loadConfig } from "../../src/config.js";
import { modelsFolder } from "../models/support.js";
import type { StoredMessage } from "./fake-discord.js";
import { buttonId, finalMessage, imagine, startHarness } from "./harness.js";

test("/imagine offers the models as choices; a Turbo model answers at 512x512, 1 step, cfg 0; re-roll keeps it", async (t) => {
  const { modelsDir } = await modelsFolder(t, {
    turbo: { settings: { preset: "sdxl-turbo" } },
    photo: { settings: { label: "Photo" } },
  });
  const h = await startHarness(t, { env: { EASEL_MODELS_DIR: modelsDir, EASEL_DEFAULT_MODEL: "photo" } });
  const registered = await h.fake.waitFor(
    () => h.fake.commands.get(h.guild.id),
    60_000,
    "command registration",
  );
  const command = registered.find((entry) => entry.name === "imagine")!;
  const options = (command.options ?? []) as DiscordCommandOption[];
  const model = options.find((option) => option.name === "model");
  assert.ok(model, JSON.stringify(command.options));
  assert.deepEqual(model.choices, [
    { name: "Photo (photo)", value: "photo" },
    { name: "SDXL-Turbo (turbo)", value: "turbo" },
  ]);
  // Guidance 0 is within the option's range: one of the models takes it.
  assert.equal(options.find((option) => option.name === "guidance")?.min_value, 0);

  const result = await finalMessage(h, imagine(h, "a fox", { model: "turbo" }));
  assert.match(result.content, /turbo · seed \d+ · 512x512 · 1 steps · cfg 0 · euler-a/);

  const press = h.fake.pressButton({ user: h.user, message: result, customId: buttonId(result, /Re-roll/) });
  await h.fake.waitFor(() => h.fake.interactions.get(press.id)?.callback, 5000, "the re-roll's answer");
  const rerolled: StoredMessage = await finalMessage(h, press);
  assert.notEqual(rerolled.id, result.id);
  assert.match(rerolled.content, /turbo · seed \d+ · 512x512 · 1 steps · cfg 0 · euler-a/);

  const typed = await finalMessage(h, imagine(h, "a fox --model turbo --steps 2"));
  assert.match(typed.content, /turbo · seed \d+ · 512x512 · 2 steps · cfg 0/);
});

test("more than 25 models are offered by autocompletion", () => {
  const base = loadConfig({});
  const names = Array.from({ length: 30 }, (_, i) => `model-${String(i).padStart(2, "0")}`);
  const config = {
    ...base,
    models: {
      models: names.map((name) => ({ name, dir: `/m/${name}`, label: name, description: "", settings: {} })),
      defaultName: "model-00",
    },
  };
  const model = discordCommandOptions(config).find((option) => option.name === "model")!;
  assert.equal(model.autocomplete, true);
  assert.equal(model.choices, undefined);
  assert.equal(autocompleteChoices(config, "model", "").length, 25);
  assert.deepEqual(
    autocompleteChoices(config, "model", "model-2").map((choice) => choice.value),
    [
      "model-20",
      "model-21",
      "model-22",
      "model-23",
      "model-24",
      "model-25",
      "model-26",
      "model-27",
      "model-28",
      "model-29",
    ],
  );
  // A short catalogue is listed as choices.
  const two = { ...config, models: { ...config.models, models: config.models.models.slice(0, 2) } };
  assert.equal(discordCommandOptions(two).find((option) => option.name === "model")!.choices?.length, 2);
});
