/**
 * `easel convert --dtype float16 <in> <out>`: a float16 copy of an SDXL model folder (UNet and
 * text encoders in float16, the VAE float32 unless an fp16-safe VAE is given). Prints each
 * component's size before and after, and the setting that points easel at the result.
 */
import type { Command } from "commander";
import { readEaselPackage } from "../doctor/node-version.js";
import { formatBytes, formatCount } from "../doctor/types.js";
import { InvalidInputError } from "../errors.js";
import type { IoType } from "../pipeline/convert/graph.js";
import { type ConversionRecord, convertModelFolder } from "../pipeline/convert/index.js";

interface ConvertFlags {
  dtype: string;
  io: string;
  fp16SafeVae?: string;
}

function parseIo(text: string): IoType {
  if (text === "float32" || text === "float16") return text;
  throw new InvalidInputError(`--io must be float32 or float16, got "${text}".`, "io");
}

export interface ConvertRun {
  source: string;
  out: string;
  io?: IoType;
  fp16SafeVae?: string;
  write: (line: string) => void;
}

/** Converts and reports; shared by `easel convert` and `easel pull --dtype float16`. */
export async function convertAndReport(run: ConvertRun): Promise<ConversionRecord> {
  const started = performance.now();
  const record = await convertModelFolder(run.source, run.out, {
    dtype: "float16",
    io: run.io ?? "float32",
    ...(run.fp16SafeVae ? { fp16SafeVae: run.fp16SafeVae } : {}),
    toolVersion: readEaselPackage()?.version ?? "unknown",
    onComponent: (name) => run.write(`converting ${name}`),
  });
  let before = 0;
  let after = 0;
  for (const c of record.components) {
    before += c.sourceBytes;
    after += c.writtenBytes;
    run.write(
      `  ${c.name.padEnd(15)} ${c.dtype.padEnd(8)} ${formatCount(c.parameters).padStart(8)} parameters  ${formatBytes(c.sourceBytes)} -> ${formatBytes(c.writtenBytes)}`,
    );
  }
  const seconds = ((performance.now() - started) / 1000).toFixed(1);
  run.write(`wrote ${run.out} in ${seconds} s: ${formatBytes(before)} -> ${formatBytes(after)} of models`);
  return record;
}

export function registerConvertCommand(program: Command): void {
  program
    .command("convert")
    .description(
      "write a float16 copy of an SDXL ONNX model folder (UNet and text encoders; the VAE stays float32)",
    )
    .argument("<in>", "the float32 model folder (read only)")
    .argument("<out>", "the new folder (must not exist; written beside it and renamed when complete)")
    .requiredOption("--dtype <type>", "the weights' type: float16")
    .option(
      "--io <type>",
      "the models' input and output type: float32 (default, Casts inside) or float16",
      "float32",
    )
    .option(
      "--fp16-safe-vae <folder>",
      "an fp16-safe SDXL VAE export (e.g. sdxl-vae-fp16-fix) to convert in place of the VAE",
    )
    .action(async (source: string, out: string, flags: ConvertFlags) => {
      if (flags.dtype !== "float16") {
        throw new InvalidInputError(`--dtype must be float16, got "${flags.dtype}".`, "dtype");
      }
      const write = (line: string) => process.stdout.write(`${line}\n`);
      await convertAndReport({
        source,
        out,
        io: parseIo(flags.io),
        ...(flags.fp16SafeVae ? { fp16SafeVae: flags.fp16SafeVae } : {}),
        write,
      });
      write(`EASEL_MODEL_DIR=${out}`);
    });
}
