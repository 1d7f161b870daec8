/**
 * Which process submitted a job, and whether that process is still there. Each job records the
 * kind of process that submitted it (a CLI run or the service), its pid, when that process started
 * and which queue in it: `easel imagine` then fails only CLI jobs whose process is gone (not a
 * second, concurrent run's), and the service resumes only its own dead jobs.
 */
import { randomUUID } from "node:crypto";
import { readFileSync } from "node:fs";

export type ProcessKind = "cli" | "service";

export interface Submitter {
  kind: ProcessKind;
  /** Absent for jobs stored before submitters were recorded: such a process counts as gone. */
  pid?: number;
  /** The process's start identity (boot id + start time on Linux); "" where it cannot be read. */
  start?: string;
  /** The queue instance within that process. */
  queue?: string;
}

function readText(path: string): string | undefined {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return undefined;
  }
}

/**
 * A process's start identity: the boot id and its start time in clock ticks since boot (field 22
 * of /proc/<pid>/stat), so a pid reused by a later process, or after a reboot, does not match.
 * undefined when the process does not exist; "" on systems without /proc.
 */
export function processStartIdentity(pid: number): string | undefined {
  const stat = readText(`/proc/${pid}/stat`);
  if (stat === undefined) return readText("/proc/self/stat") === undefined ? "" : undefined;
  // The command name (field 2) may hold spaces and parentheses: count fields after its last ')'.
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  const startTicks = fields[19];
  const bootId = readText("/proc/sys/kernel/random/boot_id")?.trim() ?? "";
  return `${bootId}:${startTicks ?? ""}`;
}

function pidExists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: it exists, owned by another user.
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

const OWN_START = processStartIdentity(process.pid) ?? "";
/** Queue instances of this process that are open (started and not stopped). */
const openQueues = new Set<string>();

/** A new queue instance of this process: its submitter, registered as alive until `release()`. */
export function ownSubmitter(kind: ProcessKind): { submitter: Submitter; release: () => void } {
  const queue = randomUUID();
  openQueues.add(queue);
  return {
    submitter: { kind, pid: process.pid, start: OWN_START, queue },
    release: () => openQueues.delete(queue),
  };
}

/** Whether the queue that submitted a job may still be running it. */
export function isSubmitterAlive(submitter: Submitter): boolean {
  const { pid, start } = submitter;
  if (pid === undefined) return false;
  if (pid === process.pid && start === OWN_START) {
    return submitter.queue !== undefined && openQueues.has(submitter.queue);
  }
  const current = processStartIdentity(pid);
  if (current === undefined) return false;
  if (current === "" || start === "" || start === undefined) return pidExists(pid);
  return current === start;
}
