/**
 * Typed LoRA errors. A LoRA is chosen by whoever asks for an image, so its problems are their
 * input's problems: the user-facing message names the LoRA by file name only (never a server
 * path); `message` (logs, the CLI) names the file's path and the detail.
 */
import { basename } from "node:path";
import { EaselError } from "../../errors.js";

/** A LoRA file that cannot be read: not safetensors, out-of-range offsets, an unknown dtype, ... */
export class LoraFileError extends EaselError {
  readonly path: string;

  constructor(path: string, problem: string, options?: { cause?: unknown }) {
    super("invalid_input", `The LoRA "${basename(path)}" cannot be used: ${problem}.`, options);
    this.message = `${path}: ${problem}`;
    this.path = path;
  }
}

/**
 * A LoRA that fits no weight of the model it is applied to (e.g. an SD 1.5 LoRA on SDXL), or
 * cannot be merged into this model's form of the weights (Q/K/V packed into one weight).
 */
export class LoraMismatchError extends EaselError {
  readonly path: string;

  constructor(path: string, problem: string) {
    super("invalid_input", `The LoRA "${basename(path)}" does not fit this model: ${problem}.`);
    this.message = `${path}: ${problem}`;
    this.path = path;
  }
}
