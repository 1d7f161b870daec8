/**
 * One grammar for typed values: the CLI (`easel generate`/`refine`/`noise` flags) and chat
 * (`/imagine` flags and structured options) accept and refuse exactly the same spellings.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { parseInteger, parseNumber, parseSchedulerName, parseSeed } from "../../src/cli/args.js";
import { parseImagine } from "../../src/commands/imagine.js";
import { loadConfig } from "../../src/config.js";
import { InvalidInputError } from "../../src/errors.js";
import type { GenerationRequest, Requester } from "../../src/requests/request.js";
import { runCli } from "../helpers/cli.js";

const config = loadConfig({});
const asker: Requester = { platform: "cli", userId: "cli:tester" };

/** What chat makes of `value` for `option`, typed after a flag (quoted, so spaces survive) and as a structured option. */
function chat(option: "steps" | "seed" | "guidance" | "scheduler", value: string): unknown[] {
  const pick = (request: GenerationRequest) => request[option];
  const attempt = (build: () => GenerationRequest) => {
    try {
      return pick(build());
    } catch (error) {
      assert.ok(error instanceof InvalidInputError, String(error));
      return "refused";
    }
  };
  const flag = option === "guidance" ? "cfg" : option;
  return [
    attempt(() => parseImagine({ text: `a cat --${flag} "${value}"` }, asker, config, () => 1n)),
    attempt(() => parseImagine({ text: "a cat", options: { [option]: value } }, asker, config, () => 1n)),
  ];
}

function cli(parse: () => unknown): unknown {
  try {
    const value = parse();
    return typeof value === "bigint" ? value.toString() : value;
  } catch (error) {
    assert.ok(error instanceof InvalidInputError, String(error));
    return "refused";
  }
}

const REFUSED_NUMBERS = [
  "0x10",
  "0x4",
  "0b11",
  "0o7",
  "1e1",
  "4e0",
  "1_0",
  " 4",
  "4 ",
  "4\n",
  "",
  "Infinity",
  "NaN",
  "４",
  "4.0.0",
  "--4",
];

describe("typed values: one grammar for the CLI and chat", () => {
  it("refuses hex, binary, octal, exponents, separators, padding, full-width digits and non-numbers as steps", () => {
    for (const text of REFUSED_NUMBERS) {
      assert.deepEqual(chat("steps", text), ["refused", "refused"], `chat --steps ${JSON.stringify(text)}`);
      assert.equal(
        cli(() => parseInteger(text, "--steps")),
        "refused",
        `CLI --steps ${JSON.stringify(text)}`,
      );
    }
  });

  it("reads the same decimal integers both ways", () => {
    for (const [text, value] of [
      ["4", 4],
      ["+4", 4],
      ["007", 7],
      ["40", 40],
    ] as const) {
      assert.deepEqual(chat("steps", text), [value, value], text);
      assert.equal(
        cli(() => parseInteger(text, "--steps")),
        value,
        text,
      );
    }
    assert.equal(
      cli(() => parseInteger("4.5", "--steps")),
      "refused",
    );
    assert.deepEqual(chat("steps", "4.5"), ["refused", "refused"]);
  });

  it("reads guidance as plain decimals, refusing the same forms", () => {
    for (const text of [...REFUSED_NUMBERS, "1e0", "7.5e0"]) {
      assert.deepEqual(chat("guidance", text), ["refused", "refused"], `chat --cfg ${JSON.stringify(text)}`);
      assert.equal(
        cli(() => parseNumber(text, "--guidance")),
        "refused",
        `CLI ${JSON.stringify(text)}`,
      );
    }
    for (const [text, value] of [
      ["7.5", 7.5],
      ["5", 5],
      ["5.", 5],
      ["+6.25", 6.25],
    ] as const) {
      assert.deepEqual(chat("guidance", text), [value, value], text);
      assert.equal(
        cli(() => parseNumber(text, "--guidance")),
        value,
        text,
      );
    }
  });

  it("reads seeds as unsigned 64-bit decimals, refusing signs, hex, exponents, padding and 2^64", () => {
    const refused = [...REFUSED_NUMBERS, "-1", "+1", "18446744073709551616", "1".repeat(26)];
    for (const text of refused) {
      assert.deepEqual(chat("seed", text), ["refused", "refused"], `chat --seed ${JSON.stringify(text)}`);
      assert.equal(
        cli(() => parseSeed(text)),
        "refused",
        `CLI --seed ${JSON.stringify(text)}`,
      );
    }
    for (const text of ["0", "7", "18446744073709551615", "0000000000000000000000007"]) {
      const canonical = BigInt(text).toString();
      assert.deepEqual(chat("seed", text), [canonical, canonical], text);
      assert.equal(
        cli(() => parseSeed(text)),
        canonical,
        text,
      );
    }
  });

  it("spells schedulers the same way in both", () => {
    const accepted = {
      euler: "euler",
      "Euler A": "euler-a",
      euler_ancestral: "euler-a",
      "DPM++ 2M Karras": "dpmpp-2m-karras",
      "dpmpp-2m-karras": "dpmpp-2m-karras",
      DDIM: "ddim",
    } as const;
    for (const [text, name] of Object.entries(accepted)) {
      assert.deepEqual(chat("scheduler", text), [name, name], text);
      assert.equal(
        cli(() => parseSchedulerName(text)),
        name,
        text,
      );
    }
    for (const text of ["eul", "lms", "", "euler!"]) {
      assert.deepEqual(chat("scheduler", text), ["refused", "refused"], text);
      assert.equal(
        cli(() => parseSchedulerName(text)),
        "refused",
        text,
      );
    }
  });

  it("easel generate refuses --steps 0x10 before any model loads", async () => {
    const run = await runCli(["generate", "--prompt", "a cat", "--steps", "0x10", "--model", "/nonexistent"]);
    assert.equal(run.code, 2);
    assert.equal(run.stderr, 'error: --steps must be a whole number; got "0x10".\n');
  });
});
