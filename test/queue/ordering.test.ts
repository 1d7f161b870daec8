import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { FairTurns, orderWaiting, pickNext, tierOf, type WaitingJob } from "../../src/queue/ordering.js";

/**
 * A line of jobs from a compact spec in arrival order: "a" (user a), "v:2" (user v at tier 2), and
 * "|" for "the head of the line starts here". Returns the start order and what still waits.
 */
function simulate(...specs: string[]): { started: string[]; waiting: string[] } {
  const turns = new FairTurns();
  const waiting: WaitingJob[] = [];
  const started: string[] = [];
  specs.forEach((spec, seq) => {
    if (spec === "|") {
      const next = pickNext(waiting)!;
      waiting.splice(waiting.indexOf(next), 1);
      turns.started(next);
      started.push(next.id);
      return;
    }
    const [userId, tierText] = spec.split(":");
    const tier = Number(tierText ?? 0);
    waiting.push({ id: `${spec}#${seq}`, userId: userId!, tier, seq, turn: turns.assign(userId!, tier) });
  });
  const label = (id: string) => id.slice(0, id.indexOf("#")).replace(":0", "");
  return { started: started.map(label), waiting: orderWaiting(waiting).map((job) => label(job.id)) };
}

describe("tierOf", () => {
  const rules = [
    { kind: "user" as const, id: "discord:1" as const, tier: 5 },
    { kind: "role" as const, id: "discord-role:20" as const, tier: 2 },
    { kind: "role" as const, id: "discord-role:30" as const, tier: 3 },
    { kind: "user" as const, id: "slack:T1:U9" as const, tier: -1 },
  ];

  it("is 0 for someone no rule names", () => {
    assert.equal(tierOf({ userId: "discord:7", roles: ["discord-role:99"] }, rules), 0);
    assert.equal(tierOf({ userId: "discord:7" }, []), 0);
  });

  it("takes a user rule, a role rule, and the highest of several matches", () => {
    assert.equal(tierOf({ userId: "discord:1" }, rules), 5);
    assert.equal(tierOf({ userId: "discord:7", roles: ["discord-role:20"] }, rules), 2);
    assert.equal(tierOf({ userId: "discord:7", roles: ["discord-role:20", "discord-role:30"] }, rules), 3);
    assert.equal(tierOf({ userId: "discord:1", roles: ["discord-role:20"] }, rules), 5);
  });

  it("lets a rule put someone below everyone else", () => {
    assert.equal(tierOf({ userId: "slack:T1:U9" }, rules), -1);
  });

  it("never matches the same number on another platform", () => {
    assert.equal(tierOf({ userId: "slack:1" }, rules), 0);
    assert.equal(tierOf({ userId: "web:1" }, rules), 0);
    assert.equal(tierOf({ userId: "slack:T1:U1" }, rules), 0);
  });
});

describe("order of waiting jobs", () => {
  it("keeps arrival order between different users", () => {
    assert.deepEqual(simulate("a", "b", "c").waiting, ["a", "b", "c"]);
  });

  it("puts a user's second job behind every other user's first (round-robin)", () => {
    assert.deepEqual(simulate("a", "a", "a", "b", "c", "b").waiting, ["a", "b", "c", "a", "b", "a"]);
  });

  it("lets a newcomer go before the second job of a user who is already being served", () => {
    // a's first job starts; a's second has waited longer than b's first, but b goes first.
    assert.deepEqual(simulate("a", "a", "a", "|", "b", "|", "|", "|"), {
      started: ["a", "b", "a", "a"],
      waiting: [],
    });
    assert.deepEqual(
      simulate("a", "a", "|", "|", "a", "b").waiting,
      ["b", "a"],
      "a, just served twice, waits for b",
    );
  });

  it("gives no credit for being idle: a returning user does not jump a line of first jobs", () => {
    // a was idle while b was served three times: a gets one turn now, not three in a row.
    assert.deepEqual(simulate("b", "b", "b", "b", "|", "|", "|", "a", "a", "a").waiting, [
      "a",
      "b",
      "a",
      "a",
    ]);
    assert.deepEqual(simulate("a", "|", "b", "b", "b", "|", "c", "a").waiting, ["c", "b", "a", "b"]);
  });

  it("puts a higher tier first, a user's later jobs too, with round-robin inside each tier", () => {
    assert.deepEqual(simulate("a", "b", "v:2", "v:2", "m:1", "w:2", "c").waiting, [
      "v:2",
      "w:2",
      "v:2",
      "m:1",
      "a",
      "b",
      "c",
    ]);
  });

  it("orders by tier, turn and arrival, not by the order of the input array", () => {
    const jobs: WaitingJob[] = [
      { id: "late", userId: "c", tier: 0, turn: 0, seq: 3 },
      { id: "second", userId: "a", tier: 0, turn: 1, seq: 1 },
      { id: "first", userId: "a", tier: 0, turn: 0, seq: 0 },
      { id: "vip", userId: "v", tier: 1, turn: 9, seq: 4 },
    ];
    assert.deepEqual(
      orderWaiting(jobs).map((job) => job.id),
      ["vip", "first", "late", "second"],
    );
    assert.equal(jobs[0]!.id, "late", "the input is left alone");
    assert.equal(pickNext(jobs)!.id, "vip");
  });

  it("gives nothing for nothing", () => {
    assert.deepEqual(orderWaiting([]), []);
    assert.equal(pickNext([]), undefined);
  });
});

describe("fairness over any arrivals and starts", () => {
  const actions = fc.array(
    fc.oneof(
      fc.record({ user: fc.constantFrom("a", "b", "c", "d"), tier: fc.constantFrom(0, 0, 0, 1) }),
      fc.constant("start" as const),
    ),
    { maxLength: 60 },
  );

  it("pickNext is the head of orderWaiting", () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.record({
            userId: fc.constantFrom("a", "b"),
            tier: fc.integer({ min: -1, max: 2 }),
            turn: fc.nat(5),
          }),
          { maxLength: 20 },
        ),
        (specs) => {
          const jobs = specs.map((spec, seq) => ({ ...spec, id: `j${seq}`, seq }));
          assert.equal(pickNext(jobs), orderWaiting(jobs)[0]);
        },
      ),
    );
  });

  // Turns are rounds: a job that arrives during a round joins the next one, so while it waits
  // another user can finish the current round and take one turn of the next (ties go by
  // arrival), but never a third.
  it("while a user's only waiting job waits, no other user of its tier starts more than two jobs; no higher tier waits", () => {
    fc.assert(
      fc.property(actions, (steps) => {
        const turns = new FairTurns();
        const waiting: Array<WaitingJob & { startsSince: Map<string, number> | undefined }> = [];
        steps.forEach((step, seq) => {
          if (step !== "start") {
            const alone = !waiting.some((job) => job.userId === step.user && job.tier === step.tier);
            const turn = turns.assign(step.user, step.tier);
            waiting.push({
              id: `j${seq}`,
              userId: step.user,
              tier: step.tier,
              seq,
              turn,
              startsSince: alone ? new Map() : undefined,
            });
            return;
          }
          const next = pickNext(waiting);
          if (!next) return;
          assert.ok(
            waiting.every((job) => job.tier <= next.tier),
            "a higher tier was waiting",
          );
          for (const job of waiting) {
            if (job === next || job.tier !== next.tier || job.userId === next.userId || !job.startsSince)
              continue;
            const count = (job.startsSince.get(next.userId) ?? 0) + 1;
            assert.ok(count <= 2, `${next.userId} starts a third job while ${job.userId}'s ${job.id} waits`);
            job.startsSince.set(next.userId, count);
          }
          waiting.splice(waiting.indexOf(next), 1);
          turns.started(next);
        });
      }),
    );
  });

  it("keeps a user's own jobs of a tier in arrival order", () => {
    fc.assert(
      fc.property(actions, (steps) => {
        const turns = new FairTurns();
        const waiting: WaitingJob[] = [];
        const lastStarted = new Map<string, number>();
        steps.forEach((step, seq) => {
          if (step !== "start") {
            waiting.push({
              id: `j${seq}`,
              userId: step.user,
              tier: step.tier,
              seq,
              turn: turns.assign(step.user, step.tier),
            });
            return;
          }
          const next = pickNext(waiting);
          if (!next) return;
          const key = `${next.userId}/${next.tier}`;
          assert.ok((lastStarted.get(key) ?? -1) < next.seq);
          lastStarted.set(key, next.seq);
          waiting.splice(waiting.indexOf(next), 1);
          turns.started(next);
        });
      }),
    );
  });
});
