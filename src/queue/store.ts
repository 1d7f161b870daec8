/**
 * The job store: every request with its status, seeds, result files and where they were posted, in
 * an embedded SQLite file (WAL, so a crash loses nothing that was committed). Synchronous, like
 * better-sqlite3 itself: each call is one short statement or transaction on the main thread.
 */
import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import Database from "better-sqlite3";
import { ConfigError, type ErrorCode } from "../errors.js";
import type { EncodedImage, GenerateTimings } from "../pipeline/types.js";
import type { GenerationRequest, UserId } from "../requests/request.js";
import type { JobStatus } from "./job-queue.js";

export type { JobStatus } from "./job-queue.js";

/** An image row: where its file is (the store's own business; the queue's records carry no paths). */
export interface StoredImage {
  index: number;
  path: string;
  seed: string;
  mime: EncodedImage["mime"];
  width: number;
  height: number;
  /** The file was swept from disk (posted, or kept past the retention time). */
  deleted: boolean;
}

/** A job row as the store keeps it; the queue maps it to the public JobRecord (job-queue.ts). */
export interface StoredJob {
  id: string;
  /** Arrival order. */
  seq: number;
  userId: UserId;
  request: GenerationRequest;
  tier: number;
  status: JobStatus;
  /** Device of the latest attempt. */
  device: string | undefined;
  /** Times the job was started (a restart mid-run makes it 2). */
  attempts: number;
  createdAt: number;
  startedAt: number | undefined;
  finishedAt: number | undefined;
  seeds: string[] | undefined;
  timings: GenerateTimings | undefined;
  error: { code: ErrorCode; message: string } | undefined;
  cancelledBy: UserId | undefined;
  postedTo: string | undefined;
  postedAt: number | undefined;
  images: StoredImage[];
}

export interface NewJob {
  id: string;
  request: GenerationRequest;
  tier: number;
  createdAt: number;
}

export interface FinishedImage {
  path: string;
  seed: string;
  mime: EncodedImage["mime"];
  width: number;
  height: number;
}

/** An image file the sweep may delete. */
export interface SweepCandidate {
  jobId: string;
  index: number;
  path: string;
}

interface JobRow {
  seq: number;
  id: string;
  user_id: string;
  request: string;
  tier: number;
  status: JobStatus;
  device: string | null;
  attempts: number;
  created_at: number;
  started_at: number | null;
  finished_at: number | null;
  seeds: string | null;
  timings: string | null;
  error_code: string | null;
  error_message: string | null;
  cancelled_by: string | null;
  posted_to: string | null;
  posted_at: number | null;
}

interface ImageRow {
  job_id: string;
  idx: number;
  path: string;
  seed: string;
  mime: EncodedImage["mime"];
  width: number;
  height: number;
  deleted_at: number | null;
}

/** Each entry upgrades the schema by one version; never edit one that has shipped, append a new one. */
const MIGRATIONS: readonly string[] = [
  `CREATE TABLE jobs (
     seq INTEGER PRIMARY KEY,
     id TEXT NOT NULL UNIQUE,
     user_id TEXT NOT NULL,
     platform TEXT NOT NULL,
     request TEXT NOT NULL,
     tier INTEGER NOT NULL DEFAULT 0,
     status TEXT NOT NULL CHECK (status IN ('queued', 'running', 'done', 'failed', 'cancelled')),
     device TEXT,
     attempts INTEGER NOT NULL DEFAULT 0,
     created_at INTEGER NOT NULL,
     started_at INTEGER,
     finished_at INTEGER,
     seeds TEXT,
     timings TEXT,
     error_code TEXT,
     error_message TEXT,
     cancelled_by TEXT,
     posted_to TEXT,
     posted_at INTEGER
   );
   CREATE INDEX jobs_by_user ON jobs (user_id, seq DESC);
   CREATE INDEX jobs_unfinished ON jobs (status) WHERE status IN ('queued', 'running');
   CREATE TABLE images (
     job_id TEXT NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
     idx INTEGER NOT NULL,
     path TEXT NOT NULL,
     seed TEXT NOT NULL,
     mime TEXT NOT NULL,
     width INTEGER NOT NULL,
     height INTEGER NOT NULL,
     deleted_at INTEGER,
     PRIMARY KEY (job_id, idx)
   );`,
];

export const SCHEMA_VERSION = MIGRATIONS.length;

function migrate(db: Database.Database): void {
  db.exec("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)");
  const row = db.prepare<[], { version: number }>("SELECT version FROM schema_version").get();
  const current = row?.version ?? 0;
  if (current > MIGRATIONS.length) {
    throw new ConfigError(
      `The job store ${db.name} was written by a newer easel (schema version ${current}; this one knows up to ${MIGRATIONS.length}). Upgrade easel, or point EASEL_DATA_DIR at another folder.`,
    );
  }
  db.transaction(() => {
    for (let version = current; version < MIGRATIONS.length; version++) db.exec(MIGRATIONS[version]!);
    if (row) db.prepare("UPDATE schema_version SET version = ?").run(MIGRATIONS.length);
    else db.prepare("INSERT INTO schema_version (version) VALUES (?)").run(MIGRATIONS.length);
  }).immediate();
}

const optional = <T>(value: T | null): T | undefined => (value === null ? undefined : value);

export class JobStore {
  private readonly statements;

  private constructor(private readonly db: Database.Database) {
    this.statements = {
      insert: db.prepare(
        `INSERT INTO jobs (id, user_id, platform, request, tier, status, created_at)
         VALUES (@id, @userId, @platform, @request, @tier, 'queued', @createdAt)`,
      ),
      get: db.prepare<[string], JobRow>("SELECT * FROM jobs WHERE id = ?"),
      images: db.prepare<[string], ImageRow>("SELECT * FROM images WHERE job_id = ? ORDER BY idx"),
      history: db.prepare<[string, number], JobRow>(
        "SELECT * FROM jobs WHERE user_id = ? ORDER BY seq DESC LIMIT ?",
      ),
      unfinished: db.prepare<[], JobRow>(
        "SELECT * FROM jobs WHERE status IN ('queued', 'running') ORDER BY seq",
      ),
      running: db.prepare(
        `UPDATE jobs SET status = 'running', device = @device, started_at = @at, attempts = attempts + 1
         WHERE id = @id AND status = 'queued'`,
      ),
      requeue: db.prepare(
        "UPDATE jobs SET status = 'queued', device = NULL, started_at = NULL WHERE id = ? AND status IN ('queued', 'running')",
      ),
      done: db.prepare(
        `UPDATE jobs SET status = 'done', finished_at = @at, seeds = @seeds, timings = @timings
         WHERE id = @id AND status = 'running'`,
      ),
      image: db.prepare(
        `INSERT OR REPLACE INTO images (job_id, idx, path, seed, mime, width, height)
         VALUES (@jobId, @index, @path, @seed, @mime, @width, @height)`,
      ),
      failed: db.prepare(
        `UPDATE jobs SET status = 'failed', finished_at = @at, error_code = @code, error_message = @message
         WHERE id = @id AND status IN ('queued', 'running')`,
      ),
      cancelled: db.prepare(
        `UPDATE jobs SET status = 'cancelled', finished_at = @at, cancelled_by = @by
         WHERE id = @id AND status IN ('queued', 'running')`,
      ),
      posted: db.prepare("UPDATE jobs SET posted_to = @where, posted_at = @at WHERE id = @id"),
      sweepable: db.prepare<[number], { job_id: string; idx: number; path: string }>(
        `SELECT images.job_id, images.idx, images.path FROM images JOIN jobs ON jobs.id = images.job_id
         WHERE images.deleted_at IS NULL AND (jobs.posted_at IS NOT NULL OR jobs.finished_at < ?)`,
      ),
      imageDeleted: db.prepare("UPDATE images SET deleted_at = @at WHERE job_id = @jobId AND idx = @index"),
      liveImagePath: db.prepare<[string, string], { found: number }>(
        `SELECT 1 AS found FROM images WHERE path = ? AND deleted_at IS NULL
         UNION ALL SELECT 1 FROM jobs WHERE id = ? AND status IN ('queued', 'running') LIMIT 1`,
      ),
    };
  }

  /** Opens (creating when needed) the store at `file`; ":memory:" gives a throwaway store. */
  static open(file: string): JobStore {
    if (file !== ":memory:") mkdirSync(dirname(file), { recursive: true });
    const db = new Database(file);
    db.pragma("journal_mode = WAL");
    // WAL + NORMAL survives a killed process (not a power cut mid-commit), at a fraction of FULL's cost.
    db.pragma("synchronous = NORMAL");
    db.pragma("foreign_keys = ON");
    db.pragma("busy_timeout = 5000");
    migrate(db);
    return new JobStore(db);
  }

  get schemaVersion(): number {
    return this.db.prepare<[], { version: number }>("SELECT version FROM schema_version").get()!.version;
  }

  insert(job: NewJob): StoredJob {
    const info = this.statements.insert.run({
      id: job.id,
      userId: job.request.requester.userId,
      platform: job.request.requester.platform,
      request: JSON.stringify(job.request),
      tier: job.tier,
      createdAt: job.createdAt,
    });
    return {
      id: job.id,
      seq: Number(info.lastInsertRowid),
      userId: job.request.requester.userId,
      request: job.request,
      tier: job.tier,
      status: "queued",
      device: undefined,
      attempts: 0,
      createdAt: job.createdAt,
      startedAt: undefined,
      finishedAt: undefined,
      seeds: undefined,
      timings: undefined,
      error: undefined,
      cancelledBy: undefined,
      postedTo: undefined,
      postedAt: undefined,
      images: [],
    };
  }

  get(id: string): StoredJob | undefined {
    const row = this.statements.get.get(id);
    return row ? this.recordOf(row) : undefined;
  }

  /** A user's latest jobs, newest first. */
  historyOf(userId: UserId, limit = 10): StoredJob[] {
    return this.statements.history.all(userId, limit).map((row) => this.recordOf(row));
  }

  /** Jobs that were queued or running, in arrival order (what a restart must pick up). */
  unfinished(): StoredJob[] {
    return this.statements.unfinished.all().map((row) => this.recordOf(row));
  }

  /** Returns false when the job is no longer queued (cancelled meanwhile). */
  markRunning(id: string, device: string, at: number): boolean {
    return this.statements.running.run({ id, device, at }).changes === 1;
  }

  /** Back to the queue: a job interrupted by a stop or a restart. */
  markQueued(id: string): void {
    this.statements.requeue.run(id);
  }

  markDone(
    id: string,
    result: { seeds: string[]; timings: GenerateTimings; images: FinishedImage[] },
    at: number,
  ): void {
    this.db.transaction(() => {
      for (const [index, { path, seed, mime, width, height }] of result.images.entries()) {
        this.statements.image.run({ jobId: id, index, path, seed, mime, width, height });
      }
      this.statements.done.run({
        id,
        at,
        seeds: JSON.stringify(result.seeds),
        timings: JSON.stringify(result.timings),
      });
    })();
  }

  markFailed(id: string, error: { code: ErrorCode; message: string }, at: number): void {
    this.statements.failed.run({ id, at, ...error });
  }

  markCancelled(id: string, byUserId: UserId | undefined, at: number): void {
    this.statements.cancelled.run({ id, at, by: byUserId ?? null });
  }

  /** Records where a job's images were posted; their files become eligible for the sweep. */
  markPosted(id: string, where: string, at: number): boolean {
    return this.statements.posted.run({ id, where, at }).changes === 1;
  }

  /** Image files that were posted, or that finished before `expiredBefore`, and are still on disk. */
  sweepCandidates(expiredBefore: number): SweepCandidate[] {
    return this.statements.sweepable
      .all(expiredBefore)
      .map((row) => ({ jobId: row.job_id, index: row.idx, path: row.path }));
  }

  markImageDeleted(jobId: string, index: number, at: number): void {
    this.statements.imageDeleted.run({ jobId, index, at });
  }

  /** Whether a file at `path` belongs to a live image, or to job `jobId` that may still write it. */
  isFileInUse(path: string, jobId: string): boolean {
    return this.statements.liveImagePath.get(path, jobId) !== undefined;
  }

  close(): void {
    if (this.db.open) this.db.close();
  }

  private recordOf(row: JobRow): StoredJob {
    return {
      id: row.id,
      seq: row.seq,
      userId: row.user_id as UserId,
      request: JSON.parse(row.request) as GenerationRequest,
      tier: row.tier,
      status: row.status,
      device: optional(row.device),
      attempts: row.attempts,
      createdAt: row.created_at,
      startedAt: optional(row.started_at),
      finishedAt: optional(row.finished_at),
      seeds: row.seeds === null ? undefined : (JSON.parse(row.seeds) as string[]),
      timings: row.timings === null ? undefined : (JSON.parse(row.timings) as GenerateTimings),
      error:
        row.error_code === null
          ? undefined
          : { code: row.error_code as ErrorCode, message: row.error_message ?? "" },
      cancelledBy: optional(row.cancelled_by) as UserId | undefined,
      postedTo: optional(row.posted_to),
      postedAt: optional(row.posted_at),
      images: this.statements.images.all(row.id).map((image) => ({
        index: image.idx,
        path: image.path,
        seed: image.seed,
        mime: image.mime,
        width: image.width,
        height: image.height,
        deleted: image.deleted_at !== null,
      })),
    };
  }
}
