/**
 * The gateway's line: jobs wait here in the embedded queue's fair order (priority tier, round-robin
 * turns between users, arrival; see ../ordering.ts) and are released into Redis a bounded number
 * at a time. BullMQ runs released jobs first-in first-out, so the bound is what keeps the order
 * fair: a burst from one user waits here, not in Redis, and a newcomer can only be overtaken by
 * jobs already released and not yet started — at most `limit - busy workers` of them, which is
 * the margin when every worker is busy.
 */
import { FairTurns, orderWaiting, pickNext, type WaitingJob } from "../ordering.js";

export interface LinedJob {
  id: string;
  userId: string;
  tier: number;
  seq: number;
}

interface Waiting<J> extends WaitingJob {
  job: J;
}

interface Released<J> {
  job: J;
  turn: number;
  /** Taken by a worker (BullMQ's active state, as the gateway last heard). */
  started: boolean;
}

export class ReleaseLine<J extends LinedJob> {
  private readonly turns = new FairTurns();
  private readonly waiting = new Map<string, Waiting<J>>();
  /** Released and not finished, in release order (Map keeps insertion order). */
  private readonly released = new Map<string, Released<J>>();

  /** Adds a job to the waiting line with its round-robin turn. */
  enqueue(job: J): void {
    this.waiting.set(job.id, this.entry(job, this.turns.assign(job.userId, job.tier)));
  }

  /** Takes a waiting job out of line; undefined when it is not waiting here. */
  remove(jobId: string): J | undefined {
    const entry = this.waiting.get(jobId);
    this.waiting.delete(jobId);
    return entry?.job;
  }

  /** Pops the jobs to release now, in fair order, so that at most `limit` are released and unfinished. */
  release(limit: number): J[] {
    const out: J[] = [];
    while (this.released.size < limit && this.waiting.size > 0) {
      const next = pickNext([...this.waiting.values()])!;
      this.waiting.delete(next.id);
      this.turns.started(next);
      this.released.set(next.id, { job: next.job, turn: next.turn, started: false });
      out.push(next.job);
    }
    return out;
  }

  /** A release that did not reach Redis: back in line with the turn it had. */
  unrelease(jobId: string): void {
    const released = this.released.get(jobId);
    if (!released) return;
    this.released.delete(jobId);
    this.waiting.set(jobId, this.entry(released.job, released.turn));
  }

  /** A job found in Redis after a restart: counted as released. */
  adopt(job: J, started: boolean): void {
    this.released.set(job.id, { job, turn: 0, started });
  }

  markStarted(jobId: string): void {
    const released = this.released.get(jobId);
    if (released) released.started = true;
  }

  /** A released job ended (or vanished); returns it once, undefined after. */
  finish(jobId: string): J | undefined {
    const released = this.released.get(jobId);
    if (!released) return undefined;
    this.released.delete(jobId);
    return released.job;
  }

  isWaiting(jobId: string): boolean {
    return this.waiting.has(jobId);
  }

  /** A job waiting here or released and unfinished. */
  jobOf(jobId: string): J | undefined {
    return this.waiting.get(jobId)?.job ?? this.released.get(jobId)?.job;
  }

  releasedJob(jobId: string): J | undefined {
    return this.released.get(jobId)?.job;
  }

  releasedJobs(): J[] {
    return [...this.released.values()].map((released) => released.job);
  }

  get size(): { waiting: number; released: number; running: number } {
    let running = 0;
    for (const released of this.released.values()) if (released.started) running += 1;
    return { waiting: this.waiting.size, released: this.released.size, running };
  }

  /**
   * Every job not yet on a worker with its place in line: released ones first (in the order BullMQ
   * hands them out), then the waiting ones in fair order. `idle` workers take the first ones at
   * once: those have place 0, the rest count from 1.
   */
  positions(idle: number): Map<string, number> {
    const line = [
      ...[...this.released.values()]
        .filter((released) => !released.started)
        .map((released) => released.job.id),
      ...orderWaiting([...this.waiting.values()]).map((entry) => entry.id),
    ];
    const free = Math.max(0, idle);
    return new Map(line.map((id, index) => [id, index < free ? 0 : index - free + 1]));
  }

  private entry(job: J, turn: number): Waiting<J> {
    return { id: job.id, userId: job.userId, tier: job.tier, seq: job.seq, turn, job };
  }
}
