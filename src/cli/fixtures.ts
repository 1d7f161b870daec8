/**
 * `easel fixtures`: writes tiny SDXL-shaped ONNX model folders (for tests, benches and trying the
 * bot without downloading SDXL).
 */
import { join } from "node:path";
import type { Command } from "commander";
import { InvalidInputError } from "../errors.js";
import { writeFullSizeModels } from "../fixtures/full-size/index.js";
import { FIXTURE_VARIANTS, type FixtureVariant, writeFixtureModels } from "../fixtures/index.js";
import { TAESDXL_DECODER, type TinyVaeLayout, writeTinyVaeFolder } from "../fixtures/taesd.js";
import { isFixtureVariant } from "../fixtures/variants.js";

interface FixturesFlags {
  out: string;
  seed?: string;
  variant?: string[];
  vaeEncoderOutput?: string;
  fullSize?: boolean;
  dtype?: string;
  refiner?: boolean;
  taesd?: string | boolean;
}

function parseFixtureSeed(text: string): number {
  const seed = /^\d+$/.test(text) ? Number(text) : Number.NaN;
  if (!Number.isSafeInteger(seed)) {
    throw new InvalidInputError(`--seed must be a non-negative integer, got "${text}".`, "seed");
  }
  return seed;
}

function parseVariants(names: readonly string[]): FixtureVariant[] {
  return names.map((name) => {
    if (!isFixtureVariant(name)) {
      throw new InvalidInputError(
        `Unknown fixture variant "${name}"; choose from ${FIXTURE_VARIANTS.join(", ")}.`,
        "variant",
      );
    }
    return name;
  });
}

function parseVaeEncoderOutput(text: string): "latent_sample" | "latent_parameters" {
  if (text === "latent_sample" || text === "latent_parameters") return text;
  throw new InvalidInputError(
    `--vae-encoder-output must be latent_sample or latent_parameters, got "${text}".`,
    "vae-encoder-output",
  );
}

function parseDtype(text: string): "float32" | "float16" {
  if (text === "float32" || text === "float16") return text;
  throw new InvalidInputError(`--dtype must be float32 or float16, got "${text}".`, "dtype");
}

/** `--full-size`: SDXL's real architecture with random weights; the tiny-fixture flags do not apply. */
async function writeFullSize(flags: FixturesFlags): Promise<Record<string, string>> {
  if (flags.variant !== undefined || flags.vaeEncoderOutput !== undefined) {
    throw new InvalidInputError(
      "--variant and --vae-encoder-output apply to the tiny fixtures only.",
      "full-size",
    );
  }
  const folders = await writeFullSizeModels(flags.out, {
    dtype: flags.dtype === undefined ? undefined : parseDtype(flags.dtype),
    refiner: flags.refiner === true,
    seed: flags.seed === undefined ? undefined : parseFixtureSeed(flags.seed),
  });
  return Object.fromEntries(Object.entries(folders).filter((entry): entry is [string, string] => !!entry[1]));
}

/** `--taesd [layout]`: a TAESDXL-shaped tiny-VAE decoder (real width, random weights) in <out>/taesdxl. */
async function writeTinyVae(flags: FixturesFlags): Promise<Record<string, string>> {
  if (flags.fullSize || flags.variant !== undefined || flags.vaeEncoderOutput !== undefined) {
    throw new InvalidInputError(
      "--taesd writes the tiny VAE only; --full-size, --variant and --vae-encoder-output do not apply.",
      "taesd",
    );
  }
  const layout = flags.taesd === true ? "diffusers" : flags.taesd;
  if (layout !== "diffusers" && layout !== "module") {
    throw new InvalidInputError(`--taesd takes diffusers or module, got "${String(layout)}".`, "taesd");
  }
  const dir = join(flags.out, "taesdxl");
  await writeTinyVaeFolder(dir, {
    architecture: TAESDXL_DECODER,
    layout: layout satisfies TinyVaeLayout,
    ...(flags.seed === undefined ? {} : { seed: parseFixtureSeed(flags.seed) }),
  });
  return { taesdxl: dir };
}

/** Errors from fs calls (EACCES, ENOTDIR, ENOSPC...) carry the failing system call. */
function isFileSystemError(error: unknown): error is NodeJS.ErrnoException {
  return error instanceof Error && "syscall" in error;
}

export function registerFixturesCommand(program: Command): void {
  program
    .command("fixtures")
    .description(
      "write SDXL-shaped ONNX model folders with random weights: tiny ones for tests, or --full-size ones",
    )
    .requiredOption("--out <dir>", "folder to write <dir>/<variant>/ into")
    .option("--seed <n>", "weights are a pure function of this seed (default 1)")
    .option("--variant <name...>", `which folders to write: ${FIXTURE_VARIANTS.join(", ")} (default: all)`)
    .option("--vae-encoder-output <name>", "vae_encoder output: latent_sample (default) or latent_parameters")
    .option("--full-size", "SDXL base 1.0's real architecture (~14 GB in float32) instead of the tiny models")
    .option("--dtype <type>", "with --full-size: float32 (default) or float16 weights and I/O")
    .option("--refiner", "with --full-size: also write the refiner folder")
    .option(
      "--taesd [layout]",
      "write only a TAESDXL-shaped tiny-VAE decoder to <dir>/taesdxl: diffusers (vae_decoder/, default) or module (taesdxl_decoder.onnx)",
    )
    .action(async (flags: FixturesFlags, command: Command) => {
      if (!flags.fullSize && (flags.dtype !== undefined || flags.refiner)) {
        throw new InvalidInputError("--dtype and --refiner need --full-size.", "full-size");
      }
      const options = {
        seed: flags.seed === undefined ? undefined : parseFixtureSeed(flags.seed),
        variants: flags.variant === undefined ? undefined : parseVariants(flags.variant),
        vaeEncoderOutput:
          flags.vaeEncoderOutput === undefined ? undefined : parseVaeEncoderOutput(flags.vaeEncoderOutput),
      };
      let paths: Partial<Record<string, string>>;
      try {
        paths =
          flags.taesd !== undefined
            ? await writeTinyVae(flags)
            : flags.fullSize
              ? await writeFullSize(flags)
              : await writeFixtureModels(flags.out, options);
      } catch (error) {
        if (!isFileSystemError(error)) throw error;
        throw new InvalidInputError(`Cannot write fixture models to ${flags.out}: ${error.message}`, "out");
      }
      const write = command.configureOutput().writeOut ?? ((text: string) => process.stdout.write(text));
      for (const [variant, path] of Object.entries(paths)) write(`${variant}\t${path}\n`);
    });
}
