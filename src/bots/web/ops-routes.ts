/** `/healthz` and `/metrics`: served whenever easel runs, without a token (a Discord-only container is healthy too). */
import type { FastifyInstance } from "fastify";
import type { QueueMonitor } from "../../requests/jobs.js";
import type { QueueMetrics } from "./metrics.js";

export function registerOpsRoutes(app: FastifyInstance, queue: QueueMonitor, metrics: QueueMetrics): void {
  app.get("/healthz", async (_request, reply) => {
    try {
      const status = await queue.status();
      return {
        status: "ok",
        waiting: status.waiting,
        running: status.running,
        devices: status.devices.map((device) => ({
          device: device.device,
          busy: device.jobId !== undefined,
        })),
      };
    } catch {
      // The queue's backend (e.g. Redis) does not answer: not healthy, and no details for callers.
      return reply.code(503).send({ status: "unavailable" });
    }
  });

  app.get("/metrics", async (_request, reply) => {
    reply.type(metrics.registry.contentType).header("cache-control", "no-store");
    return metrics.render();
  });
}
