/**
 * The "http" adapter: the local web chat, its JSON API, and the operator's /healthz and /metrics.
 * Always started: health and metrics are served whenever easel runs; `config.web.chat` decides the
 * rest (see server.ts).
 */
import type { Adapter } from "../adapter.js";
import { startWebServer } from "./server.js";

export const httpAdapter: Adapter = {
  name: "http",
  enabled: () => true,
  async start(context) {
    const server = await startWebServer(context);
    return { stop: () => server.stop() };
  },
};

export { startWebServer, type WebServer } from "./server.js";
