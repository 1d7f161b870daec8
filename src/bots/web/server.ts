/**
 * The HTTP server on EASEL_WEB_HOST:EASEL_WEB_PORT: /healthz and /metrics always; the chat page and
 * /api/v1 when `config.web.chat`. Every request first passes the guards (request-guards.ts: Host,
 * cross-site, token, plain path) on the target exactly as received, before Fastify parses or routes
 * it; then it gets the browser's id. Every answer, Node's and Fastify's own included, has the API's
 * error shape, and an error answer closes its connection.
 */
import {
  createServer,
  type IncomingMessage,
  type Server,
  type ServerResponse,
  STATUS_CODES,
} from "node:http";
import type { Socket } from "node:net";
import Fastify, { type FastifyError, type FastifyInstance, type FastifyRequest } from "fastify";
import { isLoopbackHost } from "../../config.js";
import { ConfigError, isEaselError } from "../../errors.js";
import type { AdapterContext } from "../adapter.js";
import { registerApiRoutes } from "./api-routes.js";
import { BROWSER_COOKIE, isBrowserId, newBrowserId, parseCookies, setCookie } from "./cookies.js";
import { ApiError, type ApiErrorCode, errorBody, httpMessages, statusOf } from "./http-errors.js";
import { createQueueMetrics } from "./metrics.js";
import { registerOpsRoutes } from "./ops-routes.js";
import { registerPage } from "./page.js";
import { pathOf, type Refusal, refusalOf } from "./request-guards.js";
import { createStatusProbe } from "./status-probe.js";

/** Largest request body accepted: a prompt with every flag is a few kilobytes. */
export const MAX_BODY_BYTES = 64 * 1024;
/** An idle kept-alive connection is closed after this long (Node's default; Fastify's is 72 s). */
const KEEP_ALIVE_MS = 5000;
/** How often Node checks connections against the request timeout: the timeout's precision. */
const TIMEOUT_CHECK_MS = 1000;
/** How long an answer to a broken or slow request may take to flush before its connection is cut. */
const ERROR_FLUSH_MS = 1000;

export interface WebServer {
  /** Where the server listens, e.g. `http://127.0.0.1:8080/`. */
  url: string;
  port: number;
  stop(): Promise<void>;
}

function urlOf(host: string, port: number): string {
  const shown = host === "0.0.0.0" || host === "::" ? "localhost" : host;
  return `http://${shown.includes(":") ? `[${shown}]` : shown}:${port}/`;
}

function jsonError(code: ApiErrorCode, message: string): string {
  return JSON.stringify(errorBody(code, message));
}

/** Answers a refused request without reading its body, and closes the connection after. */
function refuse(res: ServerResponse, refusal: Refusal): void {
  const body = jsonError(refusal.code, refusal.message);
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
  if (error.code === "HPE_HEADER_OVERFLOW")
    return { code: "headers_too_large", message: httpMessages.headersTooLarge };
  return { code: "invalid_input", message: httpMessages.badRequest };
}

export async function startWebServer(context: AdapterContext): Promise<WebServer> {
  const { config, logger, chat, queue } = context;
  const { web } = config;
  const loopback = isLoopbackHost(web.host);
  if (web.chat && web.token === undefined && !loopback) {
    // loadConfig refuses this too; the server never serves generation to a network without a token.
    throw new ConfigError(
      `EASEL_WEB_TOKEN: required to serve the web chat and API on ${web.host}, which is not a loopback address.`,
    );
  }

  let port = web.port;
  let stopping = false;
  /** The response in progress on each connection: Node's own error answers must not cut into one. */
  const responses = new WeakMap<Socket, ServerResponse>();
  /** The guards, before Fastify parses or routes anything: answers a refused request; true when it may go on. */
  const admitted = (req: IncomingMessage, res: ServerResponse): boolean => {
    responses.set(req.socket, res);
    if (stopping) {
      refuse(res, { code: "stopping", message: httpMessages.stopping });
      return false;
    }
    const refusal = refusalOf(
      { method: req.method ?? "GET", url: req.url ?? "", headers: req.headers },
      { chat: web.chat, loopback, port, token: web.token },
    );
    if (refusal) refuse(res, refusal);
    return refusal === undefined;
  };

  const app: FastifyInstance = Fastify({
    logger: false,
    bodyLimit: MAX_BODY_BYTES,
    forceCloseConnections: true,
    return503OnClosing: true,
    // Our server: the guards run before Fastify sees a request, and time and connections are bounded.
    serverFactory: (route): Server => {
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
        if (admitted(req, res))
          refuse(res, { code: "expectation_failed", message: httpMessages.expectation });
      });
      server.maxConnections = web.maxConnections;
      return server;
    },
    clientErrorHandler: (error, socket) => {
      if (error.code === "ECONNRESET" || socket.destroyed) return;
      const { code, message } = clientErrorOf(error);
      const inFlight = responses.get(socket as Socket);
      if (!socket.writable || inFlight?.headersSent) {
        socket.destroy();
        return;
      }
      const status = statusOf(code);
      const body = jsonError(code, message);
      // Closed once the answer is flushed, or after a moment for a client that does not read.
      socket.once("finish", () => socket.destroy());
      setTimeout(() => socket.destroy(), ERROR_FLUSH_MS).unref();
      socket.end(
        `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ""}\r\ncontent-type: application/json; charset=utf-8\r\n` +
          `content-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`,
      );
    },
    // Fastify's router errors, past the guards (a plain path cannot be a bad URL; a long id can be too long).
    frameworkErrors: (error, _request, reply) => {
      reply.hijack();
      if (error.code === "FST_ERR_MAX_PARAM_LENGTH") {
        return refuse(reply.raw, { code: "not_found", message: httpMessages.notFound });
      }
      return refuse(reply.raw, { code: "invalid_input", message: httpMessages.notPlainPath });
    },
  });
  // JSON only: a cross-site form or no-cors fetch can send text/plain without a preflight.
  app.removeContentTypeParser("text/plain");

  const browserIds = new WeakMap<IncomingMessage, string>();
  const streams = new Set<() => void>();
  const probe = createStatusProbe(queue, logger);
  const metrics = createQueueMetrics(queue, probe);

  // The guards have passed (see frontDoor): API calls get the browser's id.
  app.addHook("onRequest", async (request, reply) => {
    if (!pathOf(request.url).startsWith("/api/")) return;
    let id = parseCookies(request.headers.cookie).get(BROWSER_COOKIE);
    if (!isBrowserId(id)) {
      id = newBrowserId();
      reply.header("set-cookie", setCookie(BROWSER_COOKIE, id, { sameSite: "Lax" }));
    }
    browserIds.set(request.raw, id);
  });
  // An error answer ends its connection: a client that is refused cannot keep trickling a body.
  app.addHook("onSend", async (_request, reply) => {
    if (reply.statusCode >= 400) reply.header("connection", "close");
  });

  app.setErrorHandler((error: FastifyError | ApiError | Error, request, reply) => {
    if (error instanceof ApiError) {
      // The chat service logged an internal failure's cause; this line says which call it failed.
      if (error.code === "internal") {
        logger.error(
          { code: error.code, method: request.method, path: pathOf(request.url) },
          "web request failed",
        );
      }
      return reply.code(error.status).send(errorBody(error.code, error.message));
    }
    if (isEaselError(error)) {
      const status = statusOf(error.code);
      if (status >= 500)
        logger.error({ err: error, method: request.method, path: pathOf(request.url) }, "web request failed");
      return reply.code(status).send(errorBody(error.code, error.userMessage));
    }
    const code = "code" in error ? error.code : undefined;
    if (code === "FST_ERR_CTP_BODY_TOO_LARGE") {
      return reply.code(413).send(errorBody("body_too_large", httpMessages.bodyTooLarge(MAX_BODY_BYTES)));
    }
    if (code === "FST_ERR_CTP_INVALID_MEDIA_TYPE") {
      return reply.code(415).send(errorBody("unsupported_media_type", httpMessages.notJson));
    }
    const status = "statusCode" in error && typeof error.statusCode === "number" ? error.statusCode : 500;
    if (status >= 400 && status < 500) {
      // Fastify's own client errors (malformed JSON, empty JSON body): nothing of ours inside.
      return reply.code(400).send(errorBody("invalid_input", httpMessages.badJson));
    }
    logger.error({ err: error, method: request.method, path: pathOf(request.url) }, "web request failed");
    return reply.code(500).send(errorBody("internal", httpMessages.internal));
  });
  app.setNotFoundHandler((_request, reply) =>
    reply.code(404).send(errorBody("not_found", httpMessages.notFound)),
  );

  registerOpsRoutes(app, probe, metrics);
  if (web.chat) {
    await registerPage(app);
    registerApiRoutes(app, {
      config,
      chat,
      streams,
      browserIdOf: (request: FastifyRequest) => {
        const id = browserIds.get(request.raw);
        if (id === undefined) throw new ApiError("internal", httpMessages.internal);
        return id;
      },
    });
  }

  try {
    await app.listen({ host: web.host, port: web.port });
  } catch (error) {
    metrics.close();
    throw error;
  }
  const address = app.server.address();
  port = typeof address === "object" && address !== null ? address.port : web.port;
  const url = urlOf(web.host, port);
  logger.info(
    { url, chat: web.chat, token: web.token !== undefined },
    web.chat ? `web chat on ${url}` : `health and metrics on ${url}healthz and ${url}metrics`,
  );

  return {
    url,
    port,
    async stop() {
      stopping = true;
      for (const end of [...streams]) end();
      metrics.close();
      await app.close();
    },
  };
}
