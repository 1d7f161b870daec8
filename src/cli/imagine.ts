/**
 * `easel imagine <text with flags>`: one request the way a chat user sends it, through the same
 * chat service, job queue, store and device workers as the bots (as the "cli" platform); prints
 * the caption and writes the images. A bad flag gives the chat user's message and a non-zero exit.
 */
import { existsSync } from "node:fs";
import { access, constants, mkdir } from "node:fs/promises";
import { userInfo } from "node:os";
import { join } from "node:path";
import type { Command } from "commander";
import type { ChatService, JobView } from "../commands/chat.js";
import { createChatService } from "../commands/chat-service.js";
import { isHelpRequest, parseImagine } from "../commands/imagine.js";
import { helpText } from "../commands/texts.js";
import { type Config, loadConfigFromEnvironment, modelNameOf, plainModel } from "../config.js";
import { ensureDemoModel } from "../demo-model.js";
import { CancelledError, EaselError } from "../errors.js";
import { describeFileError, writeFileAtomically } from "../files.js";
import { createLogger } from "../logger.js";
import { withModelCatalogue } from "../models/catalogue.js";
import { withLoraCatalogue } from "../models/loras.js";
import { createJobQueue, type JobQueue } from "../queue/index.js";
import { validateRequest } from "../queue/params.js";
import { IMAGE_EXTENSIONS } from "../requests/jobs.js";
import type { Requester } from "../requests/request.js";
import { randomSeed } from "./args.js";
import { progressBar } from "./progress-bar.js";

interface ImagineOptions {
  model?: string;
  out: string;
}

function requester(): Requester {
  let name = "cli";
  try {
    name = userInfo().username || name;
  } catch {
    // no passwd entry (some containers): keep the generic name
  }
  return { platform: "cli", userId: `cli:${name}`, userName: name };
}

/** Chat markup (`**bold**`, `code` spans) as plain terminal text. */
export function plainText(text: string): string {
  return text.replace(/\*\*(.+?)\*\*/g, "$1").replace(/`([^`]*)`/g, "$1");
}

const STOP_SIGNALS = ["SIGINT", "SIGTERM"] as const;

/**
 * Runs `body` with a signal that Ctrl-C (SIGINT) or SIGTERM aborts. The handlers stay until `body`
 * is over, so a second signal does not end the process in the middle of a job or of writing its
 * images: the job is cancelled and recorded as such, never left running in the store.
 */
export async function withCtrlC<T>(body: (interrupted: AbortSignal) => Promise<T>): Promise<T> {
  const controller = new AbortController();
  const onSignal = () => controller.abort(new CancelledError());
  for (const name of STOP_SIGNALS) process.on(name, onSignal);
  try {
    return await body(controller.signal);
  } finally {
    for (const name of STOP_SIGNALS) process.off(name, onSignal);
  }
}

/** Makes sure `dir` exists and can be written, before any job is submitted. */
async function prepareOutputFolder(dir: string): Promise<void> {
  try {
    await mkdir(dir, { recursive: true });
    await access(dir, constants.W_OK);
  } catch (error) {
    throw new Error(`could not write ${dir}: ${describeFileError(error)}`, { cause: error });
  }
}

/** Writes one image whole or not at all; the error names the path. */
async function writeImage(path: string, data: Uint8Array): Promise<void> {
  try {
    await writeFileAtomically(path, data);
  } catch (error) {
    throw new Error(`could not write ${path}: ${describeFileError(error)}`, { cause: error });
  }
}

/**
 * Loads the queue's engines, then asks the chat service for `text` and waits for the job's final
 * view. Interrupted while loading, nothing is submitted; interrupted later, the job is cancelled.
 * Rejects with the private answer's EaselError, the failed job's, or a CancelledError.
 */
export async function runToEnd(
  queue: JobQueue,
  chat: ChatService,
  text: string,
  asker: Requester,
  interrupted: AbortSignal,
  onView: (view: JobView) => void = () => {},
): Promise<JobView> {
  const starting = queue.start(); // load the models first, so the caption's time is the generation's own
  await new Promise<void>((resolve, reject) => {
    const onInterrupt = () => reject(new CancelledError());
    interrupted.addEventListener("abort", onInterrupt, { once: true });
    starting.then(resolve, reject).finally(() => interrupted.removeEventListener("abort", onInterrupt));
  });
  if (interrupted.aborted) throw new CancelledError();
  const reply = await chat.imagine({ text }, asker, asker);
  if (reply.kind === "refusal") throw new EaselError(reply.code, reply.text);
  if (reply.kind === "info") throw new EaselError("invalid_input", reply.text);
  const final = new Promise<JobView>((resolve) => {
    chat.watch(reply.jobId, (view) => (view.final ? resolve(view) : onView(view)));
  });
  const cancel = () => {
    queue.cancel(reply.jobId, asker.userId).catch(() => {
      // it ended meanwhile: the final view tells how
    });
  };
  interrupted.addEventListener("abort", cancel, { once: true });
  try {
    const view = await final;
    if (view.state === "cancelled") throw new CancelledError();
    if (view.state === "failed") {
      const record = await queue.job(reply.jobId);
      throw new EaselError(record?.error?.code ?? "device_failure", record?.error?.message ?? view.text);
    }
    return view;
  } finally {
    interrupted.removeEventListener("abort", cancel);
  }
}

async function imagine(words: string[], options: ImagineOptions): Promise<void> {
  let text = words.join(" ");
  const loaded = await loadConfigFromEnvironment();
  // `--model` is a folder, or (unquoted `a fox --model turbo`) a catalogue model's name.
  const named = options.model !== undefined && !/[\\/]|^\./.test(options.model) && !existsSync(options.model);
  const folder = named ? undefined : options.model;
  let config: Config;
  if (folder) {
    const only = plainModel(modelNameOf(folder), folder);
    config = {
      ...loaded,
      modelDir: folder,
      demoModel: false,
      models: { models: [only], defaultName: only.name },
    };
  } else {
    config = await withLoraCatalogue((await withModelCatalogue(loaded)).config);
    if (options.model !== undefined) text = `${text} --model ${options.model}`;
  }
  if (text.trim() === "" || isHelpRequest({ text })) {
    process.stdout.write(`${plainText(helpText(config))}\n`);
    return;
  }
  const asker = requester();
  // Parse and check before touching the store or loading a model: bad input costs nothing. The
  // pipeline's own checks (emphasis weights, invisible-only prompts, seed + count) run here too.
  validateRequest(parseImagine({ text }, asker, config, randomSeed));
  await prepareOutputFolder(options.out);
  const logger = createLogger({ logLevel: config.logLevel === "info" ? "warn" : config.logLevel });
  await ensureDemoModel(config, logger);
  const queue = createJobQueue(config, { logger, processKind: "cli" });
  try {
    // Jobs of earlier `easel imagine` runs that were killed are failed; a concurrent run's are left.
    const { failed } = await queue.recover();
    for (const jobId of failed) {
      process.stderr.write(`job ${jobId} of an easel imagine run that ended early is marked failed\n`);
    }
  } catch (error) {
    await queue.stop();
    throw error;
  }
  const chat = createChatService({ config, queue, logger, randomSeed });
  await withCtrlC(async (interrupted) => {
    try {
      const bar = progressBar();
      const startedAt = performance.now();
      let lastState = "";
      const view = await runToEnd(queue, chat, text, asker, interrupted, (progress) => {
        if (progress.state === "queued" && lastState !== progress.text)
          process.stderr.write(`${progress.text}\n`);
        if (progress.state === "running" && progress.total) {
          bar?.({
            step: progress.step ?? 0,
            totalSteps: progress.total,
            stage: "base",
            elapsedMs: performance.now() - startedAt,
          });
        }
        lastState = progress.text;
      });
      const paths: string[] = [];
      for (const image of view.images) {
        const bytes = await chat.image(image.id);
        if (!bytes)
          throw new EaselError("not_found", `image ${image.index + 1} of job ${view.jobId} is gone`);
        const path = join(options.out, `${view.jobId}-${image.index + 1}.${IMAGE_EXTENSIONS[bytes.mime]}`);
        await writeImage(path, bytes.data);
        paths.push(path);
      }
      await chat.posted(view.jobId, `file:${options.out}`);
      process.stdout.write(`${plainText(view.text)}\n`);
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
    .argument(
      "[text...]",
      'the prompt with flags, e.g. a lighthouse at dusk --ar 16:9 --seed 7 (quotes optional; "help" lists the flags)',
    )
    .option(
      "--model <dir|name>",
      "SDXL base ONNX folder, or a model of the catalogue by name (default: the catalogue's default model)",
    )
    .option("--out <dir>", "folder the images are written to", "out")
    .allowUnknownOption()
    .addHelpText("after", "\nThe chat flags (--ar, --seed, --steps, ...): easel imagine help")
    .action((words: string[], options: ImagineOptions) => imagine(words, options));
}
