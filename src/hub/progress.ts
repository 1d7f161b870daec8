/**
 * Download progress for people: bytes done of the total, the rate over the last seconds, and the
 * time left at that rate. Pure: the caller feeds positions and the clock.
 */
import { formatBytes } from "../doctor/types.js";

const WINDOW_MS = 10_000;

export class TransferMeter {
  private readonly samples: { at: number; bytes: number }[] = [];
  done = 0;

  constructor(
    readonly total: number,
    private readonly now: () => number = () => performance.now(),
  ) {}

  /** Records that `done` bytes of the total are on disk. */
  update(done: number): void {
    this.done = done;
    const at = this.now();
    this.samples.push({ at, bytes: done });
    while (this.samples.length > 2 && at - this.samples[0]!.at > WINDOW_MS) this.samples.shift();
  }

  /** Bytes per second over the window; 0 until two samples are apart in time. */
  get rate(): number {
    const first = this.samples[0];
    const last = this.samples.at(-1);
    if (!first || !last || last.at <= first.at) return 0;
    return Math.max(0, ((last.bytes - first.bytes) * 1000) / (last.at - first.at));
  }

  /** Seconds left at the current rate; undefined while the rate is unknown. */
  get etaSeconds(): number | undefined {
    const rate = this.rate;
    return rate > 0 ? Math.max(0, (this.total - this.done) / rate) : undefined;
  }
}

/** 3h05m, 4m09s, 12s. */
export function formatDuration(seconds: number | undefined): string {
  if (seconds === undefined || !Number.isFinite(seconds)) return "--";
  const s = Math.round(seconds);
  if (s >= 3600) return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, "0")}m`;
  if (s >= 60) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, "0")}s`;
  return `${s}s`;
}

/** `3.2 GB / 13.0 GB (24%)  42.1 MB/s  ETA 3m52s` */
export function describeTransfer(meter: TransferMeter): string {
  const percent = meter.total > 0 ? Math.floor((meter.done / meter.total) * 100) : 100;
  return `${formatBytes(meter.done)} / ${formatBytes(meter.total)} (${percent}%)  ${formatBytes(meter.rate)}/s  ETA ${formatDuration(meter.etaSeconds)}`;
}

/** `[######------]` for a share of the total. */
export function bar(meter: TransferMeter, width = 24): string {
  const filled = meter.total > 0 ? Math.min(width, Math.floor((meter.done / meter.total) * width)) : width;
  return `[${"#".repeat(filled)}${"-".repeat(width - filled)}]`;
}
