/**
 * The operator's ledger in the SQLite job store: usage for quotas, bans with their audit lines,
 * where each job was asked, stats, cross-process cancel requests answered once, and the audit
 * trail's end after its keeping time. Also the upgrade of a store written before migration 2.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { describe, it } from "node:test";
import Database from "better-sqlite3";
import { StoreLedger } from "../../src/queue/ledger.js";
import { JobStore, SCHEMA_VERSION } from "../../src/queue/store.js";
import type { GenerationRequest } from "../../src/requests/request.js";
import { request, tempDir } from "./support.js";

const TIMINGS = { totalMs: 400, sessionMs: 8, textEncodeMs: 1, denoiseMs: 7, vaeMs: 1, encodeImageMs: 1 };
const DAY = 86_400_000;
/** Undoes the output-moderation migration (the fourth), for tests that roll a store back further. */
const dropModerationMigration = `DROP INDEX images_withheld;
  ALTER TABLE images DROP COLUMN moderation_flagged; ALTER TABLE images DROP COLUMN moderation_score;
  ALTER TABLE images DROP COLUMN moderation_label; ALTER TABLE images DROP COLUMN moderation_action;
  ALTER TABLE images DROP COLUMN released_by; ALTER TABLE images DROP COLUMN released_at;`;
const T0 = Date.UTC(2026, 11, 6, 12);

function withCount(base: GenerationRequest, count: number): GenerationRequest {
  return { ...base, count };
}

function finish(store: JobStore, id: string, startedAt: number, finishedAt: number, images = 1): void {
  store.markRunning(id, "cpu", startedAt);
  store.markDone(
    id,
    {
      seeds: Array.from({ length: images }, (_, i) => String(i)),
      timings: TIMINGS,
      images: Array.from({ length: images }, (_, i) => ({
        path: `/nowhere/${id}-${i}.png`,
        seed: String(i),
        mime: "image/png" as const,
        width: 1024,
        height: 1024,
      })),
    },
    finishedAt,
  );
}

describe("the operator ledger in the job store", () => {
  it("counts a user's images since a moment, leaving out failed and cancelled requests, and their latest request", async () => {
    const store = JobStore.open(":memory:");
    const ledger = new StoreLedger(store);
    store.insert({ id: "old", request: withCount(request("alice"), 4), tier: 0, createdAt: T0 - DAY });
    store.insert({ id: "done", request: withCount(request("alice"), 2), tier: 0, createdAt: T0 });
    finish(store, "done", T0 + 1, T0 + 2, 2);
    store.insert({ id: "queued", request: withCount(request("alice"), 1), tier: 0, createdAt: T0 + 10 });
    store.insert({ id: "failed", request: withCount(request("alice"), 3), tier: 0, createdAt: T0 + 20 });
    store.markFailed("failed", { code: "device_failure", message: "x" }, T0 + 21);
    store.insert({ id: "gone", request: withCount(request("alice"), 3), tier: 0, createdAt: T0 + 30 });
    store.markCancelled("gone", "discord:alice", T0 + 31);
    store.insert({ id: "bob", request: withCount(request("bob"), 4), tier: 0, createdAt: T0 + 40 });
    assert.deepEqual(await ledger.usage("discord:alice", T0), { images: 3, lastRequestAt: T0 + 30 });
    assert.deepEqual(await ledger.usage("discord:carol", T0), { images: 0, lastRequestAt: undefined });
    store.close();
  });

  it("records where each job was asked, read from its request", () => {
    const store = JobStore.open(":memory:");
    const asked = request("alice");
    store.insert({
      id: "j1",
      request: { ...asked, requester: { ...asked.requester, serverId: "g1", channelId: "c9" } },
      tier: 0,
      createdAt: T0,
    });
    const db = (store as unknown as { db: Database.Database }).db;
    assert.deepEqual(db.prepare("SELECT user_id, platform, server_id, channel_id FROM jobs").get(), {
      user_id: "discord:alice",
      platform: "discord",
      server_id: "g1",
      channel_id: "c9",
    });
    store.close();
  });

  it("bans once, lifts once, and writes each to the audit trail", async () => {
    const store = JobStore.open(":memory:");
    const ledger = new StoreLedger(store);
    const ban = { userId: "discord:bob" as const, byUserId: "discord:mod" as const, at: T0, reason: "spam" };
    assert.equal(await ledger.ban(ban, "discord:g1/c1"), true);
    assert.equal(await ledger.ban({ ...ban, at: T0 + 1 }), false);
    assert.deepEqual(await ledger.banOf("discord:bob"), ban);
    assert.deepEqual(await ledger.bans(), [ban]);
    assert.equal(await ledger.unban("discord:bob", "cli:root", T0 + 2, "cli"), true);
    assert.equal(await ledger.unban("discord:bob", "cli:root", T0 + 3), false);
    assert.equal(await ledger.banOf("discord:bob"), undefined);
    assert.deepEqual(await ledger.actions(0), [
      {
        at: T0,
        actor: "discord:mod",
        action: "ban",
        target: "discord:bob",
        detail: "spam",
        place: "discord:g1/c1",
      },
      { at: T0 + 2, actor: "cli:root", action: "unban", target: "discord:bob", place: "cli" },
    ]);
    store.close();
  });

  it("reports jobs and images per UTC day and platform, failures by code, mean wait and device time", async () => {
    const store = JobStore.open(":memory:");
    const ledger = new StoreLedger(store);
    const slack = request("x");
    store.insert({ id: "a", request: withCount(request("alice"), 2), tier: 0, createdAt: T0 });
    finish(store, "a", T0 + 1000, T0 + 2000, 2);
    store.insert({
      id: "b",
      request: { ...slack, requester: { platform: "slack", userId: "slack:T1:U2" } },
      tier: 0,
      createdAt: T0 + DAY,
    });
    finish(store, "b", T0 + DAY + 3000, T0 + DAY + 4000, 1);
    store.insert({ id: "c", request: request("alice"), tier: 0, createdAt: T0 + DAY });
    store.markFailed("c", { code: "timeout", message: "x" }, T0 + DAY + 1);
    const stats = await ledger.stats(T0 - DAY, T0 + 2 * DAY);
    assert.deepEqual(stats.days, [
      { day: "2026-12-06", platform: "discord", jobs: 1, images: 2, failed: 0, cancelled: 0 },
      { day: "2026-12-07", platform: "discord", jobs: 1, images: 0, failed: 1, cancelled: 0 },
      { day: "2026-12-07", platform: "slack", jobs: 1, images: 1, failed: 0, cancelled: 0 },
    ]);
    assert.equal(stats.jobs, 3);
    assert.equal(stats.images, 3);
    assert.deepEqual(stats.failuresByCode, { timeout: 1 });
    assert.equal(stats.meanWaitMs, 2000);
    assert.equal(stats.meanDeviceMs, 400);
    store.close();
  });

  it("answers a cancel request once: the first process to answer wins", async () => {
    const store = JobStore.open(":memory:");
    const ledger = new StoreLedger(store);
    const id = ledger.requestCancel("j1", "cli:root", T0);
    assert.deepEqual(await ledger.pendingCancels(), [{ id, jobId: "j1", byUserId: "cli:root", at: T0 }]);
    assert.equal(await ledger.settleCancel(id, "stopping", T0 + 1), true);
    assert.equal(await ledger.settleCancel(id, "cli", T0 + 2), false);
    assert.equal(ledger.cancelOutcome(id), "stopping");
    assert.deepEqual(await ledger.pendingCancels(), []);
    store.close();
  });

  it("sweeps finished jobs whose images are gone and admin actions past the keeping time, and keeps the rest", async () => {
    const store = JobStore.open(":memory:");
    const ledger = new StoreLedger(store);
    const old = T0 - 40 * DAY;
    for (const id of ["old-swept", "old-live-image", "recent"]) {
      store.insert({ id, request: request("alice"), tier: 0, createdAt: id === "recent" ? T0 : old });
      finish(store, id, id === "recent" ? T0 : old, id === "recent" ? T0 : old + 1);
    }
    store.markImageDeleted("old-swept", 0, old + 2);
    store.insert({ id: "old-queued", request: request("alice"), tier: 0, createdAt: old });
    await ledger.record({ at: old, actor: "cli:root", action: "cancel", target: "x" });
    await ledger.record({ at: T0, actor: "cli:root", action: "cancel", target: "y" });
    assert.deepEqual(await ledger.sweepAudit(T0 - 30 * DAY), { jobs: 1, actions: 1 });
    assert.equal(store.get("old-swept"), undefined);
    for (const id of ["old-live-image", "recent", "old-queued"]) assert.ok(store.get(id), id);
    assert.deepEqual(
      (await ledger.actions(0)).map((action) => action.target),
      ["y"],
    );
    store.close();
  });

  it("upgrades a store written before the operator controls, keeping its jobs", async (t) => {
    const file = join(await tempDir(t), "jobs.sqlite");
    const v1 = JobStore.open(file);
    v1.insert({ id: "j1", request: request("alice"), tier: 0, createdAt: T0 });
    v1.close();
    // Roll the file back to the schema before the operator migration (the third), as an easel
    // from before it left it: the later moderation migration goes first.
    const db = new Database(file);
    db.exec(`${dropModerationMigration}
             DROP TABLE bans; DROP TABLE admin_actions; DROP TABLE admin_requests;
             DROP INDEX jobs_by_user_time; DROP INDEX jobs_by_time;
             ALTER TABLE jobs DROP COLUMN server_id; ALTER TABLE jobs DROP COLUMN channel_id;
             ALTER TABLE jobs DROP COLUMN deleted_by; ALTER TABLE jobs DROP COLUMN deleted_at;
             UPDATE schema_version SET version = 2;`);
    db.close();
    const upgraded = JobStore.open(file);
    assert.equal(upgraded.schemaVersion, SCHEMA_VERSION);
    assert.equal(upgraded.get("j1")?.request.prompt, request("alice").prompt);
    assert.equal(
      await new StoreLedger(upgraded).ban({ userId: "discord:x", byUserId: "cli:root", at: T0 }),
      true,
    );
    upgraded.close();
  });
});
