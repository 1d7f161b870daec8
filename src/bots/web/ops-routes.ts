/** `/healthz` and `/metrics`: served whenever easel runs, without a token (a Discord-only container is healthy too). */
import type { FastifyInstance } from "fastify";
import type { QueueMetrics } from "./metrics.js";
import type { StatusProbe } from "./status-probe.js";

export function registerOpsRoutes(app: FastifyInstance, probe: StatusProbe, metrics: QueueMetrics): void {
  /**
   * 200 `ok` with the queue's numbers; 503 `unavailable` naming what is down (the queue's own
   * problems, or the queue itself when it fails or does not answer within the deadline).
   */
  app.get("/healthz", async (_request, reply) => {
    reply.header("cache-control", "no-store");
    const reading = await probe();
    if (!reading.ok) return reply.code(503).send({ status: "unavailable", problems: [reading.problem] });
    const { status } = reading;
    const problems = status.problems ?? [];
    if (problems.length > 0) return reply.code(503).send({ status: "unavailable", problems });
    return {
      status: "ok",
      waiting: status.waiting,
      running: status.running,
      devices: status.devices.map((device) => ({
        device: device.device,
        busy: device.jobId !== undefined,
        ...(device.ready === undefined ? {} : { ready: device.ready }),
      })),
    };
  });

  app.get("/metrics", async (_request, reply) => {
    reply.type(metrics.registry.contentType).header("cache-control", "no-store");
    return metrics.render();
  });
}
