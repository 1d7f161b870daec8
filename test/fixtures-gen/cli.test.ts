import assert from "node:assert/strict";
import { mkdtemp, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { Command } from "commander";
import { registerFixturesCommand } from "../../src/cli/fixtures.js";
import { InvalidInputError } from "../../src/errors.js";

let scratch: string;
before(async () => {
  scratch = await mkdtemp(join(tmpdir(), "easel-fixtures-cli-"));
});
after(async () => {
  await rm(scratch, { recursive: true, force: true });
});

/** A program with only the fixtures command; what it prints is collected instead of written. */
function program(): { program: Command; printed: string[] } {
  const printed: string[] = [];
  const root = new Command("easel").exitOverride().configureOutput({
    writeOut: (text) => printed.push(text),
    writeErr: (text) => printed.push(text),
  });
  registerFixturesCommand(root);
  return { program: root, printed };
}

describe("easel fixtures", () => {
  it("writes the chosen variants with the chosen seed and prints their folders", async () => {
    const out = join(scratch, "models");
    const { program: cli, printed } = program();
    await cli.parseAsync(["fixtures", "--out", out, "--seed", "3", "--variant", "refiner", "base-int32"], {
      from: "user",
    });
    assert.deepEqual((await readdir(out)).sort(), ["base-int32", "refiner"]);
    assert.deepEqual(printed.join("").trim().split("\n"), [
      `refiner\t${join(out, "refiner")}`,
      `base-int32\t${join(out, "base-int32")}`,
    ]);
  });

  it("rejects an unknown variant or a malformed seed with a user-facing message", async () => {
    const out = join(scratch, "bad");
    await assert.rejects(
      program().program.parseAsync(["fixtures", "--out", out, "--variant", "xl"], { from: "user" }),
      (error: unknown) => error instanceof InvalidInputError && error.userMessage.includes('"xl"'),
    );
    await assert.rejects(
      program().program.parseAsync(["fixtures", "--out", out, "--seed", "12abc"], { from: "user" }),
      (error: unknown) => error instanceof InvalidInputError && error.field === "seed",
    );
  });

  it("reports an output folder that cannot be created as invalid input", async () => {
    const blocker = join(scratch, "a-file");
    await writeFile(blocker, "not a folder");
    await assert.rejects(
      program().program.parseAsync(["fixtures", "--out", join(blocker, "models"), "--variant", "base"], {
        from: "user",
      }),
      (error: unknown) => error instanceof InvalidInputError && error.userMessage.includes(blocker),
    );
  });

  it("requires --out", async () => {
    await assert.rejects(
      program().program.parseAsync(["fixtures"], { from: "user" }),
      (error: unknown) => error instanceof Error && /--out/.test(error.message),
    );
  });
});
