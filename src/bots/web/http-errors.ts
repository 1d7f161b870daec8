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
  | "internal";

export interface ApiErrorBody {
  error: { code: ApiErrorCode; message: string };
}

const STATUS: Record<ApiErrorCode, number> = {
  invalid_input: 400,
  model_folder: 503,
  cancelled: 409,
  queue_full: 429,
  stopping: 503,
  not_found: 404,
  forbidden: 403,
  timeout: 504,
  device_failure: 503,
  storage: 507,
  config: 500,
  unauthorized: 401,
  bad_host: 403,
  body_too_large: 413,
  unsupported_media_type: 415,
  internal: 500,
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
  noSuchJob: "There is no job with that id.",
  noSuchImage: "There is no such image (it may have been cleaned up).",
  internal: "Something went wrong on our side. Please try again.",
  badToken: "That token is not right.",
} as const;
