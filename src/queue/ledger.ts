/**
 * The operator's ledger (bans, usage, deleted results, the audit trail, admin requests) kept in the
 * SQLite job store. The running service and `easel admin` each open the same file (WAL), so a ban
 * written by the CLI is read by the service's next request, and a cancel request is picked up by
 * the service's poll (see commands/admin.ts).
 */
import { rm } from "node:fs/promises";
import {
  type ActiveJob,
  type AdminAction,
  type Ban,
  type CancelRequest,
  type OperatorLedger,
  placeOf,
  type ReleaseOutcome,
  type Stats,
  type Usage,
  type WithheldImage,
} from "../requests/operator.js";
import type { UserId } from "../requests/request.js";
import type { JobStore } from "./store.js";

export class StoreLedger implements OperatorLedger {
  constructor(private readonly store: JobStore) {}

  async usage(userId: UserId, since: number): Promise<Usage> {
    return this.store.usageSince(userId, since);
  }

  async banOf(userId: UserId): Promise<Ban | undefined> {
    return this.store.banOf(userId);
  }

  async bans(): Promise<Ban[]> {
    return this.store.bans();
  }

  async ban(ban: Ban, place?: string): Promise<boolean> {
    return this.store.addBan(ban, place);
  }

  async unban(userId: UserId, byUserId: UserId, at: number, place?: string): Promise<boolean> {
    return this.store.removeBan(userId, byUserId, at, place);
  }

  async record(action: AdminAction): Promise<void> {
    this.store.addAction(action);
  }

  async actions(since: number): Promise<AdminAction[]> {
    return this.store.actionsSince(since);
  }

  async deleteResult(jobId: string, byUserId: UserId, at: number, place?: string): Promise<boolean> {
    const paths = this.store.markResultDeleted(jobId, byUserId, at, place);
    if (!paths) return false;
    await Promise.all(paths.map((path) => rm(path, { force: true })));
    return true;
  }

  async activeJobs(): Promise<ActiveJob[]> {
    return this.store.unfinished().map((job) => {
      const { requester } = job.request;
      return {
        jobId: job.id,
        status: job.status as ActiveJob["status"],
        userId: job.userId,
        ...(requester.userName ? { userName: requester.userName } : {}),
        place: placeOf(requester),
        ...(job.status === "running" && job.device ? { device: job.device } : {}),
        tier: job.tier,
        count: job.request.count,
        prompt: job.request.prompt,
        createdAt: job.createdAt,
        ...(job.status === "running" && job.startedAt !== undefined ? { startedAt: job.startedAt } : {}),
      };
    });
  }

  async withheld(): Promise<WithheldImage[]> {
    return this.store.withheldImages();
  }

  async release(
    jobId: string,
    imageIndex: number,
    byUserId: UserId,
    place?: string,
    at: number = Date.now(),
  ): Promise<ReleaseOutcome> {
    return this.store.releaseImage(jobId, imageIndex, byUserId, at, place);
  }

  async stats(since: number, until: number): Promise<Stats> {
    const days = this.store.dailyStats(since, until);
    const failuresByCode: Record<string, number> = {};
    for (const { code, count } of this.store.failuresByCode(since, until)) failuresByCode[code] = count;
    const means = this.store.meanTimes(since, until);
    return {
      since,
      until,
      days,
      jobs: days.reduce((sum, day) => sum + day.jobs, 0),
      images: days.reduce((sum, day) => sum + day.images, 0),
      failuresByCode,
      meanWaitMs: means.waitMs ?? undefined,
      meanDeviceMs: means.deviceMs ?? undefined,
    };
  }

  async pendingCancels(): Promise<CancelRequest[]> {
    return this.store
      .pendingAdminRequests()
      .filter((row) => row.kind === "cancel")
      .map((row) => ({ id: row.id, jobId: row.target, byUserId: row.actor as UserId, at: row.requested_at }));
  }

  async settleCancel(id: number, outcome: string, at: number): Promise<boolean> {
    return this.store.settleAdminRequest(id, outcome, at);
  }

  async sweepAudit(before: number): Promise<{ jobs: number; actions: number }> {
    return this.store.sweepAudit(before);
  }

  // ── For `easel admin` on the box (not part of the service's interface) ─────────────────────

  /** Asks whichever process runs the job to cancel it; returns the request's id. */
  requestCancel(jobId: string, byUserId: UserId, at: number): number {
    return this.store.addAdminRequest("cancel", jobId, byUserId, at);
  }

  /** The answer to a cancel request, once a process gave one. */
  cancelOutcome(id: number): string | undefined {
    return this.store.adminRequest(id)?.outcome ?? undefined;
  }

  /** Cancels a job in the store alone, when no running process holds it; false when it had ended. */
  cancelInStore(jobId: string, byUserId: UserId, at: number): boolean {
    return this.store.cancelUnfinished(jobId, byUserId, at);
  }
}
