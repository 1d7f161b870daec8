/**
 * `easel imagine "<text with flags>"`: one request the way a chat user sends it, through the same
 * parsing, validation, queue, job store and device workers as the bots; prints the caption and
 * writes the images. A bad flag gives the chat user's message and a non-zero exit.
 */
import { copyFile, mkdir } from "node:fs/promises";
import { userInfo } from "node:os";
import { extname, join } from "node:path";
import type { Command } from "commander";
import { isHelpRequest, parseImagine } from "../commands/imagine.js";
import { helpText, queuedText, resultCaption } from "../commands/texts.js";
import { type Config, loadConfigFromEnvironment } from "../config.js";
import { CancelledError, DeviceFailureError, EaselError, type ErrorCode } from "../errors.js";
import { GenerationQueue, type QueueEvents } from "../queue/index.js";
import type { GenerationRequest, Requester } from "../requests/request.js";
import { randomSeed } from "./args.js";
import { progressBar } from "./progress-bar.js";

interface ImagineOptions {
  model?: string;
  out: string;
}

const ERROR_CODES: readonly ErrorCode[] = [
  "invalid_input",
  "model_folder",
  "not_found",
  "timeout",
  "queue_full",
];

function requester(): Requester {
  let name = "cli";
  try {
    name = userInfo().username || name;
  } catch {
    // no passwd entry (some containers): keep the generic name
  }
  return { platform: "cli", userId: `cli:${name}`, userName: name };
}

/** Waits for the job's end; resolves with the done event, rejects with the user-facing error. */
function outcome(queue: GenerationQueue, jobId: string): Promise<QueueEvents["done"]> {
  return new Promise((resolve, reject) => {
    queue.on("done", (event) => event.jobId === jobId && resolve(event));
    queue.on("cancelled", (event) => event.jobId === jobId && reject(new CancelledError()));
    queue.on("failed", (event) => {
      if (event.jobId !== jobId) return;
      const code = ERROR_CODES.find((known) => known === event.code);
      reject(code ? new EaselError(code, event.message) : new DeviceFailureError(event.message));
    });
  });
}

/**
 * Runs `body` with a signal that Ctrl-C aborts. The handler stays until `body` is over, so a second
 * Ctrl-C does not end the process in the middle of a job or of writing its images.
 */
export async function withCtrlC<T>(body: (interrupted: AbortSignal) => Promise<T>): Promise<T> {
  const controller = new AbortController();
  const onSigint = () => controller.abort(new CancelledError());
  process.on("SIGINT", onSigint);
  try {
    return await body(controller.signal);
  } finally {
    process.off("SIGINT", onSigint);
  }
}

/**
 * Loads the queue's engines, then submits `request` and waits for its end. Interrupted while
 * loading, nothing is submitted; interrupted later, the job is cancelled. Either way it rejects
 * with a CancelledError.
 */
export async function runToEnd(
  queue: GenerationQueue,
  request: GenerationRequest,
  interrupted: AbortSignal,
): Promise<{ jobId: string; done: QueueEvents["done"] }> {
  const starting = queue.start(); // load the models first, so the caption's time is the generation's own
  await new Promise<void>((resolve, reject) => {
    const onInterrupt = () => reject(new CancelledError());
    interrupted.addEventListener("abort", onInterrupt, { once: true });
    starting.then(resolve, reject).finally(() => interrupted.removeEventListener("abort", onInterrupt));
  });
  if (interrupted.aborted) throw new CancelledError();
  const { jobId } = queue.submit(request);
  const ended = outcome(queue, jobId);
  const cancel = () => {
    try {
      queue.cancel(jobId, request.requester.userId);
    } catch {
      // it ended meanwhile: `ended` already tells how
    }
  };
  interrupted.addEventListener("abort", cancel, { once: true });
  try {
    return { jobId, done: await ended };
  } finally {
    interrupted.removeEventListener("abort", cancel);
  }
}

async function imagine(text: string, options: ImagineOptions): Promise<void> {
  const loaded = await loadConfigFromEnvironment();
  const config: Config = options.model ? { ...loaded, modelDir: options.model } : loaded;
  if (isHelpRequest({ text })) {
    process.stdout.write(`${helpText(config)}\n`);
    return;
  }
  // Parse before touching the store or starting a worker: bad input costs nothing.
  const request = parseImagine({ text }, requester(), config, randomSeed);
  const queue = new GenerationQueue({ config });
  await withCtrlC(async (interrupted) => {
    try {
      const bar = progressBar();
      let startedAt = performance.now();
      queue.on("queued", (event) => process.stderr.write(`${queuedText(event.position)}\n`));
      queue.on("started", (event) => {
        startedAt = performance.now();
        process.stderr.write(`started on ${event.device}\n`);
      });
      queue.on("progress", (event) =>
        bar?.({
          step: event.step,
          totalSteps: event.total,
          stage: event.stage,
          elapsedMs: performance.now() - startedAt,
        }),
      );
      const { jobId, done } = await runToEnd(queue, request, interrupted);
      await mkdir(options.out, { recursive: true });
      const paths: string[] = [];
      for (const image of done.images) {
        const path = join(options.out, `${jobId}-${image.index + 1}${extname(image.path)}`);
        await copyFile(image.path, path);
        paths.push(path);
      }
      queue.markPosted(jobId, `file:${options.out}`);
      await queue.sweep();
      process.stdout.write(`${resultCaption(request, { seeds: done.seeds, durationMs: done.durationMs })}\n`);
      for (const path of paths) process.stdout.write(`${path}\n`);
    } finally {
      await queue.stop();
    }
  });
}

export function registerImagineCommand(program: Command): void {
  program
    .command("imagine")
    .description("run one /imagine request through the queue, as a chat user would send it")
    .argument("<text>", 'the prompt with flags, e.g. "a lighthouse at dusk --ar 16:9 --seed 7"')
    .option("--model <dir>", "SDXL base ONNX folder (default: EASEL_MODEL_DIR)")
    .option("--out <dir>", "folder the images are written to", "out")
    .action((text: string, options: ImagineOptions) => imagine(text, options));
}
