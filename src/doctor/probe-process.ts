/**
 * Runs a provider probe (src/doctor/*-probe) in a child process, so a provider that crashes or
 * hangs while loading takes only the child down. The probe prints one JSON line last; what it
 * writes on stderr (the loaders' and drivers' warnings) comes back as `log`.
 */
import { spawn } from "node:child_process";
import { dirname, extname, join } from "node:path";
import { fileURLToPath } from "node:url";

/** A probe's answer: `ok`, an `error` when not, and what else the probe reported. */
export interface ProbeAnswer {
  ok: boolean;
  error?: string;
  [field: string]: unknown;
}

const PROBE_TIMEOUT_MS = 120_000;

/**
 * This process's loader flags (e.g. tsx's `--import`), for the probe: without code to evaluate
 * (`-e` would run the caller's script again), test-runner or inspector flags.
 */
export function loaderFlags(execArgv: readonly string[]): string[] {
  const kept: string[] = [];
  for (let i = 0; i < execArgv.length; i++) {
    const flag = execArgv[i]!;
    if (["-e", "--eval", "-p", "--print"].includes(flag)) {
      i += 1;
      continue;
    }
    if (/^--(eval|print|test|inspect|watch)/.test(flag)) continue;
    kept.push(flag);
  }
  return kept;
}

/** Runs `<name>-probe` beside this module with `args`; never rejects. */
export function runProbe(name: string, args: readonly string[]): Promise<ProbeAnswer & { log: string }> {
  return new Promise((resolve) => {
    const self = fileURLToPath(import.meta.url);
    const probe = join(dirname(self), `${name}-probe${extname(self)}`);
    const child = spawn(process.execPath, [...loaderFlags(process.execArgv), probe, ...args], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let log = "";
    const timer = setTimeout(() => child.kill("SIGKILL"), PROBE_TIMEOUT_MS);
    child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on("data", (chunk: Buffer) => (log += chunk.toString()));
    child.on("error", (error) => {
      clearTimeout(timer);
      resolve({ ok: false, error: error.message, log });
    });
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      try {
        const answer = JSON.parse(stdout.trim().split("\n").at(-1) ?? "") as ProbeAnswer;
        resolve({ ...answer, log });
      } catch {
        resolve({
          ok: false,
          error: `the probe process ended (${signal ?? `exit ${code}`}) without an answer`,
          log,
        });
      }
    });
  });
}
