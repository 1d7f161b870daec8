/**
 * The HTTP server on EASEL_WEB_HOST:EASEL_WEB_PORT: /healthz and /metrics always; the chat page and
 * /api/v1 when `config.web.chat`. Every request first passes the guards (front-door.ts and
 * request-guards.ts: Host, cross-site, token, plain path) on the target exactly as received, before
 * Fastify parses or routes it; then it gets the browser's id. Every answer, Node's and Fastify's own
 * included, has the API's error shape, and an error answer closes its connection.
 */
import type { IncomingMessage } from "node:http";
import Fastify, { type FastifyError, type FastifyInstance, type FastifyRequest } from "fastify";
import { isLoopbackHost } from "../../config.js";
import { ConfigError, isEaselError } from "../../errors.js";
import type { AdapterContext } from "../adapter.js";
import { registerApiRoutes } from "./api-routes.js";
import { BROWSER_COOKIE, isBrowserId, newBrowserId, parseCookies, setCookie } from "./cookies.js";
import { createFrontDoor, refuse } from "./front-door.js";
import { ApiError, errorBody, httpMessages, statusOf } from "./http-errors.js";
import { createQueueMetrics } from "./metrics.js";
import { registerOpsRoutes } from "./ops-routes.js";
import { registerPage } from "./page.js";
import { pathOf } from "./request-guards.js";
import { createStatusProbe } from "./status-probe.js";

/** Largest request body accepted: a prompt with every flag is a few kilobytes. */
export const MAX_BODY_BYTES = 64 * 1024;

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
  const door = createFrontDoor(web, () => ({ chat: web.chat, loopback, port, token: web.token }));
  const app: FastifyInstance = Fastify({
    logger: false,
    bodyLimit: MAX_BODY_BYTES,
    forceCloseConnections: true,
    return503OnClosing: true,
    // Our Node server: the guards run before Fastify sees a request; time and connections are bounded.
    serverFactory: door.serverFactory,
    clientErrorHandler: door.clientErrorHandler,
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

  // The guards have passed (front-door.ts): API calls get the browser's id.
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
      if (status >= 500) {
        logger.error({ err: error, method: request.method, path: pathOf(request.url) }, "web request failed");
      }
      return reply.code(status).send(errorBody(error.code, error.userMessage));
    }
    const code = "code" in error ? error.code : undefined;
    if (code === "FST_ERR_CTP_BODY_TOO_LARGE") {
      const limit = request.routeOptions.bodyLimit ?? MAX_BODY_BYTES;
      return reply.code(413).send(errorBody("body_too_large", httpMessages.bodyTooLarge(limit)));
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
      door.close();
      for (const end of [...streams]) end();
      metrics.close();
      await app.close();
    },
  };
}
