/**
 * Typed errors. Every error a user can cause carries a `userMessage` that is safe to show in
 * chat or on the command line; `code` lets callers branch without parsing text.
 */
export type ErrorCode =
  | "invalid_input"
  | "model_folder"
  | "cancelled"
  /** A limit was reached (the queue's, a user's daily quota or cooldown); the message says when to retry. */
  | "queue_full"
  /** The queue is shutting down and takes no new jobs (a restart; try again shortly). */
  | "stopping"
  | "not_found"
  | "forbidden"
  | "timeout"
  | "device_failure"
  /** Writing the data dir failed (images, the job store): a full disk, a read-only mount. */
  | "storage"
  | "config"
  /** Output moderation could not classify an image: the job fails rather than post it unchecked. */
  | "moderation"
  /** Something failed on our side that no other code names (logged with its cause). */
  | "internal";

export class EaselError extends Error {
  readonly code: ErrorCode;
  readonly userMessage: string;

  constructor(code: ErrorCode, userMessage: string, options?: { cause?: unknown }) {
    super(userMessage, options);
    this.name = new.target.name;
    this.code = code;
    this.userMessage = userMessage;
  }
}

/** Bad input from a user or a caller: nothing was queued or run. */
export class InvalidInputError extends EaselError {
  /** The option or flag at fault, when there is one (e.g. "steps"). */
  readonly field: string | undefined;

  constructor(message: string, field?: string) {
    super("invalid_input", message);
    this.field = field;
  }
}

/**
 * A model folder that is missing, malformed or not an SDXL export. `message` names the file and
 * what was expected (for the operator: logs, the CLI); chat users get a message without server paths.
 */
export class ModelFolderError extends EaselError {
  readonly path: string;

  constructor(path: string, problem: string, options?: { cause?: unknown }) {
    super(
      "model_folder",
      "The image model on this server is not set up correctly; its owner can see why in the logs.",
      options,
    );
    this.message = `${path}: ${problem}`;
    this.path = path;
  }
}

/** The run was stopped through its AbortSignal. */
export class CancelledError extends EaselError {
  constructor(message = "Cancelled.") {
    super("cancelled", message);
  }
}

/** A device failed while running a job (ONNX error, out of memory, crashed worker). */
export class DeviceFailureError extends EaselError {
  constructor(userMessage: string, options?: { cause?: unknown }) {
    super("device_failure", userMessage, options);
  }
}

export class ConfigError extends EaselError {
  constructor(message: string) {
    super("config", message);
  }
}

export function isEaselError(error: unknown): error is EaselError {
  return error instanceof EaselError;
}

/** The message to show a chat user for any thrown value; internal details stay in the logs. */
export function userMessageOf(error: unknown): string {
  return isEaselError(error) ? error.userMessage : "Something went wrong on our side. Please try again.";
}
