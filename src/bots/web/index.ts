/**
 * The "http" adapter: the local web chat, its JSON API, and the operator's /healthz and /metrics.
 * Always started: health and metrics are served whenever easel runs; `config.web.chat` decides the
 * rest (see server.ts).
 */
import type { Adapter } from "../adapter.js";
import { startWebServer, type WebServer } from "./server.js";

export interface HttpAdapterOptions {
  /** Told where the server listens once it does (EASEL_WEB_PORT=0 picks a free port). */
  onListening?: (server: Pick<WebServer, "url" | "port">) => void;
}

export function createHttpAdapter(options: HttpAdapterOptions = {}): Adapter {
  return {
    name: "http",
    enabled: () => true,
    async start(context) {
      const server = await startWebServer(context);
      options.onListening?.({ url: server.url, port: server.port });
      return { stop: () => server.stop() };
    },
  };
}

export const httpAdapter: Adapter = createHttpAdapter();

export { startWebServer, type WebServer } from "./server.js";
