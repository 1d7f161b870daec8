/**
 * The API's one error shape, `{"error": {"code", "message"}}`, and the HTTP status of each code.
 * Messages are the user-facing sentences of our typed errors: no server paths, no stack traces.
 */
import type { ErrorCode } from "../../errors.js";

/** Our error codes plus the ones only HTTP has. */
export type ApiErrorCode =
  | ErrorCode
  | "unauthorized"
  | "bad_host"
  | "body_too_large"
  | "unsupported_media_type"
  | "request_timeout"
  | "expectation_failed"
  | "headers_too_large"
  /** The job store could not write (a full disk): nothing was changed. */
  | "storage"
  | "internal";

export interface ApiErrorBody {
  error: { code: ApiErrorCode; message: string };
}

/**
 * The HTTP status of every code: the one table for every answer (the chat service's refusals, the
 * guards' and HTTP's own). A code missing here does not compile.
 */
const STATUS: Record<ApiErrorCode, number> = {
  invalid_input: 400,
  unauthorized: 401,
  forbidden: 403,
  bad_host: 403,
  not_found: 404,
  request_timeout: 408,
  cancelled: 409,
  body_too_large: 413,
  expectation_failed: 417,
  unsupported_media_type: 415,
  queue_full: 429,
  headers_too_large: 431,
  internal: 500,
  config: 500,
  model_folder: 503,
  stopping: 503,
  device_failure: 503,
  moderation: 503,
  timeout: 504,
  // 507 rather than 503: operators tell a full disk from a restart or a device in the access log.
  storage: 507,
};

export function statusOf(code: ApiErrorCode): number {
  return STATUS[code];
}

/** An error a route answers with; the error handler turns it into the shape above. */
export class ApiError extends Error {
  readonly code: ApiErrorCode;
  readonly status: number;

  constructor(code: ApiErrorCode, message: string) {
    super(message);
    this.name = "ApiError";
    this.code = code;
    this.status = statusOf(code);
  }
}

export function errorBody(code: ApiErrorCode, message: string): ApiErrorBody {
  return { error: { code, message } };
}

/** Messages for errors that HTTP itself raises, before our routes see the request. */
export const httpMessages = {
  unauthorized: "This server needs an access token: send `Authorization: Bearer <token>`.",
  badHost: "This server only answers requests addressed to its own loopback address.",
  crossSite: "Requests from other sites are not accepted.",
  bodyTooLarge: (limit: number) => `The request body is larger than ${limit} bytes.`,
  notJson: "Send the request body as JSON (Content-Type: application/json).",
  badJson: "The request body is not valid JSON.",
  notFound: "There is no such route.",
  notPlainPath:
    "The request path must be written plainly: no percent-encoding, empty or dot segments, backslashes or semicolons.",
  badRequest: "The request is not valid HTTP.",
  requestTimeout: "The request did not arrive in time.",
  headersTooLarge: "The request's headers are too large.",
  expectation: "This server only supports `Expect: 100-continue`.",
  stopping: "The server is stopping. Please try again shortly.",
  noSuchJob: "There is no job with that id.",
  noSuchImage: "There is no such image (it may have been cleaned up).",
  internal: "Something went wrong on our side. Please try again.",
  badToken: "That token is not right.",
} as const;
