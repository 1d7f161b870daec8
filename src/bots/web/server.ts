/**
 * The HTTP server on EASEL_WEB_HOST:EASEL_WEB_PORT: /healthz and /metrics always; the chat page and
 * /api/v1 when `config.web.chat`. Requests pass, in order: the Host check (loopback only), the
 * cross-site check and the token check (API only), then get the browser's id.
 */
import type { IncomingMessage } from "node:http";
import Fastify, { type FastifyError, type FastifyInstance, type FastifyRequest } from "fastify";
import { isLoopbackHost } from "../../config.js";
import { ConfigError, isEaselError } from "../../errors.js";
import type { AdapterContext } from "../adapter.js";
import { registerApiRoutes } from "./api-routes.js";
import { BROWSER_COOKIE, isBrowserId, newBrowserId, parseCookies, setCookie } from "./cookies.js";
import { ApiError, errorBody, httpMessages, statusOf } from "./http-errors.js";
import { createQueueMetrics } from "./metrics.js";
import { registerOpsRoutes } from "./ops-routes.js";
import { registerPage } from "./page.js";
import { hostIsOurs, isAuthorised, isCrossSite } from "./request-guards.js";

/** Largest request body accepted: a prompt with every flag is a few kilobytes. */
export const MAX_BODY_BYTES = 64 * 1024;

export interface WebServer {
  /** Where the server listens, e.g. `http://127.0.0.1:8080/`. */
  url: string;
  port: number;
  stop(): Promise<void>;
}

const OPS_PATHS = new Set(["/healthz", "/metrics"]);

function pathOf(url: string): string {
  const query = url.indexOf("?");
  return query === -1 ? url : url.slice(0, query);
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
  const app: FastifyInstance = Fastify({
    logger: false,
    bodyLimit: MAX_BODY_BYTES,
    forceCloseConnections: true,
    return503OnClosing: true,
  });
  // JSON only: a cross-site form or no-cors fetch can send text/plain without a preflight.
  app.removeContentTypeParser("text/plain");

  let port = web.port;
  const browserIds = new WeakMap<IncomingMessage, string>();
  const streams = new Set<() => void>();
  const metrics = createQueueMetrics(queue);

  app.addHook("onRequest", async (request, reply) => {
    const path = pathOf(request.url);
    if (OPS_PATHS.has(path) || !web.chat) return;
    if (loopback && !hostIsOurs(request.headers.host, port))
      throw new ApiError("bad_host", httpMessages.badHost);
    if (!path.startsWith("/api/")) return;
    if (request.method !== "GET" && request.method !== "HEAD" && isCrossSite(request.headers)) {
      throw new ApiError("forbidden", httpMessages.crossSite);
    }
    if (web.token !== undefined && path !== "/api/v1/session" && !isAuthorised(request.headers, web.token)) {
      reply.header("www-authenticate", 'Bearer realm="easel"');
      throw new ApiError("unauthorized", httpMessages.unauthorized);
    }
    let id = parseCookies(request.headers.cookie).get(BROWSER_COOKIE);
    if (!isBrowserId(id)) {
      id = newBrowserId();
      reply.header("set-cookie", setCookie(BROWSER_COOKIE, id, { sameSite: "Lax" }));
    }
    browserIds.set(request.raw, id);
  });

  app.setErrorHandler((error: FastifyError | ApiError | Error, request, reply) => {
    if (error instanceof ApiError) return reply.code(error.status).send(errorBody(error.code, error.message));
    if (isEaselError(error)) {
      return reply.code(statusOf(error.code)).send(errorBody(error.code, error.userMessage));
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

  registerOpsRoutes(app, queue, metrics);
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
      for (const end of [...streams]) end();
      metrics.close();
      await app.close();
    },
  };
}
