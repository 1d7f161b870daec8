import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { discordCommandOptions, discordImagineCommand } from "../../src/bots/discord/commands.js";
import { slackUsage } from "../../src/bots/slack/usage.js";
import { imagineOptions } from "../../src/commands/options.js";
import { helpText } from "../../src/commands/texts.js";
import { config, plainConfig } from "./support.js";

const DISCORD_NAME = /^[-_\p{Ll}\p{N}]{1,32}$/u;

describe("Discord command options", () => {
  const options = discordCommandOptions(config);

  it("obey Discord's limits on names, descriptions, counts and choices", () => {
    assert.ok(options.length <= 25);
    assert.equal(new Set(options.map((o) => o.name)).size, options.length);
    for (const option of options) {
      assert.match(option.name, DISCORD_NAME);
      assert.ok(option.description.length >= 1 && option.description.length <= 100, option.name);
      assert.ok([3, 4, 5, 10].includes(option.type), option.name);
      if (option.choices) {
        assert.ok(option.choices.length >= 1 && option.choices.length <= 25, option.name);
        for (const choice of option.choices) {
          assert.ok(choice.name.length >= 1 && choice.name.length <= 100);
          assert.equal(typeof choice.value, option.type === 3 ? "string" : "number");
        }
      }
      if (option.min_value !== undefined || option.max_value !== undefined)
        assert.ok([4, 10].includes(option.type));
      if (option.max_length !== undefined) assert.ok(option.type === 3 && option.max_length <= 6000);
    }
  });

  it("list required options first", () => {
    const firstOptional = options.findIndex((o) => !o.required);
    assert.ok(options.slice(firstOptional).every((o) => !o.required));
    assert.equal(options[0]!.name, "prompt");
    assert.equal(options[0]!.required, true);
  });

  it("render each kind with its Discord type, limits from config and choices", () => {
    const byName = new Map(options.map((o) => [o.name, o]));
    assert.deepEqual(byName.get("steps"), {
      type: 4,
      name: "steps",
      description: "Denoising steps, 1-150 (default 30)",
      required: false,
      min_value: 1,
      max_value: 150,
    });
    assert.equal(byName.get("guidance")!.type, 10);
    assert.equal(byName.get("guidance")!.max_value, 30);
    assert.equal(byName.get("count")!.max_value, 4);
    assert.equal(byName.get("refiner")!.type, 5);
    assert.equal(byName.get("seed")!.type, 3);
    assert.deepEqual(
      byName.get("aspect")!.choices!.map((c) => c.value),
      ["1:1", "4:3", "3:4", "3:2", "2:3", "16:9", "9:16", "21:9", "9:21"],
    );
    assert.deepEqual(
      byName.get("scheduler")!.choices!.map((c) => c.value),
      ["euler", "euler-a", "dpmpp-2m-karras", "ddim", "lcm"],
    );
  });

  it("follow config limits and leave out the refiner when none is installed", () => {
    const custom = { ...plainConfig, generation: { ...plainConfig.generation, maxSteps: 60, maxCount: 2 } };
    const rendered = discordCommandOptions(custom);
    assert.equal(rendered.find((o) => o.name === "steps")!.max_value, 60);
    assert.equal(rendered.find((o) => o.name === "count")!.max_value, 2);
    assert.equal(
      rendered.find((o) => o.name === "refiner"),
      undefined,
    );
  });

  it("wrap into a chat-input command named imagine", () => {
    const command = discordImagineCommand(config);
    assert.equal(command.type, 1);
    assert.match(command.name, DISCORD_NAME);
    assert.ok(command.description.length <= 100);
    assert.deepEqual(command.options, options);
  });
});

describe("Slack usage and help", () => {
  it("show every available flag once, with ranges from config", () => {
    const usage = slackUsage(config);
    assert.ok(usage.startsWith("<prompt> "));
    for (const part of [
      "--no text",
      "--ar W:H",
      "--size WxH",
      "--seed N",
      "--steps 1-150",
      "--cfg 1-30",
      "--n 1-4",
    ]) {
      assert.ok(usage.includes(`[${part}]`), part);
    }
    assert.ok(usage.includes("[--sampler euler|euler-a|dpmpp-2m-karras|ddim|lcm]"));
    assert.ok(usage.includes("[--refiner|--no-refiner]"));
    assert.ok(!slackUsage(plainConfig).includes("refiner"));
  });

  it("help names every available option's flags and stays short", () => {
    const help = helpText(config);
    for (const option of imagineOptions(config).filter((entry) => entry.available)) {
      for (const flag of option.flags) assert.ok(help.includes(`--${flag}`), flag);
    }
    assert.ok(help.includes("/imagine a lighthouse at dusk --ar 16:9 --seed 7"));
    assert.ok(help.length < 2000, "fits one Discord message");
    assert.ok(!helpText(plainConfig).includes("--refiner"));
  });
});
