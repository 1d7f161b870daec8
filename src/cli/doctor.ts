/**
 * `easel doctor [--json]`: one line per check (ok / warn / fail, and why), or one JSON object;
 * exit status 1 when a check fails.
 */
import { type Command, CommanderError } from "commander";
import { loadConfigFromEnvironment } from "../config.js";
import { type CheckResult, runDoctor } from "../doctor/index.js";

const NAME_WIDTH = 22;

/** `fail  base/unet              unet/model.onnx_data is truncated: …` */
export function formatCheck(result: CheckResult): string {
  return `${result.status.padEnd(4)}  ${result.name.padEnd(NAME_WIDTH)}  ${result.message}`;
}

export function summarise(checks: readonly CheckResult[]): string {
  const count = (status: CheckResult["status"]) => checks.filter((check) => check.status === status).length;
  const failed = count("fail");
  const warned = count("warn");
  if (failed > 0)
    return `${failed} check${failed === 1 ? "" : "s"} failed, ${warned} warning${warned === 1 ? "" : "s"}`;
  return warned > 0 ? `all checks passed, ${warned} warning${warned === 1 ? "" : "s"}` : "all checks passed";
}

/** The exit of a command whose checks failed: status 1, the lines already said why. */
export function checksFailed(): CommanderError {
  return new CommanderError(1, "easel.checks.failed", "");
}

export function registerDoctorCommand(program: Command): void {
  program
    .command("doctor")
    .description("check this box: Node, settings, data dir, models, devices (CUDA), memory, chat settings")
    .option("--json", "print one JSON object instead of lines")
    .action(async (options: { json?: boolean }) => {
      let config: Awaited<ReturnType<typeof loadConfigFromEnvironment>> | Error;
      try {
        config = await loadConfigFromEnvironment();
      } catch (error) {
        config = error instanceof Error ? error : new Error(String(error));
      }
      const print = (line: string) => process.stdout.write(`${line}\n`);
      const report = await runDoctor({
        config,
        onResult: options.json ? undefined : (result) => print(formatCheck(result)),
      });
      if (options.json) print(JSON.stringify(report, null, 2));
      else print(summarise(report.checks));
      if (!report.ok) throw checksFailed();
    });
}
