/**
 * Where the scale-out backend keeps things in Redis. BullMQ owns `easel:generate:*` (its queue);
 * the rest are ours: result and preview bytes on their way to the gateway, source images on their
 * way to a worker, cancel flags, and the workers' status.
 */

/** BullMQ's key prefix and queue name: its keys are `easel:generate:…`. */
export const BULL_PREFIX = "easel";
export const QUEUE_NAME = "generate";

/** The channel a cancel request is published on (message: the job id). */
export const CANCEL_CHANNEL = "easel:cancel";

export const redisKeys = {
  /** One finished image of one attempt (the token keeps a killed attempt's bytes apart). */
  result: (jobId: string, token: string, index: number) => `easel:result:${jobId}:${token}:${index}`,
  /** A live preview of one step. */
  preview: (jobId: string, token: string, step: number) => `easel:preview:${jobId}:${token}:${step}`,
  /** The image a refine / upscale request starts from. */
  source: (jobId: string) => `easel:source:${jobId}`,
  /** The mask a repaint request paints within. */
  mask: (jobId: string) => `easel:mask:${jobId}`,
  /** Set while a cancel of the job is pending; the value is who asked ("" = nobody in particular). */
  cancel: (jobId: string) => `easel:cancel:${jobId}`,
  /** The runs of a job the gateway has recorded as starts (so a restarted gateway does not count them again). */
  runs: (jobId: string) => `easel:runs:${jobId}`,
  /** Sorted set of worker ids, scored by their latest heartbeat (ms since the epoch). */
  workers: "easel:workers",
  /** One worker's status (JSON), expiring unless its heartbeat renews it. */
  worker: (id: string) => `easel:worker:${id}`,
};
