/** Errors of talking to the Hugging Face Hub; each message is safe to print (never the token). */
import { EaselError, type ErrorCode } from "../errors.js";

export type HubProblem =
  /** 401/403: a token is missing, refused, or lacks access (gated repository). */
  | "auth"
  /** 404: no such repository, revision or file. */
  | "not_found"
  /** The bytes did not match the hash the Hub lists. */
  | "integrity"
  /** The connection failed or kept failing; a rerun resumes. */
  | "network"
  /** The Hub answered something unexpected. */
  | "protocol"
  /** The repository is not an SDXL ONNX export. */
  | "not_onnx"
  /** The target folder is finished or not ours; --force overrides. */
  | "refused";

const CODES: Record<HubProblem, ErrorCode> = {
  auth: "forbidden",
  not_found: "not_found",
  integrity: "invalid_input",
  network: "invalid_input",
  protocol: "invalid_input",
  not_onnx: "invalid_input",
  refused: "invalid_input",
};

export class HubError extends EaselError {
  constructor(
    readonly problem: HubProblem,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(CODES[problem], message, options);
  }
}

/** The message for a 401/403 from the Hub: what to do about the token, never the token itself. */
export function authProblem(status: number, what: string, hasToken: boolean): HubError {
  const message = hasToken
    ? `The Hub refused HF_TOKEN for ${what} (HTTP ${status}): check that the token is valid and has read access, and for a gated model that you accepted its terms on the model page.`
    : `The Hub needs a token for ${what} (HTTP ${status}): set HF_TOKEN to a Hugging Face access token with read access (and accept the model's terms on its page if it is gated).`;
  return new HubError("auth", message);
}
