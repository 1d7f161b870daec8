/**
 * Who runs next: priority tier first (higher first), then fairness between users, then arrival.
 *
 * Fairness is round-robin by turns (start-time fair queuing with equal weights): a user's jobs take
 * consecutive turns, and a user who had nothing waiting joins at the current turn, so a user's
 * second job waits behind every other user's first, however early it arrived, and being idle earns
 * no credit. Turns are given when a job joins the line, so the order among waiting jobs never
 * changes afterwards; only a newcomer (a higher tier, or a user's first job) can step in front.
 */

import type { PriorityRule } from "../config.js";
import type { Requester } from "../requests/request.js";

export interface WaitingJob {
  id: string;
  userId: string;
  /** Higher runs first; 0 is everyone's default. */
  tier: number;
  /** Round-robin turn within the tier (from FairTurns); lower runs first. */
  turn: number;
  /** Arrival order, unique and increasing. */
  seq: number;
}

/** A requester's tier: the highest matching user or role rule, 0 when none matches. */
export function tierOf(
  requester: Pick<Requester, "userId" | "roles">,
  rules: readonly PriorityRule[],
): number {
  let tier: number | undefined;
  for (const rule of rules) {
    const matches =
      rule.kind === "user" ? rule.id === requester.userId : (requester.roles ?? []).includes(rule.id);
    if (matches && (tier === undefined || rule.tier > tier)) tier = rule.tier;
  }
  return tier ?? 0;
}

/** Negative when `a` runs before `b`. */
export function compareWaiting(a: WaitingJob, b: WaitingJob): number {
  return b.tier - a.tier || a.turn - b.turn || a.seq - b.seq;
}

/** All waiting jobs in the order they will start (index 0 starts first). */
export function orderWaiting<J extends WaitingJob>(waiting: readonly J[]): J[] {
  return [...waiting].sort(compareWaiting);
}

/** The job to start next (the head of orderWaiting), or undefined when nothing waits. */
export function pickNext<J extends WaitingJob>(waiting: readonly J[]): J | undefined {
  let best: J | undefined;
  for (const job of waiting) if (!best || compareWaiting(job, best) < 0) best = job;
  return best;
}

/** Hands out round-robin turns, per tier. */
export class FairTurns {
  /** Turn of the latest started job, per tier. */
  private readonly current = new Map<number, number>();
  /** Latest turn given to each user, per tier. */
  private readonly last = new Map<string, number>();

  /** The turn of a user's new job: right after their previous one, but never before the current turn. */
  assign(userId: string, tier: number): number {
    const key = `${tier}\u0000${userId}`;
    const current = this.current.get(tier) ?? 0;
    const previous = this.last.get(key);
    const turn = previous === undefined ? current : Math.max(previous + 1, current);
    this.last.set(key, turn);
    return turn;
  }

  /** A job started: its tier's current turn moves up to it. */
  started(job: Pick<WaitingJob, "tier" | "turn">): void {
    const current = Math.max(this.current.get(job.tier) ?? 0, job.turn);
    this.current.set(job.tier, current);
    if (this.last.size > 4096) this.forgetIdle(); // bounds memory on a long-running bot
  }

  /** A user whose last turn is behind the current one would get the current turn anyway. */
  private forgetIdle(): void {
    for (const [key, turn] of this.last) {
      const tier = Number(key.slice(0, key.indexOf("\u0000")));
      if (turn < (this.current.get(tier) ?? 0)) this.last.delete(key);
    }
  }
}

/** Jobs that may start before a waiting job because a device already holds their model. */
export const MAX_AFFINITY_OVERTAKES = 1;

/** What affinity needs of a waiting job: its model, and how often affinity already let a later job past it. */
export interface AffinityCandidate {
  /** The model's catalogue name; undefined = the default model. */
  model: string | undefined;
  overtaken: number;
}

/**
 * Which job a free device starts, given the line in fair order (index 0 first) and the models the
 * device holds: the first job whose model it holds, when that overtakes no job that affinity
 * already let another job past `maxOvertakes` times; otherwise the head of the line. Index -1
 * when nothing waits. The caller counts one overtake for each job ahead of the pick.
 */
export function pickWithAffinity(
  line: readonly AffinityCandidate[],
  held: ReadonlySet<string | undefined>,
  maxOvertakes = MAX_AFFINITY_OVERTAKES,
): number {
  for (let index = 0; index < line.length; index++) {
    const job = line[index]!;
    if (held.has(job.model)) return index;
    // Starting a later job would make this one wait once more than the bound allows.
    if (job.overtaken >= maxOvertakes) return 0;
  }
  return line.length > 0 ? 0 : -1;
}
