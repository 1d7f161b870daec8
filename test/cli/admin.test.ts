/**
 * `easel admin` as the operator runs it on the box: a real child process on the same data folder
 * while the service (startEasel, no chat adapters, the simulated engine) runs in this process.
 */
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import Database from "better-sqlite3";
import { startEasel } from "../../src/main.js";
import { JobStore } from "../../src/queue/store.js";
import { runCli } from "../helpers/cli.js";
import { request, testConfig } from "../queue/support.js";

describe("easel admin", () => {
  it("bans, lists, cancels and reports on the job store of a running service, which sees them at once", async (t) => {
    const dir = await mkdtemp(join(tmpdir(), "easel-admin-"));
    const env = { EASEL_DATA_DIR: dir, EASEL_LOG_LEVEL: "silent" };
    const config = { ...testConfig(dir), demoModel: false };
    const easel = await startEasel(config, {
      adapters: [],
      logger: (await import("../../src/logger.js")).silentLogger,
      queue: {
        engineFor: () => ({ kind: "simulated", stepMs: 2 }),
        cancelGraceMs: 2000,
        shutdownGraceMs: 2000,
      },
    });
    t.after(async () => {
      await easel.stop();
      await rm(dir, { recursive: true, force: true });
    });
    const where = { platform: "discord" as const, serverId: "g1", channelId: "c1" };
    const bob = { userId: "discord:222" as const };

    const ban = await runCli(["admin", "ban", "discord:222", "--reason", "spam"], { env });
    assert.equal(ban.code, 0, ban.stderr);
    assert.equal(ban.stdout, "Banned discord:222: their requests are refused from now on.\n");
    const refused = await easel.chat.imagine({ text: "an owl" }, bob, where);
    assert.equal(refused.kind === "refusal" && refused.code, "forbidden", "the running service sees the ban");

    const slow = await easel.chat.imagine(
      { text: "[sim:step-ms=500] a slow fox --steps 150" },
      { userId: "discord:111", userName: "alice" },
      where,
    );
    assert.equal(slow.kind, "job");
    if (slow.kind !== "job") return;
    const listing = await runCli(["admin", "queue", "--json"], { env });
    assert.equal(listing.code, 0, listing.stderr);
    const jobs = JSON.parse(listing.stdout) as Array<{ jobId: string; userId: string; place: string }>;
    assert.deepEqual(
      jobs.map((job) => [job.jobId, job.userId, job.place]),
      [[slow.jobId, "discord:111", "discord:g1/c1"]],
    );

    const asked = performance.now();
    const cancelled = easel.queue
      .wait(slow.jobId)
      .then((record) => ({ record, ms: performance.now() - asked }));
    const cancel = await runCli(["admin", "cancel", slow.jobId], { env });
    assert.equal(cancel.code, 0, cancel.stderr);
    assert.match(cancel.stdout, new RegExp(`^(Cancelled job|Job) ${slow.jobId} .*by the running service`));
    const { record, ms } = await cancelled;
    assert.equal(record.status, "cancelled");
    assert.match(record.cancelledBy ?? "", /^cli:/);
    // The service's side of it: from the CLI's request in the store to the service's answer.
    const db = new Database(join(dir, "jobs.sqlite"), { readonly: true });
    const row = db.prepare("SELECT handled_at - requested_at AS ms, outcome FROM admin_requests").get() as {
      ms: number;
      outcome: string;
    };
    db.close();
    assert.equal(row.outcome, "stopping");
    t.diagnostic(`request → service answer: ${row.ms} ms; CLI start → job cancelled: ${Math.round(ms)} ms`);

    const stats = await runCli(["admin", "stats", "--json"], { env });
    assert.equal(stats.code, 0, stats.stderr);
    const parsed = JSON.parse(stats.stdout) as {
      jobs: number;
      days: Array<{ platform: string; cancelled: number }>;
    };
    assert.equal(parsed.jobs, 1);
    assert.equal(parsed.days[0]?.platform, "discord");
    assert.equal(parsed.days[0]?.cancelled, 1);

    const audit = await easel.queue.ledger.actions(0);
    assert.deepEqual(
      audit.map((action) => [action.action, action.target, action.place]),
      [
        ["ban", "discord:222", "cli"],
        ["cancel", slow.jobId, "cli"],
      ],
    );
  });

  it("cancels a queued job in the store itself when no service is running, and refuses an unqualified user", async (t) => {
    const dir = await mkdtemp(join(tmpdir(), "easel-admin-"));
    t.after(() => rm(dir, { recursive: true, force: true }));
    const store = JobStore.open(join(dir, "jobs.sqlite"));
    store.insert({ id: "orphan1", request: request("alice"), tier: 0, createdAt: Date.now() });
    store.close();
    const cancel = await runCli(["admin", "cancel", "orphan1"], { env: { EASEL_DATA_DIR: dir } });
    assert.equal(cancel.code, 0, cancel.stderr);
    assert.equal(cancel.stdout, "Cancelled job orphan1 in the job store (no running service holds it).\n");
    const bad = await runCli(["admin", "ban", "bob"], { env: { EASEL_DATA_DIR: dir } });
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /"bob" is not a user/);
    const reopened = JobStore.open(join(dir, "jobs.sqlite"));
    assert.equal(reopened.get("orphan1")?.status, "cancelled");
    reopened.close();
  });
});
