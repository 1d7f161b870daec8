/**
 * `easel`, the command line: generation and inspection commands over the SDXL pipeline, the
 * fixture generator and the one-shot `imagine` path through the queue.
 */
import { Command, CommanderError } from "commander";
import { registerAdminCommand } from "./cli/admin.js";
import { registerConvertCommand } from "./cli/convert.js";
import { registerDoctorCommand } from "./cli/doctor.js";
import { registerFixturesCommand } from "./cli/fixtures.js";
import { registerGenerateCommands } from "./cli/generate.js";
import { registerImagineCommand } from "./cli/imagine.js";
import { registerInspectCommands } from "./cli/inspect.js";
import { registerPullCommand } from "./cli/pull.js";
import { registerStartCommand } from "./cli/start.js";
import { registerWorkerCommand } from "./cli/worker.js";
import { isEaselError } from "./errors.js";

export function buildProgram(): Command {
  const program = new Command("easel")
    .description("Self-hosted SDXL image generation for chat: CLI")
    .showHelpAfterError()
    .exitOverride();
  registerGenerateCommands(program);
  registerInspectCommands(program);
  registerFixturesCommand(program);
  registerImagineCommand(program);
  registerStartCommand(program);
  registerPullCommand(program);
  registerConvertCommand(program);
  registerDoctorCommand(program);
  registerAdminCommand(program);
  registerWorkerCommand(program);
  return program;
}

/** Runs the CLI; returns the process exit code. Errors become one clear line, never a stack trace. */
export async function main(argv: readonly string[]): Promise<number> {
  try {
    await buildProgram().parseAsync([...argv], { from: "user" });
    return 0;
  } catch (error) {
    if (error instanceof CommanderError) return error.exitCode;
    if (isEaselError(error)) {
      // The operator runs the CLI: an error's message is the operator's version (a model-folder
      // or provider error names the file or library); for the others it is the user's message.
      process.stderr.write(`error: ${error.message}\n`);
      return 2;
    }
    process.stderr.write(`error: ${error instanceof Error ? error.message : String(error)}\n`);
    return 1;
  }
}
