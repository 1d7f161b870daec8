/**
 * The gateway's release line against the embedded queue's order. A model of N workers takes
 * released jobs first-in first-out (as BullMQ does) the moment one is free; random arrivals and
 * completions drive it. With no margin the start order is exactly the embedded queue's; with a
 * margin m, a job is overtaken by at most m jobs that rank behind it.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { compareWaiting, FairTurns, pickNext, type WaitingJob } from "../../src/queue/ordering.js";
import { ReleaseLine } from "../../src/queue/redis/release-line.js";

type Op = { kind: "submit"; user: number; tier: number } | { kind: "finish"; worker: number };

const ops = fc.array(
  fc.oneof(
    {
      weight: 3,
      arbitrary: fc.record({ kind: fc.constant("submit" as const), user: fc.nat(4), tier: fc.nat(1) }),
    },
    { weight: 2, arbitrary: fc.record({ kind: fc.constant("finish" as const), worker: fc.nat(7) }) },
  ),
  { maxLength: 80 },
);

interface Job {
  id: string;
  userId: string;
  tier: number;
  seq: number;
}

/** The embedded queue: a free device takes the head of the fair order at once. */
function embeddedStarts(script: readonly Op[], workers: number): string[] {
  const turns = new FairTurns();
  const waiting: WaitingJob[] = [];
  const running: (string | undefined)[] = new Array(workers).fill(undefined);
  const starts: string[] = [];
  let seq = 0;
  const pump = () => {
    for (let w = 0; w < workers; w++) {
      if (running[w] || waiting.length === 0) continue;
      const next = pickNext(waiting)!;
      waiting.splice(waiting.indexOf(next), 1);
      turns.started(next);
      running[w] = next.id;
      starts.push(next.id);
    }
  };
  for (const op of script) {
    if (op.kind === "submit") {
      seq += 1;
      const userId = `u${op.user}`;
      waiting.push({ id: `j${seq}`, userId, tier: op.tier, seq, turn: turns.assign(userId, op.tier) });
    } else {
      running[op.worker % workers] = undefined;
    }
    pump();
  }
  return starts;
}

interface Released {
  starts: string[];
  /** Per job: its ordering key and the jobs not yet started when it arrived. */
  keys: Map<string, WaitingJob>;
  notStartedAtArrival: Map<string, Set<string>>;
}

/** The gateway: releases up to workers + margin; workers take released jobs in release order. */
function gatewayStarts(script: readonly Op[], workers: number, margin: number): Released {
  const line = new ReleaseLine<Job>();
  const fifo: string[] = [];
  const running: (string | undefined)[] = new Array(workers).fill(undefined);
  const starts: string[] = [];
  const keys = new Map<string, WaitingJob>();
  const unstarted = new Set<string>();
  const notStartedAtArrival = new Map<string, Set<string>>();
  // The key the line gives each job: recomputed with the same FairTurns rules in arrival order.
  const turns = new FairTurns();
  let seq = 0;
  const pump = () => {
    for (const job of line.release(workers + margin)) fifo.push(job.id);
    for (let w = 0; w < workers; w++) {
      if (running[w] || fifo.length === 0) continue;
      const id = fifo.shift()!;
      line.markStarted(id);
      running[w] = id;
      starts.push(id);
      unstarted.delete(id);
      turns.started(keys.get(id)!);
    }
  };
  for (const op of script) {
    if (op.kind === "submit") {
      seq += 1;
      const job: Job = { id: `j${seq}`, userId: `u${op.user}`, tier: op.tier, seq };
      keys.set(job.id, { ...job, turn: turns.assign(job.userId, job.tier) });
      notStartedAtArrival.set(job.id, new Set(unstarted));
      unstarted.add(job.id);
      line.enqueue(job);
    } else {
      const w = op.worker % workers;
      if (running[w]) line.finish(running[w]!);
      running[w] = undefined;
    }
    pump();
  }
  return { starts, keys, notStartedAtArrival };
}

/** How many jobs that rank behind `id` (and had not started when it arrived) started before it. */
function overtakers(result: Released, id: string): number {
  const position = result.starts.indexOf(id);
  const before = position < 0 ? result.starts : result.starts.slice(0, position);
  const key = result.keys.get(id)!;
  const waitingThen = result.notStartedAtArrival.get(id)!;
  return before.filter((other) => waitingThen.has(other) && compareWaiting(result.keys.get(other)!, key) > 0)
    .length;
}

describe("the gateway's release line", () => {
  it("starts jobs in exactly the embedded queue's order when nothing is released ahead", () => {
    fc.assert(
      fc.property(ops, fc.integer({ min: 1, max: 4 }), (script, workers) => {
        assert.deepEqual(gatewayStarts(script, workers, 0).starts, embeddedStarts(script, workers));
      }),
    );
  });

  it("lets at most `margin` jobs that rank behind a job start before it", () => {
    fc.assert(
      fc.property(
        ops,
        fc.integer({ min: 1, max: 4 }),
        fc.integer({ min: 1, max: 3 }),
        (script, workers, margin) => {
          const result = gatewayStarts(script, workers, margin);
          for (const id of result.keys.keys()) assert.ok(overtakers(result, id) <= margin);
        },
      ),
    );
  });

  it("lets a higher-tier newcomer wait behind at most the margin's released jobs", () => {
    // Two workers busy, ann queues ten jobs, then bob (tier 1) one: the embedded queue starts bob's
    // next; the gateway has released one of ann's already, which BullMQ hands out first.
    const script: Op[] = [
      { kind: "submit", user: 9, tier: 0 },
      { kind: "submit", user: 9, tier: 0 },
      ...Array.from({ length: 10 }, () => ({ kind: "submit" as const, user: 1, tier: 0 })),
      { kind: "submit", user: 2, tier: 1 },
      { kind: "finish", worker: 0 },
      { kind: "finish", worker: 1 },
    ];
    const gateway = gatewayStarts(script, 2, 1);
    const embedded = embeddedStarts(script, 2);
    const bob = "j13";
    assert.equal(embedded.indexOf(bob), 2, "embedded: bob right after the two running jobs");
    assert.equal(gateway.starts.indexOf(bob), 3, "gateway: behind the one job released ahead of him");
    assert.equal(overtakers(gateway, bob), 1);
    // ann's other nine still wait behind bob: the burst stayed in the gateway, not in Redis.
    assert.deepEqual(gateway.starts.slice(0, 4), ["j1", "j2", "j3", bob]);
  });

  it("gives places in line: released jobs first, idle workers' picks at 0", () => {
    const line = new ReleaseLine<Job>();
    for (let seq = 1; seq <= 4; seq++) line.enqueue({ id: `j${seq}`, userId: "u1", tier: 0, seq });
    assert.deepEqual(
      line.release(2).map((job) => job.id),
      ["j1", "j2"],
    );
    line.markStarted("j1");
    assert.deepEqual(
      [...line.positions(0)],
      [
        ["j2", 1],
        ["j3", 2],
        ["j4", 3],
      ],
    );
    assert.deepEqual(
      [...line.positions(1)],
      [
        ["j2", 0],
        ["j3", 1],
        ["j4", 2],
      ],
    );
    line.unrelease("j2");
    assert.deepEqual(
      line.release(2).map((job) => job.id),
      ["j2"],
      "an unreleased job keeps its turn",
    );
  });
});
