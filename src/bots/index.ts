/** Every adapter the composition root may start, in start order. */
import type { Adapter } from "./adapter.js";
import { discordAdapter } from "./discord/index.js";
import { slackAdapter } from "./slack/index.js";
import { httpAdapter } from "./web/index.js";

export type { Adapter, AdapterContext, RunningAdapter } from "./adapter.js";

export const adapters: readonly Adapter[] = [httpAdapter, slackAdapter, discordAdapter()];
