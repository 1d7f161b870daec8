/**
 * The job store: every request with its status, seeds, result files and where they were posted, in
 * an embedded SQLite file (WAL, so a crash loses nothing that was committed). Synchronous, like
 * better-sqlite3 itself: each call is one short statement or transaction on the main thread.
 */
import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import Database from "better-sqlite3";
import { ConfigError, EaselError, type ErrorCode } from "../errors.js";
import { describeFileError } from "../files.js";
import type { EncodedImage, GenerateTimings } from "../pipeline/types.js";
import type { ImageModeration, ModerationAction } from "../requests/jobs.js";
import { placeOf, type ReleaseOutcome, type WithheldImage } from "../requests/operator.js";
import type { GenerationRequest, Platform, UserId } from "../requests/request.js";
import type { JobRecord, JobStatus } from "./job-queue.js";
import type { ProcessKind, Submitter } from "./submitter.js";

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
  /** Output moderation's decision; absent when moderation was off. */
  moderation?: ImageModeration;
}

/**
 * A job row as the store keeps it: the public JobRecord (job-queue.ts), with the image files'
 * paths instead of image references, and the process that submitted it.
 */
export interface StoredJob extends Omit<JobRecord, "images"> {
  images: StoredImage[];
  /** The process that submitted the job (for older rows: its kind, from the platform). */
  submitter: Submitter;
}

export interface NewJob {
  id: string;
  request: GenerationRequest;
  tier: number;
  createdAt: number;
  /** Default: a service job of no known process (as a row from before submitters were kept). */
  submitter?: Submitter;
}

export interface FinishedImage {
  path: string;
  seed: string;
  mime: EncodedImage["mime"];
  width: number;
  height: number;
  /** Output moderation's decision; absent when moderation is off. */
  moderation?: ImageModeration;
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
  submitter_kind: ProcessKind | null;
  submitter_pid: number | null;
  submitter_start: string | null;
  submitter_queue: string | null;
  deleted_by?: string | null;
  deleted_at?: number | null;
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
  moderation_flagged: number | null;
  moderation_score: number | null;
  moderation_label: string | null;
  moderation_action: ModerationAction | null;
  released_by: string | null;
  released_at: number | null;
}

export interface StoredBan {
  userId: UserId;
  byUserId: UserId;
  at: number;
  reason?: string;
}

export interface StoredAction {
  at: number;
  actor: UserId;
  action: "cancel" | "ban" | "unban" | "delete" | "moderate" | "release";
  target: string;
  detail?: string;
  place?: string;
}

export interface DayRow {
  day: string;
  platform: Platform;
  jobs: number;
  images: number;
  failed: number;
  cancelled: number;
}

export interface AdminRequestRow {
  id: number;
  kind: "cancel";
  target: string;
  actor: string;
  requested_at: number;
  handled_at: number | null;
  outcome: string | null;
}

interface BanRow {
  user_id: string;
  banned_by: string;
  banned_at: number;
  reason: string | null;
}

interface ActionRow {
  id: number;
  at: number;
  actor: string;
  action: string;
  target: string;
  detail: string | null;
  place: string | null;
}

const banOf = (row: BanRow): StoredBan => ({
  userId: row.user_id as UserId,
  byUserId: row.banned_by as UserId,
  at: row.banned_at,
  ...(row.reason !== null ? { reason: row.reason } : {}),
});

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
  // Which process submitted each job, so a restart touches only its own kind's dead jobs.
  `ALTER TABLE jobs ADD COLUMN submitter_kind TEXT CHECK (submitter_kind IN ('cli', 'service'));
   ALTER TABLE jobs ADD COLUMN submitter_pid INTEGER;
   ALTER TABLE jobs ADD COLUMN submitter_start TEXT;
   ALTER TABLE jobs ADD COLUMN submitter_queue TEXT;
   UPDATE jobs SET submitter_kind = CASE platform WHEN 'cli' THEN 'cli' ELSE 'service' END;`,
  // Operator controls: where each job was asked (read from its request), deleted results, bans,
  // the audit trail of admin actions, and admin requests that cross processes (CLI → service).
  `ALTER TABLE jobs ADD COLUMN server_id TEXT GENERATED ALWAYS AS (json_extract(request, '$.requester.serverId')) VIRTUAL;
   ALTER TABLE jobs ADD COLUMN channel_id TEXT GENERATED ALWAYS AS (json_extract(request, '$.requester.channelId')) VIRTUAL;
   ALTER TABLE jobs ADD COLUMN deleted_by TEXT;
   ALTER TABLE jobs ADD COLUMN deleted_at INTEGER;
   CREATE INDEX jobs_by_user_time ON jobs (user_id, created_at);
   CREATE INDEX jobs_by_time ON jobs (created_at);
   CREATE TABLE bans (
     user_id TEXT PRIMARY KEY,
     banned_by TEXT NOT NULL,
     banned_at INTEGER NOT NULL,
     reason TEXT
   );
   CREATE TABLE admin_actions (
     id INTEGER PRIMARY KEY,
     at INTEGER NOT NULL,
     actor TEXT NOT NULL,
     action TEXT NOT NULL,
     target TEXT NOT NULL,
     detail TEXT,
     place TEXT
   );
   CREATE INDEX admin_actions_by_time ON admin_actions (at);
   CREATE TABLE admin_requests (
     id INTEGER PRIMARY KEY,
     kind TEXT NOT NULL CHECK (kind IN ('cancel')),
     target TEXT NOT NULL,
     actor TEXT NOT NULL,
     requested_at INTEGER NOT NULL,
     handled_at INTEGER,
     outcome TEXT
   );
   CREATE INDEX admin_requests_pending ON admin_requests (id) WHERE handled_at IS NULL;`,
  // Output moderation: each image's score, top class, flag and action, and who released a withheld one.
  `ALTER TABLE images ADD COLUMN moderation_flagged INTEGER;
   ALTER TABLE images ADD COLUMN moderation_score REAL;
   ALTER TABLE images ADD COLUMN moderation_label TEXT;
   ALTER TABLE images ADD COLUMN moderation_action TEXT
     CHECK (moderation_action IN ('none', 'spoiler', 'blur', 'withhold'));
   ALTER TABLE images ADD COLUMN released_by TEXT;
   ALTER TABLE images ADD COLUMN released_at INTEGER;
   CREATE INDEX images_withheld ON images (job_id, idx)
     WHERE moderation_action = 'withhold' AND released_at IS NULL AND deleted_at IS NULL;`,
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

/**
 * The job store cannot be opened. `message` is the operator's (the path and what is wrong, for the
 * CLI and the logs); chat users only ever get `userMessage`, which names no path.
 */
export class JobStoreOpenError extends EaselError {
  constructor(problem: string, cause: unknown) {
    super("config", "The bot's job store is not set up correctly; its owner can see why in the logs.", {
      cause,
    });
    this.message = `${problem}. Fix it, or point EASEL_DATA_DIR at another folder.`;
  }
}

function folderProblem(error: unknown): string {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  if (code === "EEXIST" || code === "ENOTDIR") return "cannot be created: a file is in the way of a folder";
  return `cannot be created: ${describeFileError(error)}`;
}

function databaseProblem(error: unknown): string {
  const code = (error as { code?: unknown } | undefined)?.code;
  const text = error instanceof Error ? error.message : String(error);
  if (code === "SQLITE_NOTADB" || code === "SQLITE_CORRUPT") {
    return `is not a readable SQLite database (${String(code)}: ${text}); move it aside to start an empty store`;
  }
  if (code === "SQLITE_CANTOPEN" || code === "SQLITE_READONLY" || code === "SQLITE_PERM") {
    return `cannot be opened for writing (${String(code)}: ${text})`;
  }
  return `cannot be opened (${typeof code === "string" ? `${code}: ` : ""}${text})`;
}

/** The kind of process a job without a recorded submitter came from, as the submitter migration assumes. */
const kindOfPlatform = (request: GenerationRequest): ProcessKind =>
  request.requester.platform === "cli" ? "cli" : "service";

const optional = <T>(value: T | null): T | undefined => (value === null ? undefined : value);

/** An image row's moderation decision, when it has one (rows from before moderation, or with it off, have none). */
function moderationOf(row: ImageRow): { moderation?: ImageModeration } {
  if (row.moderation_action === null) return {};
  return {
    moderation: {
      flagged: row.moderation_flagged === 1,
      score: row.moderation_score ?? 0,
      label: row.moderation_label ?? "",
      action: row.moderation_action,
      ...(row.released_at !== null
        ? { released: { byUserId: row.released_by as UserId, at: row.released_at } }
        : {}),
    },
  };
}

export class JobStore {
  private readonly statements;

  /** The store's file (":memory:" for an in-memory store): what an operator's message names. */
  readonly path: string;

  private constructor(private readonly db: Database.Database) {
    this.path = db.name;
    this.statements = {
      insert: db.prepare(
        `INSERT INTO jobs (id, user_id, platform, request, tier, status, created_at,
                           submitter_kind, submitter_pid, submitter_start, submitter_queue)
         VALUES (@id, @userId, @platform, @request, @tier, 'queued', @createdAt,
                 @submitterKind, @submitterPid, @submitterStart, @submitterQueue)`,
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
        `INSERT OR REPLACE INTO images (job_id, idx, path, seed, mime, width, height,
                                        moderation_flagged, moderation_score, moderation_label, moderation_action)
         VALUES (@jobId, @index, @path, @seed, @mime, @width, @height,
                 @flagged, @score, @label, @action)`,
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
      // Posted or not: buttons (upscale, refine) read the file until the retention time.
      sweepable: db.prepare<[number], { job_id: string; idx: number; path: string }>(
        `SELECT images.job_id, images.idx, images.path FROM images JOIN jobs ON jobs.id = images.job_id
         WHERE images.deleted_at IS NULL AND jobs.finished_at < ?`,
      ),
      cancelRequest: db.prepare(
        "UPDATE jobs SET cancelled_by = @by WHERE id = @id AND status = 'running' AND cancelled_by IS NULL",
      ),
      imageDeleted: db.prepare("UPDATE images SET deleted_at = @at WHERE job_id = @jobId AND idx = @index"),
      liveImagePath: db.prepare<[string, string], { found: number }>(
        `SELECT 1 AS found FROM images WHERE path = ? AND deleted_at IS NULL
         UNION ALL SELECT 1 FROM jobs WHERE id = ? AND status IN ('queued', 'running') LIMIT 1`,
      ),
    };
  }

  /**
   * Opens (creating when needed) the store at `file`; ":memory:" gives a throwaway store. A folder
   * that cannot be made or a file that is not a usable database is a JobStoreOpenError naming
   * the path and what is wrong.
   */
  static open(file: string): JobStore {
    if (file !== ":memory:") {
      try {
        mkdirSync(dirname(file), { recursive: true });
      } catch (error) {
        throw new JobStoreOpenError(`the data folder ${dirname(file)} ${folderProblem(error)}`, error);
      }
    }
    let db: Database.Database | undefined;
    try {
      db = new Database(file);
      db.pragma("journal_mode = WAL");
      // WAL + NORMAL survives a killed process (not a power cut mid-commit), at a fraction of FULL's cost.
      db.pragma("synchronous = NORMAL");
      db.pragma("foreign_keys = ON");
      db.pragma("busy_timeout = 5000");
      // A damaged file opens fine and fails the first request that reads the damage: check it now.
      const check = db.pragma("quick_check", { simple: true });
      if (check !== "ok") {
        throw new JobStoreOpenError(
          `the job store ${file} is damaged (quick_check: ${String(check)}); move it aside (and its -wal and -shm files) to start an empty store, or restore a backup`,
          new Error(String(check)),
        );
      }
      migrate(db);
      return new JobStore(db);
    } catch (error) {
      db?.close();
      if (error instanceof EaselError) throw error;
      throw new JobStoreOpenError(`the job store ${file} ${databaseProblem(error)}`, error);
    }
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
      submitterKind: job.submitter?.kind ?? kindOfPlatform(job.request),
      submitterPid: job.submitter?.pid ?? null,
      submitterStart: job.submitter?.start ?? null,
      submitterQueue: job.submitter?.queue ?? null,
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
      submitter: job.submitter ?? { kind: kindOfPlatform(job.request) },
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

  /**
   * Records a cancel of a running job before its run has ended: `cancelledBy` on a job still
   * running means it ends cancelled, also when the process ends first (recover() sees it).
   */
  requestCancel(id: string, byUserId: UserId): void {
    this.statements.cancelRequest.run({ id, by: byUserId });
  }

  /** Back to the queue: a job interrupted by a stop or a restart. */
  markQueued(id: string): void {
    this.statements.requeue.run(id);
  }

  /**
   * Records a finished job and its images. Images output moderation flagged are written to the
   * audit trail in the same transaction (`moderate`, by `audit.actor`: the user who asked).
   */
  markDone(
    id: string,
    result: { seeds: string[]; timings: GenerateTimings; images: FinishedImage[] },
    at: number,
    audit?: { actor: UserId; place: string },
  ): void {
    this.db.transaction(() => {
      for (const [index, { path, seed, mime, width, height, moderation }] of result.images.entries()) {
        this.statements.image.run({
          jobId: id,
          index,
          path,
          seed,
          mime,
          width,
          height,
          flagged: moderation ? Number(moderation.flagged) : null,
          score: moderation?.score ?? null,
          label: moderation?.label ?? null,
          action: moderation?.action ?? null,
        });
        if (audit && moderation?.flagged) {
          this.addAction({
            at,
            actor: audit.actor,
            action: "moderate",
            target: `${id}-${index}`,
            detail: `${moderation.action}: unsafe score ${moderation.score} (${moderation.label})`,
            place: audit.place,
          });
        }
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

  /** Records where a job's images were posted (where they can be fetched back from after the sweep). */
  markPosted(id: string, where: string, at: number): boolean {
    return this.statements.posted.run({ id, where, at }).changes === 1;
  }

  /** Image files of jobs that finished before `expiredBefore` and are still on disk. */
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

  // ── Operator controls: usage, bans, deleted results, the audit trail, admin requests ─────────

  private readonly operatorStatements = new Map<string, Database.Statement>();

  /** A prepared statement of the operator queries, prepared once on first use. */
  private sql(text: string): Database.Statement {
    let statement = this.operatorStatements.get(text);
    if (!statement) {
      statement = this.db.prepare(text);
      this.operatorStatements.set(text, statement);
    }
    return statement;
  }

  /** Images a user's requests since `since` hold (failed and cancelled ones excluded), and their latest request. */
  usageSince(userId: UserId, since: number): { images: number; lastRequestAt: number | undefined } {
    const used = this.sql(
      `SELECT COALESCE(SUM(json_extract(request, '$.count')), 0) AS images FROM jobs
       WHERE user_id = ? AND created_at >= ? AND status IN ('queued', 'running', 'done')`,
    ).get(userId, since) as { images: number };
    const latest = this.sql("SELECT MAX(created_at) AS at FROM jobs WHERE user_id = ?").get(userId) as {
      at: number | null;
    };
    return { images: used.images, lastRequestAt: optional(latest.at) };
  }

  banOf(userId: UserId): StoredBan | undefined {
    const row = this.sql("SELECT * FROM bans WHERE user_id = ?").get(userId) as BanRow | undefined;
    return row ? banOf(row) : undefined;
  }

  bans(): StoredBan[] {
    return (this.sql("SELECT * FROM bans ORDER BY banned_at").all() as BanRow[]).map(banOf);
  }

  /** Bans a user and records the action; false (and nothing recorded) when already banned. */
  addBan(ban: StoredBan, place: string | undefined): boolean {
    return this.db.transaction(() => {
      const added = this.sql(
        "INSERT OR IGNORE INTO bans (user_id, banned_by, banned_at, reason) VALUES (?, ?, ?, ?)",
      ).run(ban.userId, ban.byUserId, ban.at, ban.reason ?? null).changes;
      if (added === 1) {
        this.addAction({
          at: ban.at,
          actor: ban.byUserId,
          action: "ban",
          target: ban.userId,
          ...(ban.reason ? { detail: ban.reason } : {}),
          ...(place ? { place } : {}),
        });
      }
      return added === 1;
    })();
  }

  /** Lifts a ban and records the action; false when there was none. */
  removeBan(userId: UserId, byUserId: UserId, at: number, place: string | undefined): boolean {
    return this.db.transaction(() => {
      const removed = this.sql("DELETE FROM bans WHERE user_id = ?").run(userId).changes;
      if (removed === 1) {
        this.addAction({ at, actor: byUserId, action: "unban", target: userId, ...(place ? { place } : {}) });
      }
      return removed === 1;
    })();
  }

  addAction(action: StoredAction): void {
    this.sql(
      "INSERT INTO admin_actions (at, actor, action, target, detail, place) VALUES (?, ?, ?, ?, ?, ?)",
    ).run(action.at, action.actor, action.action, action.target, action.detail ?? null, action.place ?? null);
  }

  actionsSince(since: number): StoredAction[] {
    const rows = this.sql("SELECT * FROM admin_actions WHERE at >= ? ORDER BY id").all(since) as ActionRow[];
    return rows.map((row) => ({
      at: row.at,
      actor: row.actor as UserId,
      action: row.action as StoredAction["action"],
      target: row.target,
      ...(row.detail !== null ? { detail: row.detail } : {}),
      ...(row.place !== null ? { place: row.place } : {}),
    }));
  }

  /**
   * Marks a finished job's result deleted by `byUserId` and its images gone, and records the
   * action; returns the files to remove, or undefined when it was already deleted (or not done).
   * The files go after the commit: a crash in between leaves strays, which the sweep removes.
   */
  markResultDeleted(
    jobId: string,
    byUserId: UserId,
    at: number,
    place: string | undefined,
  ): string[] | undefined {
    return this.db.transaction(() => {
      const marked = this.sql(
        "UPDATE jobs SET deleted_by = ?, deleted_at = ? WHERE id = ? AND status = 'done' AND deleted_at IS NULL",
      ).run(byUserId, at, jobId).changes;
      if (marked !== 1) return undefined;
      const paths = (
        this.sql("SELECT path FROM images WHERE job_id = ? AND deleted_at IS NULL").all(jobId) as Array<{
          path: string;
        }>
      ).map((row) => row.path);
      this.sql("UPDATE images SET deleted_at = ? WHERE job_id = ? AND deleted_at IS NULL").run(at, jobId);
      this.addAction({ at, actor: byUserId, action: "delete", target: jobId, ...(place ? { place } : {}) });
      return paths;
    })();
  }

  /**
   * Withheld images no admin has released whose files are still kept, oldest first, with who asked
   * for them and where.
   */
  withheldImages(): WithheldImage[] {
    const rows = this.sql(
      `SELECT images.job_id, images.idx, images.moderation_score, images.moderation_label,
              jobs.request, jobs.finished_at, jobs.created_at
       FROM images JOIN jobs ON jobs.id = images.job_id
       WHERE images.moderation_action = 'withhold' AND images.released_at IS NULL AND images.deleted_at IS NULL
       ORDER BY jobs.finished_at, jobs.seq, images.idx`,
    ).all() as Array<{
      job_id: string;
      idx: number;
      moderation_score: number;
      moderation_label: string;
      request: string;
      finished_at: number | null;
      created_at: number;
    }>;
    return rows.map((row) => {
      const { requester, prompt } = JSON.parse(row.request) as GenerationRequest;
      return {
        imageId: `${row.job_id}-${row.idx}`,
        jobId: row.job_id,
        index: row.idx,
        userId: requester.userId,
        ...(requester.userName ? { userName: requester.userName } : {}),
        place: placeOf(requester),
        prompt,
        score: row.moderation_score,
        label: row.moderation_label,
        at: row.finished_at ?? row.created_at,
      };
    });
  }

  /** Releases a withheld image and records the action, in one transaction. */
  releaseImage(
    jobId: string,
    index: number,
    byUserId: UserId,
    at: number,
    place: string | undefined,
  ): ReleaseOutcome {
    return this.db.transaction((): ReleaseOutcome => {
      const row = this.sql(
        "SELECT moderation_action, released_at, deleted_at FROM images WHERE job_id = ? AND idx = ?",
      ).get(jobId, index) as Pick<ImageRow, "moderation_action" | "released_at" | "deleted_at"> | undefined;
      if (!row) return "not_found";
      if (row.moderation_action !== "withhold" || row.deleted_at !== null) return "not_withheld";
      if (row.released_at !== null) return "already_released";
      this.sql("UPDATE images SET released_by = ?, released_at = ? WHERE job_id = ? AND idx = ?").run(
        byUserId,
        at,
        jobId,
        index,
      );
      this.addAction({
        at,
        actor: byUserId,
        action: "release",
        target: `${jobId}-${index}`,
        ...(place ? { place } : {}),
      });
      return "released";
    })();
  }

  /** Cancels a queued or running job in the store alone (no process runs it); false when it had ended. */
  cancelUnfinished(jobId: string, byUserId: UserId, at: number): boolean {
    return (
      this.sql(
        `UPDATE jobs SET status = 'cancelled', finished_at = ?, cancelled_by = ?
         WHERE id = ? AND status IN ('queued', 'running')`,
      ).run(at, byUserId, jobId).changes === 1
    );
  }

  /** Jobs per UTC day and platform created in [since, until), with their images, failures and cancels. */
  dailyStats(since: number, until: number): DayRow[] {
    return this.sql(
      `SELECT strftime('%Y-%m-%d', created_at / 1000, 'unixepoch') AS day, platform,
              COUNT(*) AS jobs,
              COALESCE(SUM((SELECT COUNT(*) FROM images WHERE images.job_id = jobs.id)), 0) AS images,
              SUM(status = 'failed') AS failed, SUM(status = 'cancelled') AS cancelled
       FROM jobs WHERE created_at >= ? AND created_at < ?
       GROUP BY day, platform ORDER BY day, platform`,
    ).all(since, until) as DayRow[];
  }

  failuresByCode(since: number, until: number): Array<{ code: string; count: number }> {
    return this.sql(
      `SELECT COALESCE(error_code, 'unknown') AS code, COUNT(*) AS count FROM jobs
       WHERE status = 'failed' AND created_at >= ? AND created_at < ? GROUP BY code ORDER BY count DESC, code`,
    ).all(since, until) as Array<{ code: string; count: number }>;
  }

  /** Mean wait (submission to start) over started jobs, mean device time over finished ones. */
  meanTimes(since: number, until: number): { waitMs: number | null; deviceMs: number | null } {
    return this.sql(
      `SELECT AVG(CASE WHEN started_at IS NOT NULL THEN started_at - created_at END) AS waitMs,
              AVG(CASE WHEN status = 'done' THEN json_extract(timings, '$.totalMs') END) AS deviceMs
       FROM jobs WHERE created_at >= ? AND created_at < ?`,
    ).get(since, until) as { waitMs: number | null; deviceMs: number | null };
  }

  addAdminRequest(kind: "cancel", target: string, actor: UserId, at: number): number {
    const info = this.sql(
      "INSERT INTO admin_requests (kind, target, actor, requested_at) VALUES (?, ?, ?, ?)",
    ).run(kind, target, actor, at);
    return Number(info.lastInsertRowid);
  }

  pendingAdminRequests(): AdminRequestRow[] {
    return this.sql(
      "SELECT * FROM admin_requests WHERE handled_at IS NULL ORDER BY id",
    ).all() as AdminRequestRow[];
  }

  /** Answers a request once: false when another process answered it first. */
  settleAdminRequest(id: number, outcome: string, at: number): boolean {
    return (
      this.sql(
        "UPDATE admin_requests SET handled_at = ?, outcome = ? WHERE id = ? AND handled_at IS NULL",
      ).run(at, outcome, id).changes === 1
    );
  }

  adminRequest(id: number): AdminRequestRow | undefined {
    return this.sql("SELECT * FROM admin_requests WHERE id = ?").get(id) as AdminRequestRow | undefined;
  }

  /**
   * The end of the audit trail: finished jobs whose images are all gone, admin actions and answered
   * requests, older than `before`.
   */
  sweepAudit(before: number): { jobs: number; actions: number } {
    return this.db.transaction(() => {
      const jobs = this.sql(
        `DELETE FROM jobs WHERE status IN ('done', 'failed', 'cancelled') AND COALESCE(finished_at, created_at) < ?
         AND NOT EXISTS (SELECT 1 FROM images WHERE images.job_id = jobs.id AND images.deleted_at IS NULL)`,
      ).run(before).changes;
      const actions = this.sql("DELETE FROM admin_actions WHERE at < ?").run(before).changes;
      this.sql("DELETE FROM admin_requests WHERE handled_at IS NOT NULL AND requested_at < ?").run(before);
      return { jobs, actions };
    })();
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
        ...moderationOf(image),
      })),
      submitter: {
        kind: row.submitter_kind ?? "service",
        ...(row.submitter_pid !== null ? { pid: row.submitter_pid } : {}),
        ...(row.submitter_start !== null ? { start: row.submitter_start } : {}),
        ...(row.submitter_queue !== null ? { queue: row.submitter_queue } : {}),
      },
      ...(row.deleted_at != null
        ? { deleted: { byUserId: row.deleted_by as UserId, at: row.deleted_at } }
        : {}),
    };
  }
}
