/**
 * Inspection commands, so easel's intermediate values can be compared with other SDXL tools:
 * the token ids each encoder sees, the starting noise of a seed, a scheduler's tables.
 */
import { readFile } from "node:fs/promises";
import { dirname } from "node:path";
import { createInterface } from "node:readline";
import type { Command } from "commander";
import { loadConfigFromEnvironment } from "../config.js";
import { InvalidInputError } from "../errors.js";
import { describeFileError, writeFileAtomically } from "../files.js";
import { tokenizerVocabularyPath } from "../fixtures/reference-files.js";
import { readModelFolder } from "../pipeline/model-folder.js";
import { TorchGenerator } from "../pipeline/noise/index.js";
import { encodeNpyFloat32 } from "../pipeline/npy.js";
import {
  createScheduler,
  LcmScheduler,
  parseSchedulerConfig,
  SDXL_SCHEDULER_CONFIG_JSON,
} from "../pipeline/schedulers/index.js";
import { ClipTokenizer, tokenizeWeighted } from "../pipeline/tokenizer/index.js";
import { END_OF_TEXT, readTokenizerFolder } from "../pipeline/tokenizer/tokenizer-folder.js";
import { SCHEDULER_NAMES } from "../pipeline/types.js";
import { checkPromptLength, LIMITS } from "../pipeline/validate.js";
import { parseInteger, parseSchedulerName, parseSeed, parseShape } from "./args.js";

interface ScheduleOptions {
  scheduler: string;
  steps: string;
  config?: string;
  spacing?: string;
  prediction?: string;
}

const lowerFirst = (text: string) => text.charAt(0).toLowerCase() + text.slice(1);

async function tokenizersOf(modelDir: string, exclamationAsPad: boolean) {
  const folder = await readModelFolder(modelDir);
  const named: [string, ClipTokenizer][] = [];
  if (folder.tokenizerDir)
    named.push(["tokenizer", await ClipTokenizer.fromFolder(folder.tokenizerDir, { exclamationAsPad })]);
  named.push(["tokenizer_2", await ClipTokenizer.fromFolder(folder.tokenizer2Dir, { exclamationAsPad })]);
  return named;
}

/**
 * SDXL's two tokenizers from the vocabulary bundled in assets/ (the one every SDXL export ships):
 * they differ only in the pad token, `<|endoftext|>` for tokenizer/ and "!" for tokenizer_2/.
 */
async function bundledTokenizers(exclamationAsPad: boolean): Promise<[string, ClipTokenizer][]> {
  const vocabulary = await readTokenizerFolder(dirname(tokenizerVocabularyPath("vocab.json")));
  return [
    ["tokenizer", new ClipTokenizer({ ...vocabulary, padToken: END_OF_TEXT }, { exclamationAsPad })],
    ["tokenizer_2", new ClipTokenizer({ ...vocabulary, padToken: "!" }, { exclamationAsPad })],
  ];
}

/** What each tokenizer feeds its encoder for one prompt. */
function describePrompt(tokenizers: [string, ClipTokenizer][], prompt: string): Record<string, unknown> {
  const report: Record<string, unknown> = { prompt };
  for (const [name, tokenizer] of tokenizers) {
    const raw = tokenizer.encode(prompt);
    const packed = tokenizer.pack(raw);
    const weighted = tokenizeWeighted(tokenizer, prompt);
    report[name] = {
      input_ids: Array.from(packed.ids),
      truncated_tokens: packed.truncated,
      chunks: weighted.chunks.map((chunk) => ({
        input_ids: Array.from(chunk.ids),
        weights: Array.from(chunk.weights),
      })),
    };
  }
  return report;
}

export function registerInspectCommands(program: Command): void {
  program
    .command("tokenize")
    .description("print the token ids each SDXL text encoder receives, as JSON")
    .argument("[prompt]", "the prompt (or --stdin for one prompt per line)")
    .option(
      "--model <dir>",
      "SDXL ONNX folder with tokenizer/ and tokenizer_2/ (default: EASEL_MODEL_DIR; unset: the bundled SDXL tokenizers)",
    )
    .option("--stdin", "read one prompt per line; print one JSON object per line")
    .option(
      "--diffusers-exclamation",
      "tokenize a typed ! as diffusers' tokenizer_2 does (id 0); also EASEL_OPENCLIP_EXCLAMATION=false",
    )
    .action(
      async (
        prompt: string | undefined,
        options: { model?: string; stdin?: boolean; diffusersExclamation?: boolean },
      ) => {
        // Checked before the tokenizers load, as for generate; --stdin lines are checked as they come.
        if (prompt !== undefined) checkPromptLength(prompt, LIMITS.maxPromptLength, "prompt", "prompt");
        const config = await loadConfigFromEnvironment();
        const exclamationAsPad =
          options.diffusersExclamation === true || !config.generation.openClipExclamation;
        // No model folder named (EASEL_MODEL_DIR unset, and no --model): the bundled vocabulary.
        const tokenizers =
          options.model === undefined && config.demoModel
            ? await bundledTokenizers(exclamationAsPad)
            : await tokenizersOf(options.model ?? config.modelDir, exclamationAsPad);
        if (options.stdin) {
          let number = 0;
          for await (const line of createInterface({
            input: process.stdin,
            crlfDelay: Number.POSITIVE_INFINITY,
          })) {
            number++;
            try {
              checkPromptLength(line, LIMITS.maxPromptLength, "prompt", "prompt");
            } catch (error) {
              if (error instanceof InvalidInputError) {
                throw new InvalidInputError(`line ${number}: ${lowerFirst(error.userMessage)}`, "prompt");
              }
              throw error;
            }
            process.stdout.write(`${JSON.stringify(describePrompt(tokenizers, line))}\n`);
          }
          return;
        }
        if (prompt === undefined) throw new InvalidInputError("Give a prompt, or --stdin.", "prompt");
        process.stdout.write(`${JSON.stringify(describePrompt(tokenizers, prompt), null, 2)}\n`);
      },
    );

  program
    .command("noise")
    .description("write a seed's starting noise (PyTorch CPU generator) as float32 .npy")
    .requiredOption("--seed <n>", "64-bit seed")
    .option("--shape <dims>", "tensor shape", "1,4,128,128")
    .option("--then <n>", "further draws of the same shape from the same generator, stacked on axis 0", "0")
    .requiredOption("--out <file.npy>", "output file")
    .action(async (options: { seed: string; shape: string; then: string; out: string }) => {
      const shape = parseShape(options.shape);
      const further = parseInteger(options.then, "--then");
      if (further < 0 || further > 1000)
        throw new InvalidInputError("--then must be between 0 and 1000.", "then");
      const generator = new TorchGenerator(parseSeed(options.seed));
      const size = shape.reduce((a, b) => a * b, 1);
      const stacked = new Float32Array(size * (further + 1));
      for (let draw = 0; draw <= further; draw++)
        generator.randn(shape, stacked.subarray(draw * size, (draw + 1) * size));
      const outShape = further === 0 ? shape : [(further + 1) * shape[0]!, ...shape.slice(1)];
      try {
        await writeFileAtomically(options.out, encodeNpyFloat32(stacked, outShape));
      } catch (error) {
        throw new Error(`could not write ${options.out}: ${describeFileError(error)}`, { cause: error });
      }
    });

  program
    .command("schedule")
    .description("print a scheduler's timesteps, sigmas and init_noise_sigma as JSON")
    .requiredOption("--scheduler <name>", `one of ${SCHEDULER_NAMES.join(", ")}`)
    .requiredOption("--steps <n>", "inference steps")
    .option("--config <file>", "a diffusers scheduler_config.json (default: SDXL base 1.0's)")
    .option("--spacing <kind>", "override timestep_spacing: leading, trailing or linspace (LCM ignores it)")
    .option("--prediction <type>", "override prediction_type: epsilon, v_prediction or sample")
    .action(async (options: ScheduleOptions) => {
      const schedulerName = parseSchedulerName(options.scheduler);
      let raw: Record<string, unknown> = { ...SDXL_SCHEDULER_CONFIG_JSON };
      if (options.config) {
        try {
          raw = JSON.parse(await readFile(options.config, "utf8")) as Record<string, unknown>;
        } catch {
          throw new InvalidInputError(`Cannot read ${options.config} as a JSON scheduler config.`, "config");
        }
      }
      if (options.spacing) raw.timestep_spacing = options.spacing;
      if (options.prediction) raw.prediction_type = options.prediction;
      const steps = parseInteger(options.steps, "--steps");
      if (steps < 1 || steps > 1000)
        throw new InvalidInputError("--steps must be between 1 and 1000.", "steps");
      const scheduler = createScheduler(schedulerName, parseSchedulerConfig(raw), steps);
      const report = {
        scheduler: schedulerName,
        steps,
        timesteps: Array.from(scheduler.timesteps),
        sigmas: scheduler.sigmas ? Array.from(scheduler.sigmas) : null,
        init_noise_sigma: scheduler.initNoiseSigma,
        ...(scheduler instanceof LcmScheduler
          ? { c_skip: Array.from(scheduler.cSkip), c_out: Array.from(scheduler.cOut) }
          : {}),
      };
      process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
    });
}
