/**
 * `easel pull <repo|preset> [--revision REV] [--dir models/NAME] [--force]`: downloads an SDXL ONNX
 * export from the Hub (HF_ENDPOINT, HF_TOKEN), then runs the doctor's model checks on the folder
 * and prints the setting that points easel at it.
 */
import { join } from "node:path";
import type { Command } from "commander";
import { loadConfigFromEnvironment } from "../config.js";
import { checkModelFolder } from "../doctor/index.js";
import { formatBytes } from "../doctor/types.js";
import { InvalidInputError } from "../errors.js";
import { HubClient } from "../hub/client.js";
import { bar, describeTransfer, TransferMeter } from "../hub/progress.js";
import { type PullEvent, pullModel } from "../hub/pull.js";
import { PRESETS, resolveRepo } from "../hub/repos.js";
import { MODEL_SETTINGS_FILE, writePresetSettings } from "../models/model-settings.js";
import { SessionClock } from "../pipeline/onnx/session.js";
import { TinyVaeDecoder } from "../pipeline/taesd.js";
import { convertAndReport } from "./convert.js";
import { checksFailed, formatCheck } from "./doctor.js";

interface PullFlags {
  revision: string;
  dir?: string;
  force?: boolean;
  dtype?: string;
}

/** Renders pull events: a redrawn bar on a terminal, a plain line every few seconds otherwise. */
function progressRenderer(stream: NodeJS.WriteStream): (event: PullEvent) => void {
  const tty = stream.isTTY === true;
  let meter: TransferMeter | undefined;
  let finished = 0;
  let lastDraw = 0;
  let current = "";
  let remaining = 0;
  const draw = (force = false) => {
    if (!meter) return;
    const now = performance.now();
    if (!force && now - lastDraw < (tty ? 100 : 5000)) return;
    lastDraw = now;
    if (tty) stream.write(`\r${bar(meter)} ${describeTransfer(meter)}  ${current}\x1b[K`);
    else stream.write(`  ${describeTransfer(meter)}\n`);
  };
  const line = (text: string) => stream.write(tty ? `\r\x1b[K${text}\n` : `${text}\n`);
  return (event) => {
    switch (event.kind) {
      case "pinned":
        line(`${event.repo} at ${event.revision} is commit ${event.commit}`);
        break;
      case "plan":
        meter = new TransferMeter(event.totalBytes);
        remaining = event.files.length;
        line(
          `${event.files.length} files, ${formatBytes(event.totalBytes)}${event.presentBytes > 0 ? ` (${formatBytes(event.presentBytes)} already here)` : ""}`,
        );
        break;
      case "file":
        current = event.file.path;
        if (!tty)
          line(`[${event.index + 1}/${event.count}] ${event.file.path} (${formatBytes(event.file.size)})`);
        break;
      case "kept":
        finished += event.file.size;
        remaining -= 1;
        meter?.update(finished);
        draw(remaining === 0);
        break;
      case "position":
        meter?.update(finished + event.bytes);
        draw();
        break;
      case "retry":
        line(`${event.file.path}: ${event.reason}; resuming (attempt ${event.attempt + 1})`);
        break;
      case "done":
        finished += event.file.size;
        remaining -= 1;
        meter?.update(finished);
        draw(remaining === 0 || event.file.size > 100e6);
        if (remaining === 0 && tty) stream.write("\n");
        break;
    }
  };
}

export function registerPullCommand(program: Command): void {
  const presets = Object.entries(PRESETS)
    .map(([name, preset]) => `${name} (${preset.repo})`)
    .join(", ");
  program
    .command("pull")
    .description("download an SDXL ONNX export from the Hugging Face Hub (HF_TOKEN, HF_ENDPOINT)")
    .argument("<repo>", `a preset: ${presets}; or a repository id owner/name`)
    .option("--revision <rev>", "branch, tag or commit (pinned to its commit before downloading)", "main")
    .option("--dir <folder>", "where to write the model (default: models/<preset or repository name>)")
    .option("--force", "pull into a finished or foreign folder, re-checking every file already there")
    .option(
      "--dtype <type>",
      "float16: after the verified download, also write a float16 copy to <dir>-fp16 and use it",
    )
    .action(async (spec: string, flags: PullFlags) => {
      if (flags.dtype !== undefined && flags.dtype !== "float16") {
        throw new InvalidInputError(`--dtype must be float16, got "${flags.dtype}".`, "dtype");
      }
      const config = await loadConfigFromEnvironment();
      const target = resolveRepo(spec);
      const dir = flags.dir ?? target.defaultDir;
      const client = new HubClient(config.hub);
      const result = await pullModel({
        client,
        repo: target.repo,
        revision: flags.revision,
        dir,
        force: flags.force === true,
        ...(target.kind ? { kind: target.kind } : {}),
        onEvent: progressRenderer(process.stderr),
      });
      process.stderr.write(
        `downloaded ${formatBytes(result.bytes)}; ${result.files.length} files in ${dir} at commit ${result.commit.slice(0, 12)}\n`,
      );
      if (target.kind === "taesd") {
        if (flags.dtype !== undefined) {
          throw new InvalidInputError("--dtype applies to SDXL models, not the tiny VAE.", "dtype");
        }
        // The check is a load on the CPU: the decoder's inputs and outputs are what a TAESD decoder has.
        const decoder = await TinyVaeDecoder.load(dir, { device: "cpu" }, new SessionClock());
        const range = decoder.folder.outputRange === "signed" ? "[-1, 1]" : "[0, 1]";
        await decoder.release();
        process.stdout.write(`ok    taesd  ${decoder.folder.model} loads; output in ${range}\n`);
        process.stdout.write(`EASEL_TAESD_DIR=${dir}\n`);
        return;
      }
      const report = await checkModelFolder(dir, undefined);
      for (const check of report.results) process.stdout.write(`${formatCheck(check)}\n`);
      if (report.results.some((check) => check.status === "fail")) throw checksFailed();
      const setting = report.kind === "refiner" ? "EASEL_REFINER_DIR" : "EASEL_MODEL_DIR";
      let useDir = dir;
      if (flags.dtype === "float16") {
        // The download stays as it is (a later pull resumes and re-verifies it); the copy is new.
        useDir = `${dir.replace(/[\\/]+$/, "")}-fp16`;
        await convertAndReport({
          source: dir,
          out: useDir,
          write: (line) => process.stderr.write(`${line}\n`),
        });
      }
      if (target.modelPreset && report.kind === "base") {
        for (const folder of new Set([dir, useDir])) {
          if (await writePresetSettings(folder, target.modelPreset)) {
            process.stderr.write(
              `wrote ${join(folder, MODEL_SETTINGS_FILE)} (preset ${target.modelPreset})\n`,
            );
          }
        }
      }
      process.stdout.write(`${setting}=${useDir}\n`);
    });
}
