/** What one doctor check found: a status, and one line saying why. */
export type CheckStatus = "ok" | "warn" | "fail";

export interface CheckResult {
  /** Short, stable name, e.g. "node", "base/unet", "device cuda:0". */
  name: string;
  status: CheckStatus;
  /** One line for the operator: what was found, and for warn/fail what to do. */
  message: string;
  /** Structured facts for --json (tensor metadata, byte counts, ...). */
  details?: Record<string, unknown>;
}

export const ok = (name: string, message: string, details?: Record<string, unknown>): CheckResult => ({
  name,
  status: "ok",
  message,
  ...(details ? { details } : {}),
});
export const warn = (name: string, message: string, details?: Record<string, unknown>): CheckResult => ({
  name,
  status: "warn",
  message,
  ...(details ? { details } : {}),
});
export const fail = (name: string, message: string, details?: Record<string, unknown>): CheckResult => ({
  name,
  status: "fail",
  message,
  ...(details ? { details } : {}),
});

/** Byte counts for people: 1.5 GB, 320 MB (powers of 1000, as disk and download sizes are sold). */
export function formatBytes(bytes: number): string {
  const units = ["B", "kB", "MB", "GB", "TB"];
  let value = bytes;
  let unit = 0;
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit += 1;
  }
  return `${unit === 0 ? value : value.toFixed(value >= 100 ? 0 : 1)} ${units[unit]}`;
}

/** 2.57B, 123.1M, 4.2k parameters. */
export function formatCount(count: number): string {
  if (count >= 1e9) return `${(count / 1e9).toFixed(2)}B`;
  if (count >= 1e6) return `${(count / 1e6).toFixed(1)}M`;
  if (count >= 1e3) return `${(count / 1e3).toFixed(1)}k`;
  return String(count);
}
