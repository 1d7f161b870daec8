/**
 * The Node HTTP server under Fastify: where every request meets the guards before Fastify parses
 * or routes it, where the time to send a request and the number of connections are bounded, and
 * where Node's own answers (a slow, oversized or broken request, an unknown expectation) get the
 * API's error shape. Every error answered here closes its connection.
 */
import {
  createServer,
  type IncomingMessage,
  type Server,
  type ServerResponse,
  STATUS_CODES,
} from "node:http";
import type { Socket } from "node:net";
import type { WebConfig } from "../../config.js";
import { type ApiErrorCode, errorBody, httpMessages, statusOf } from "./http-errors.js";
import { type GuardSettings, type Refusal, refusalOf } from "./request-guards.js";

/** An idle kept-alive connection is closed after this long (Node's default; Fastify's is 72 s). */
const KEEP_ALIVE_MS = 5000;
/** How often Node checks connections against the request timeout: the timeout's precision. */
const TIMEOUT_CHECK_MS = 1000;
/** How long an answer to a broken or slow request may take to flush before its connection is cut. */
const ERROR_FLUSH_MS = 1000;

type Handler = (req: IncomingMessage, res: ServerResponse) => void;

export interface FrontDoor {
  /** Fastify's `serverFactory`: a Node server that runs `route` (Fastify) only for admitted requests. */
  serverFactory(route: Handler): Server;
  /** Fastify's `clientErrorHandler`: a connection that never made a whole request. */
  clientErrorHandler(error: Error & { code?: string }, socket: Socket): void;
  /** From now on every request is answered 503 `stopping`. */
  close(): void;
}

/** Answers a request in the error shape without reading its body, and closes the connection after. */
export function refuse(res: ServerResponse, refusal: Refusal): void {
  const body = JSON.stringify(errorBody(refusal.code, refusal.message));
  res.writeHead(statusOf(refusal.code), {
    ...refusal.headers,
    "content-type": "application/json; charset=utf-8",
    "content-length": Buffer.byteLength(body),
    "cache-control": "no-store",
    connection: "close",
  });
  res.end(body);
}

/** What Node reports for a connection that never made a whole request: too slow, too large, not HTTP. */
function clientErrorOf(error: Error & { code?: string }): { code: ApiErrorCode; message: string } {
  if (error.code === "ERR_HTTP_REQUEST_TIMEOUT") {
    return { code: "request_timeout", message: httpMessages.requestTimeout };
  }
  if (error.code === "HPE_HEADER_OVERFLOW") {
    return { code: "headers_too_large", message: httpMessages.headersTooLarge };
  }
  return { code: "invalid_input", message: httpMessages.badRequest };
}

/**
 * `guards()` gives the guards' settings at the time of a request (the port is known only once the
 * server listens).
 */
export function createFrontDoor(web: WebConfig, guards: () => GuardSettings): FrontDoor {
  let stopping = false;
  /** The response in progress on each connection: Node's own error answers must not cut into one. */
  const responses = new WeakMap<Socket, ServerResponse>();

  /** The guards: answers a refused request; true when it may go on to Fastify. */
  const admitted = (req: IncomingMessage, res: ServerResponse): boolean => {
    responses.set(req.socket, res);
    if (stopping) {
      refuse(res, { code: "stopping", message: httpMessages.stopping });
      return false;
    }
    const refusal = refusalOf(
      { method: req.method ?? "GET", url: req.url ?? "", headers: req.headers },
      guards(),
    );
    if (refusal) refuse(res, refusal);
    return refusal === undefined;
  };

  return {
    serverFactory(route) {
      const server = createServer(
        {
          requestTimeout: web.requestTimeoutMs,
          headersTimeout: web.requestTimeoutMs,
          connectionsCheckingInterval: Math.min(TIMEOUT_CHECK_MS, web.requestTimeoutMs),
          keepAliveTimeout: KEEP_ALIVE_MS,
        },
        (req, res) => {
          if (admitted(req, res)) route(req, res);
        },
      );
      // `Expect: 100-continue`: a refused client is answered before it is invited to send its body.
      server.on("checkContinue", (req: IncomingMessage, res: ServerResponse) => {
        if (!admitted(req, res)) return;
        res.writeContinue();
        route(req, res);
      });
      // Any other expectation: the guards' answer, else 417 in the error shape (Node's own has no body).
      server.on("checkExpectation", (req: IncomingMessage, res: ServerResponse) => {
        if (admitted(req, res)) {
          refuse(res, { code: "expectation_failed", message: httpMessages.expectation });
        }
      });
      server.maxConnections = web.maxConnections;
      return server;
    },

    clientErrorHandler(error, socket) {
      if (error.code === "ECONNRESET" || socket.destroyed) return;
      if (!socket.writable || responses.get(socket)?.headersSent) {
        socket.destroy();
        return;
      }
      const { code, message } = clientErrorOf(error);
      const status = statusOf(code);
      const body = JSON.stringify(errorBody(code, message));
      // Closed once the answer is flushed, or after a moment for a client that does not read.
      socket.once("finish", () => socket.destroy());
      setTimeout(() => socket.destroy(), ERROR_FLUSH_MS).unref();
      socket.end(
        `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ""}\r\ncontent-type: application/json; charset=utf-8\r\n` +
          `content-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`,
      );
    },

    close() {
      stopping = true;
    },
  };
}
