/**
 * Starting worker threads from both the compiled package (dist/*.js) and the TypeScript sources
 * (tests, `npm run bench`): a .ts worker needs the tsx loader registered inside the worker itself,
 * since Node 20 workers do not inherit the parent's module hooks.
 */
import { Worker, type WorkerOptions } from "node:worker_threads";

export function startWorker(moduleUrl: URL, options: WorkerOptions = {}): Worker {
  if (!moduleUrl.pathname.endsWith(".ts")) return new Worker(moduleUrl, options);
  const tsxApi = import.meta.resolve("tsx/esm/api");
  const boot = `import { register } from ${JSON.stringify(tsxApi)}; register(); await import(${JSON.stringify(moduleUrl.href)});`;
  return new Worker(boot, { ...options, eval: true });
}

/** The URL of a sibling module, with the extension the caller itself was loaded with (.ts or .js). */
export function siblingModule(callerUrl: string, baseName: string): URL {
  const extension = callerUrl.endsWith(".ts") ? ".ts" : ".js";
  return new URL(`./${baseName}${extension}`, callerUrl);
}
