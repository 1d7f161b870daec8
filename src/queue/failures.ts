/**
 * How the queue describes failures: the operator's detail of an error (its causes), and the
 * storage error. A write to the data dir that failed (a full disk, a read-only mount, a store that cannot take a
 * write): its own error code, so that it is not taken for a device failure. `message` names the
 * path for the operator's logs; users get `userMessage`, which names none.
 */
import { EaselError } from "../errors.js";
import { queueMessages } from "./messages.js";

export class StorageError extends EaselError {
  readonly path: string;

  constructor(path: string, cause: unknown) {
    super("storage", queueMessages.storageFailed(), { cause });
    this.message = `cannot write ${path}: ${cause instanceof Error ? cause.message : String(cause)}`;
    this.path = path;
  }
}

/** The internal story of an error, for the operator's logs: its message and its causes'. */
export function detailOf(error: unknown): string {
  const parts: string[] = [];
  for (
    let e: unknown = error;
    e !== undefined && parts.length < 4;
    e = e instanceof Error ? e.cause : undefined
  ) {
    parts.push(e instanceof Error ? e.message : String(e));
  }
  return parts.join(" <- ");
}
