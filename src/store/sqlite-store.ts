/**
 * The embedded store: one SQLite file (better-sqlite3, WAL) for jobs, approvals, batches, outcomes,
 * the audit trail and the Slack outbox. It implements the store contract synchronously: every
 * transition is an IMMEDIATE transaction (the write lock is taken up front, so compare-and-set reads
 * are current), with the outbox rows that report it.
 */
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import { emptyTally, type Approval, type Batch, type BatchState, type Job, type JobState, type PlannedBatch, type Tally } from '../domain/job.js';
import type { JobOutcome } from '../domain/outcome.js';
import { LANE_KINDS } from '../domain/outbox-lanes.js';
import { OutboxMessageSchema, type OutboxMessage, type OutboxRow, type OutboxWrite } from '../domain/outbox-message.js';
import type { Preflight } from '../domain/preflight.js';
import { BACKSTOP_CHECKPOINT_PAGES, WalCheckpointer, type CheckpointerOptions } from './wal-checkpointer.js';
import type {
  ApprovalResult,
  AuditEntry,
  AuditEvent,
  BatchAfter,
  CancelResult,
  CreateResult,
  GroupedCall,
  GroupedOutcome,
  InstanceNames,
  JobFilter,
  JobSummary,
  LeaseHolder,
  LeaseResult,
  NewJob,
  OutboxHeadsOptions,
  OutcomesReport,
  PreflightUpdate,
  PruneLimits,
  OutboxBacklog,
  Pruned,
  Report,
  Store,
} from './contract.js';
import { MIGRATIONS } from './migrations.js';
import {
  costOf,
  fitting,
  itemsOf,
  JobStateSchema,
  none,
  OutcomeSchema,
  outboxRowFrom,
  parseIds,
  payloadOf,
  ProviderSchema,
  ReadErrorsSchema,
  ReadingSchema,
  sqlList,
  StatusSchema,
  THREAD_CLOSERS,
  withItems,
  type OutboxDbRow,
  type ThreadItemsMessage,
  StoredApprovers,
  approvedJob,
  approversColumn,
  requestedAuditData,
  storedJob,
} from './rows.js';

/** A job's row without its ids: those are read (and parsed) once per job, see `SqliteStore.jobFrom`. */
interface JobRow {
  id: string;
  state: string;
  provider: string;
  region: string;
  force: number;
  dry_run: number;
  reason: string | null;
  requester: string;
  channel: string;
  approvals_needed: number;
  created_at: number;
  expires_at: number;
  decided_at: number | null;
  decided_by: string | null;
  completed_at: number | null;
  card_ts: string | null;
  reapproval_reason: string | null;
  verify: number;
  rolling: number | null;
  account: string;
  approvers: string | null;
  cancelled_at: number | null;
  cancelled_by: string | null;
}

/**
 * Every column of `jobs` but `ids`. A 5,000-id job's ids are some 110 kB of JSON: reading them into a string
 * and parsing them was most of `getJob`'s cost, and the outbox reads the same job for row after row.
 */
/** pending → sending: the claim of one outbox row (claimOutbox, claimOutboxRow). */
const CLAIM_OUTBOX = `UPDATE outbox SET state = 'sending', attempts = attempts + 1 WHERE id = ? AND state = 'pending'`;

const JOB_COLUMNS = `id, state, provider, region, force, dry_run, reason, requester, channel, approvals_needed, created_at,
  expires_at, decided_at, decided_by, completed_at, card_ts, reapproval_reason, verify, rolling, cancelled_at, cancelled_by, account, approvers`;

/**
 * A job's parsed ids. Nothing updates `jobs.ids` after the insert, so a job's ids are known by its id; the
 * creation time also has to match, in case a job pruned by another connection came back under the same id.
 */
interface CachedIds {
  createdAt: number;
  ids: readonly string[];
}

/** How many jobs' parsed ids are kept: the outbox reads the same few jobs for row after row. */
const IDS_CACHE_JOBS = 512;

function jobFromRow(row: JobRow, ids: string[]): Job {
  return {
    id: row.id,
    state: JobStateSchema.parse(row.state),
    provider: ProviderSchema.parse(row.provider),
    account: row.account,
    region: row.region,
    ids,
    force: row.force === 1,
    dryRun: row.dry_run === 1,
    verify: row.verify === 1,
    rolling: row.rolling,
    reason: row.reason,
    requester: row.requester,
    channel: row.channel,
    approvalsNeeded: row.approvals_needed,
    approvers: row.approvers === null ? null : StoredApprovers.parse(JSON.parse(row.approvers)),
    createdAt: row.created_at,
    expiresAt: row.expires_at,
    decidedAt: row.decided_at,
    decidedBy: row.decided_by,
    completedAt: row.completed_at,
    cardTs: row.card_ts,
    reapprovalReason: row.reapproval_reason,
    cancelledAt: row.cancelled_at,
    cancelledBy: row.cancelled_by,
  };
}

export interface SqliteStoreOptions {
  /** WAL checkpoints in a worker thread instead of inside whichever commit fills the WAL (the bot's own store). */
  backgroundCheckpoints?: boolean | CheckpointerOptions;
}

export class SqliteStore implements Store {
  readonly db: Database.Database;
  private readonly statements = new Map<string, Database.Statement>();
  /** Parsed ids by job id, least recently used first (a Map keeps insertion order). */
  private readonly idsCache = new Map<string, CachedIds>();
  private readonly outboxListeners: Array<() => void> = [];
  /** Set inside a transaction when it queued outbox rows; listeners hear of them after the commit. */
  private queued = false;

  /** Checkpoints in a worker thread (src/store/wal-checkpointer.ts), when the bot opened the store with them. */
  readonly checkpointer: WalCheckpointer | undefined;

  constructor(path: string, options: SqliteStoreOptions = {}) {
    if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
    this.db = new Database(path);
    this.db.pragma('journal_mode = WAL');
    // NORMAL in WAL mode syncs at checkpoints, not at every commit: a commit survives the process being
    // killed (kill -9, a crash), while a power loss or OS crash of the host may lose the last commits (never
    // corrupt the file). https://www.sqlite.org/pragma.html#pragma_synchronous , https://www.sqlite.org/wal.html
    // The one commit that must survive that too, a batch marked sending, goes through `durably`.
    this.db.pragma('synchronous = NORMAL');
    this.db.pragma('foreign_keys = ON');
    this.db.pragma('busy_timeout = 5000');
    this.migrate();
    if (options.backgroundCheckpoints && path !== ':memory:') {
      this.db.pragma(`wal_autocheckpoint = ${BACKSTOP_CHECKPOINT_PAGES}`);
      this.checkpointer = new WalCheckpointer(path, options.backgroundCheckpoints === true ? {} : options.backgroundCheckpoints);
    }
  }

  /** The checkpointer's connection closes first; this one, the last, checkpoints and removes the WAL as it closes. */
  close(): void {
    this.checkpointer?.close();
    this.db.close();
  }

  private migrate(): void {
    const version = this.db.pragma('user_version', { simple: true }) as number;
    for (let v = version; v < MIGRATIONS.length; v++) {
      const sql = MIGRATIONS[v] as string;
      this.db.transaction(() => {
        this.db.exec(sql);
        this.db.pragma(`user_version = ${v + 1}`);
      }).immediate();
    }
  }

  /** Prepared once per connection: preparing is a large part of a small statement's cost. */
  private sql(text: string): Database.Statement {
    let statement = this.statements.get(text);
    if (!statement) {
      statement = this.db.prepare(text);
      this.statements.set(text, statement);
    }
    return statement;
  }

  /** One IMMEDIATE transaction; outbox listeners hear of its rows only once it has committed. */
  private tx<T>(fn: () => T): T {
    if (this.db.inTransaction) return this.db.transaction(fn)();
    this.queued = false;
    const result = this.db.transaction(fn).immediate();
    if (this.queued) {
      this.queued = false;
      // On the next turn of the event loop: the caller (a slash command, a click) answers Slack before the
      // outbox starts rendering and sending what this commit queued.
      setImmediate(() => {
        for (const listener of this.outboxListeners) listener();
      });
    }
    return result;
  }

  /**
   * `tx`, with this one commit synced to disk before it returns: in WAL mode `synchronous = FULL` syncs the
   * WAL at every commit (https://www.sqlite.org/pragma.html#pragma_synchronous), so it survives a power loss
   * of the host as well; the sync covers the WAL up to this commit, so the NORMAL commits before it (the
   * approval, the planned batches) become durable with it. The setting cannot change inside a transaction,
   * so a nested call adds nothing.
   */
  private durably<T>(fn: () => T): T {
    if (this.db.inTransaction) return this.tx(fn);
    this.db.pragma('synchronous = FULL');
    try {
      return this.tx(fn);
    } finally {
      this.db.pragma('synchronous = NORMAL');
    }
  }

  /** The job of a row, its ids read and parsed once per job (a bounded least-recently-used cache). */
  private jobFrom(row: JobRow): Job {
    let cached = this.idsCache.get(row.id);
    if (cached?.createdAt === row.created_at) {
      this.idsCache.delete(row.id);
    } else {
      const stored = this.sql('SELECT ids FROM jobs WHERE id = ?').get(row.id) as { ids: string } | undefined;
      if (!stored) throw new Error(`job ${row.id} not found`);
      cached = { createdAt: row.created_at, ids: parseIds(stored.ids) };
    }
    this.idsCache.set(row.id, cached);
    if (this.idsCache.size > IDS_CACHE_JOBS) {
      const oldest = this.idsCache.keys().next();
      if (!oldest.done) this.idsCache.delete(oldest.value);
    }
    // A copy: callers own the job they get, and must not change the cached ids.
    return jobFromRow(row, [...cached.ids]);
  }

  onOutboxWritten(listener: () => void): void {
    this.outboxListeners.push(listener);
  }

  // ---- lease -----------------------------------------------------------------------------------

  acquireLease(me: LeaseHolder, now: number, staleMs: number, isAlive: (pid: number) => boolean): LeaseResult {
    return this.tx((): LeaseResult => {
      const row = this.sql(`SELECT holder, pid, host, heartbeat_at FROM lease WHERE name = 'writer'`).get() as
        | { holder: string; pid: number; host: string; heartbeat_at: number }
        | undefined;
      if (row && row.holder !== me.id) {
        const age = now - row.heartbeat_at;
        const deadHere = row.host === me.host && !isAlive(row.pid);
        if (age < staleMs && !deadHere) {
          return { kind: 'held', holder: { id: row.holder, pid: row.pid, host: row.host }, heartbeatAgeMs: age };
        }
      }
      this.sql(
        `INSERT INTO lease (name, holder, pid, host, heartbeat_at) VALUES ('writer', ?, ?, ?, ?)
         ON CONFLICT(name) DO UPDATE SET holder = excluded.holder, pid = excluded.pid, host = excluded.host, heartbeat_at = excluded.heartbeat_at`,
      ).run(me.id, me.pid, me.host, now);
      return { kind: 'acquired' };
    });
  }

  renewLease(holderId: string, now: number): boolean {
    return this.sql(`UPDATE lease SET heartbeat_at = ? WHERE name = 'writer' AND holder = ?`).run(now, holderId).changes === 1;
  }

  releaseLease(holderId: string): void {
    this.sql(`DELETE FROM lease WHERE name = 'writer' AND holder = ?`).run(holderId);
  }

  // ---- audit -----------------------------------------------------------------------------------

  private audit(jobId: string, event: AuditEvent, actor: string, at: number, data?: unknown): void {
    this.sql('INSERT INTO audit (job_id, event, actor, at, data) VALUES (?, ?, ?, ?, ?)').run(
      jobId,
      event,
      actor,
      at,
      data === undefined ? null : JSON.stringify(data),
    );
  }

  auditTrail(jobId: string): AuditEntry[] {
    const rows = this.sql('SELECT job_id, event, actor, at, data FROM audit WHERE job_id = ? ORDER BY id').all(jobId) as Array<{
      job_id: string;
      event: AuditEvent;
      actor: string;
      at: number;
      data: string | null;
    }>;
    return rows.map((r) => ({
      jobId: r.job_id,
      event: r.event,
      actor: r.actor,
      at: r.at,
      data: r.data === null ? null : (JSON.parse(r.data) as unknown),
    }));
  }

  // ---- reads -----------------------------------------------------------------------------------

  getJob(id: string): Job | undefined {
    const row = this.sql(`SELECT ${JOB_COLUMNS} FROM jobs WHERE id = ?`).get(id) as JobRow | undefined;
    return row ? this.jobFrom(row) : undefined;
  }

  requireJob(id: string): Job {
    const job = this.getJob(id);
    if (!job) throw new Error(`job ${id} not found`);
    return job;
  }

  recentJobs(filter: JobFilter, limit: number): JobSummary[] {
    // The newest are picked from the (channel, created_at, id) and (requester, created_at, id) indexes (migration 6);
    // the rows, whose ids may be thousands long, are read only for the `limit` returned.
    const columns = `id, state, provider, region, json_array_length(ids) AS instances, dry_run, requester, channel, created_at`;
    const cap = Math.max(0, Math.floor(limit));
    const rows = (
      'channels' in filter
        ? this.sql(
            `SELECT ${columns} FROM jobs WHERE rowid IN (
               SELECT rowid FROM (
                 SELECT rowid, created_at, id FROM jobs WHERE channel IN (SELECT value FROM json_each(?))
                 UNION SELECT rowid, created_at, id FROM jobs WHERE requester = ?)
               ORDER BY created_at DESC, id DESC LIMIT ?)
             ORDER BY created_at DESC, id DESC`,
          ).all(JSON.stringify(filter.channels), filter.requester, cap)
        : 'channel' in filter
          ? this.sql(`SELECT ${columns} FROM jobs WHERE channel = ? ORDER BY created_at DESC, id DESC LIMIT ?`).all(filter.channel, cap)
          : this.sql(`SELECT ${columns} FROM jobs WHERE requester = ? ORDER BY created_at DESC, id DESC LIMIT ?`).all(filter.requester, cap)
    ) as Array<{
      id: string;
      state: string;
      provider: string;
      region: string;
      instances: number;
      dry_run: number;
      requester: string;
      channel: string;
      created_at: number;
    }>;
    return rows.map((r) => ({
      id: r.id,
      state: JobStateSchema.parse(r.state),
      provider: ProviderSchema.parse(r.provider),
      region: r.region,
      instances: r.instances,
      dryRun: r.dry_run === 1,
      requester: r.requester,
      channel: r.channel,
      createdAt: r.created_at,
    }));
  }

  jobsInState(state: JobState): Job[] {
    return (this.sql(`SELECT ${JOB_COLUMNS} FROM jobs WHERE state = ? ORDER BY created_at`).all(state) as JobRow[]).map((row) => this.jobFrom(row));
  }

  approvals(jobId: string): Approval[] {
    const rows = this.sql('SELECT user_id, at FROM approvals WHERE job_id = ? ORDER BY at, rowid').all(jobId) as Array<{ user_id: string; at: number }>;
    return rows.map((r) => ({ userId: r.user_id, at: r.at }));
  }

  batches(jobId: string): Batch[] {
    const rows = this.sql('SELECT job_id, seq, wave, ids, state, async_job_id, sent_at, accepted_at FROM batches WHERE job_id = ? ORDER BY seq').all(jobId) as Array<{
      job_id: string;
      seq: number;
      wave: number;
      ids: string;
      state: BatchState;
      async_job_id: string | null;
      sent_at: number | null;
      accepted_at: number | null;
    }>;
    return rows.map((r) => ({
      jobId: r.job_id,
      seq: r.seq,
      wave: r.wave,
      ids: parseIds(r.ids),
      state: r.state,
      asyncJobId: r.async_job_id,
      sentAt: r.sent_at,
      acceptedAt: r.accepted_at,
    }));
  }

  outcomes(jobId: string): JobOutcome[] {
    const rows = this.sql('SELECT outcome FROM outcomes WHERE job_id = ? ORDER BY at, rowid').all(jobId) as Array<{ outcome: string }>;
    return rows.map((r) => OutcomeSchema.parse(JSON.parse(r.outcome)));
  }

  outcomeIds(jobId: string): string[] {
    return this.sql('SELECT instance_id FROM outcomes WHERE job_id = ?').pluck().all(jobId) as string[];
  }

  /** tallyOf(job, outcomes), counted by SQLite over the (job_id, status) index instead of reading every outcome. */
  tally(jobId: string): Tally {
    // The instance count straight from the stored JSON: the ids themselves are not needed here.
    const job = this.sql('SELECT json_array_length(ids) AS total FROM jobs WHERE id = ?').get(jobId) as { total: number } | undefined;
    if (!job) throw new Error(`job ${jobId} not found`);
    const tally = emptyTally(job.total);
    const rows = this.sql('SELECT status, COUNT(*) AS n FROM outcomes WHERE job_id = ? GROUP BY status').all(jobId) as Array<{ status: string; n: number }>;
    for (const row of rows) {
      tally[StatusSchema.parse(row.status)] += row.n;
      tally.waiting -= row.n;
    }
    return tally;
  }

  /** The names pre-flight read for these outcomes' instances; just the name of each reading, without parsing it. */
  private namesOf(jobId: string, outcomes: readonly JobOutcome[]): InstanceNames {
    if (outcomes.length === 0) return new Map();
    const rows = this.sql(
      `SELECT instance_id, json_extract(reading, '$.name') AS name FROM instance_state
       WHERE job_id = ? AND instance_id IN (SELECT value FROM json_each(?)) AND json_extract(reading, '$.found') = 1`,
    ).all(jobId, JSON.stringify(outcomes.map((o) => o.id))) as Array<{ instance_id: string; name: unknown }>;
    return new Map(rows.filter((r): r is { instance_id: string; name: string } => typeof r.name === 'string' && r.name !== '').map((r) => [r.instance_id, r.name]));
  }

  preflight(jobId: string): Preflight {
    const job = this.sql('SELECT preflight_at, preflight_errors FROM jobs WHERE id = ?').get(jobId) as
      | { preflight_at: number | null; preflight_errors: string | null }
      | undefined;
    const rows = this.sql('SELECT instance_id, reading FROM instance_state WHERE job_id = ?').all(jobId) as Array<{ instance_id: string; reading: string }>;
    return {
      checkedAt: job?.preflight_at ?? null,
      readings: new Map(rows.map((r) => [r.instance_id, ReadingSchema.parse(JSON.parse(r.reading))])),
      errors: job?.preflight_errors ? ReadErrorsSchema.parse(JSON.parse(job.preflight_errors)) : [],
    };
  }

  // ---- requests and approvals ------------------------------------------------------------------

  createJob(job: NewJob, commandText: string, triggerId?: string, report: Report<Job> = none): CreateResult {
    return this.tx((): CreateResult => {
      if (triggerId !== undefined) {
        const earlier = this.sql(`SELECT ${JOB_COLUMNS} FROM jobs WHERE trigger_id = ?`).get(triggerId) as JobRow | undefined;
        if (earlier) return { kind: 'replay', job: this.jobFrom(earlier) };
      }
      // Its id is new (a pruned job's never comes back), but the cache must not vouch for that.
      this.idsCache.delete(job.id);
      const created = storedJob(job);
      this.sql(
        `INSERT INTO jobs (id, state, provider, region, ids, force, dry_run, verify, rolling, reason, requester, channel,
           approvals_needed, created_at, expires_at, trigger_id, decided_at, decided_by, account, approvers)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      ).run(
        created.id,
        created.state,
        created.provider,
        created.region,
        JSON.stringify(created.ids),
        created.force ? 1 : 0,
        created.dryRun ? 1 : 0,
        created.verify ? 1 : 0,
        created.rolling,
        created.reason,
        created.requester,
        created.channel,
        created.approvalsNeeded,
        created.createdAt,
        created.expiresAt,
        triggerId ?? null,
        created.decidedAt,
        created.decidedBy,
        created.account,
        approversColumn(job),
      );
      this.audit(job.id, 'requested', job.requester, job.createdAt, requestedAuditData(job, commandText));
      if (created.state === 'approved') this.audit(job.id, 'approved', 'system', job.createdAt, { reason: 'a dry run only reads; it needs no approval' });
      this.write(report(created));
      return { kind: 'created', job: created };
    });
  }

  readonly togetherIsOneCommit = true;

  /**
   * Every call in one transaction, each in a savepoint of its own (better-sqlite3 nests a transaction as a SAVEPOINT:
   * https://github.com/WiseLibs/better-sqlite3/blob/master/docs/api.md#transactionfunction--function), so one that
   * fails is rolled back alone and the others still commit.
   */
  together(calls: readonly GroupedCall[]): GroupedOutcome[] {
    return this.tx(() =>
      calls.map((call): GroupedOutcome => {
        try {
          this.db.transaction(() => {
            // Work after an await would run once this transaction is over, outside it.
            if (isThenable(call())) throw new Error('a grouped call must be one call of this store, which answers at once');
          })();
          return { ok: true };
        } catch (error) {
          // Some errors (disk full, I/O) make SQLite roll back the whole transaction
          // (https://www.sqlite.org/lang_transaction.html#response_to_errors_within_a_transaction): the group is lost.
          if (!this.db.inTransaction) throw error;
          return { ok: false, error };
        }
      }),
    );
  }

  approve(jobId: string, userId: string, now: number, report: Report<ApprovalResult> = none): ApprovalResult {
    return this.tx((): ApprovalResult => {
      const result = this.approveLocked(jobId, userId, now);
      this.write(report(result));
      return result;
    });
  }

  private approveLocked(jobId: string, userId: string, now: number): ApprovalResult {
    const job = this.requireJob(jobId);
    if (job.state !== 'pending') return { kind: 'not-pending', job };
    if (now >= job.expiresAt) {
      this.expireLocked(job, now);
      return { kind: 'expired', job: this.requireJob(jobId) };
    }
    const inserted = this.sql('INSERT OR IGNORE INTO approvals (job_id, user_id, at) VALUES (?, ?, ?)').run(jobId, userId, now);
    if (inserted.changes === 0) return { kind: 'duplicate', job, approvals: this.approvals(jobId) };
    const approvals = this.approvals(jobId);
    this.audit(jobId, 'approval', userId, now, { count: approvals.length, needed: job.approvalsNeeded });
    // The jobs row, read above in this transaction, is not changed by an approval that does not decide.
    if (approvals.length < job.approvalsNeeded) return { kind: 'recorded', job, approvals };
    const approvers = approvals.map((a) => a.userId);
    const approved = approvedJob(job, now, approvers);
    const won = this.sql(`UPDATE jobs SET state = 'approved', decided_at = ?, decided_by = ? WHERE id = ? AND state = 'pending'`).run(
      approved.decidedAt,
      approved.decidedBy,
      jobId,
    );
    if (won.changes !== 1) return { kind: 'not-pending', job: this.requireJob(jobId) };
    this.audit(jobId, 'approved', userId, now, { approvers });
    return { kind: 'approved', job: approved, approvals };
  }

  deny(jobId: string, userId: string, now: number, report: Report<Job> = none): Job | undefined {
    return this.tx(() => {
      const won = this.sql(`UPDATE jobs SET state = 'denied', decided_at = ?, decided_by = ? WHERE id = ? AND state = 'pending'`).run(now, userId, jobId);
      if (won.changes !== 1) return undefined;
      this.audit(jobId, 'denied', userId, now);
      const denied = this.requireJob(jobId);
      this.write(report(denied));
      return denied;
    });
  }

  private expireLocked(job: Job, now: number): boolean {
    const won = this.sql(`UPDATE jobs SET state = 'expired', decided_at = ? WHERE id = ? AND state = 'pending' AND expires_at <= ?`).run(now, job.id, now);
    if (won.changes === 1) this.audit(job.id, 'expired', 'system', now);
    return won.changes === 1;
  }

  expireDue(now: number, report: Report<Job> = none): Job[] {
    return this.tx(() => {
      const due = (this.sql(`SELECT ${JOB_COLUMNS} FROM jobs WHERE state = 'pending' AND expires_at <= ?`).all(now) as JobRow[]).map((row) => this.jobFrom(row));
      const expired = due.filter((job) => this.expireLocked(job, now)).map((job) => this.requireJob(job.id));
      for (const job of expired) this.write(report(job));
      return expired;
    });
  }

  abandon(jobId: string, now: number, reason: string): boolean {
    return this.tx(() => {
      const won = this.sql(`UPDATE jobs SET state = 'expired', decided_at = ?, decided_by = 'system' WHERE id = ? AND state = 'pending'`).run(now, jobId);
      if (won.changes === 1) this.audit(jobId, 'card failed', 'system', now, { reason });
      return won.changes === 1;
    });
  }

  lapseApproval(jobId: string, now: number, expiresAt: number, reason: string, report: Report<Job> = none): boolean {
    return this.tx(() => {
      const won = this.sql(
        `UPDATE jobs SET state = 'pending', decided_at = NULL, decided_by = NULL, expires_at = ?, reapproval_reason = ?
         WHERE id = ? AND state = 'approved'`,
      ).run(expiresAt, reason, jobId);
      if (won.changes !== 1) return false;
      this.sql('DELETE FROM approvals WHERE job_id = ?').run(jobId);
      this.audit(jobId, 'approval lapsed', 'system', now, { reason });
      this.write(report(this.requireJob(jobId)));
      return true;
    });
  }

  /**
   * Durable like markBatchSending: a cancel that was answered "cancelled" must hold after a power loss too, or a
   * batch it stopped could be sent after the restart.
   */
  cancel(jobId: string, userId: string, now: number, reason: string, report: Report<CancelResult> = none): CancelResult | undefined {
    return this.durably(() => {
      const job = this.getJob(jobId);
      if (!job) return undefined;
      const result = this.cancelLocked(job, userId, now, reason);
      if (result.kind === 'cancelled' || result.kind === 'stopping') this.write(report(result));
      return result;
    });
  }

  private cancelLocked(job: Job, userId: string, now: number, reason: string): CancelResult {
    if (job.state === 'pending' || job.state === 'approved') {
      const was = job.state;
      this.sql(`UPDATE jobs SET state = 'cancelled', cancelled_at = ?, cancelled_by = ?, completed_at = ? WHERE id = ? AND state = ?`).run(now, userId, now, job.id, was);
      this.audit(job.id, 'cancelled', userId, now, { was });
      return { kind: 'cancelled', job: this.requireJob(job.id), was };
    }
    if (job.state !== 'running') return { kind: 'finished', job };
    if (job.cancelledAt !== null) return { kind: 'already-cancelled', job };
    this.sql(`UPDATE jobs SET cancelled_at = ?, cancelled_by = ? WHERE id = ? AND state = 'running' AND cancelled_at IS NULL`).run(now, userId, job.id);
    const batches = this.batches(job.id);
    const insert = this.sql('INSERT OR IGNORE INTO outcomes (job_id, instance_id, outcome, status, at) VALUES (?, ?, ?, ?, ?)');
    const cancelled: JobOutcome[] = [];
    for (const batch of batches.filter((b) => b.state === 'planned')) {
      for (const id of batch.ids) {
        const outcome: JobOutcome = { id, status: 'cancelled', reason };
        if (insert.run(job.id, id, JSON.stringify(outcome), outcome.status, now).changes !== 1) continue;
        cancelled.push(outcome);
        this.audit(job.id, 'outcome', 'system', now, outcome);
      }
      this.sql(`UPDATE batches SET state = 'done' WHERE job_id = ? AND seq = ? AND state = 'planned'`).run(job.id, batch.seq);
    }
    const inFlight = batches.filter((b) => b.state !== 'planned' && b.state !== 'done').length;
    this.audit(job.id, 'cancelled', userId, now, { was: 'running', notSent: cancelled.length, batchesInFlight: inFlight });
    return { kind: 'stopping', job: this.requireJob(job.id), cancelled, names: this.namesOf(job.id, cancelled), inFlight };
  }

  recordRefusal(jobId: string, actor: string, now: number, reason: string, data?: Record<string, unknown>): void {
    this.audit(jobId, 'refused', actor, now, { reason, ...data });
  }

  supersedeCard(jobId: string, staleTs: string, actor: string, now: number, report: Report<Job> = none): void {
    this.tx(() => {
      this.audit(jobId, 'refused', actor, now, { reason: 'click on a superseded copy of the card', messageTs: staleTs });
      this.audit(jobId, 'card superseded', 'system', now, { staleTs });
      this.write(report(this.requireJob(jobId)));
    });
  }

  setCardTs(jobId: string, ts: string): void {
    this.sql('UPDATE jobs SET card_ts = ? WHERE id = ? AND card_ts IS NULL').run(ts, jobId);
  }

  // ---- execution -------------------------------------------------------------------------------

  recordPreflight(jobId: string, update: PreflightUpdate, now: number, report: Report<Job> = none): void {
    this.tx(() => {
      const upsert = this.sql(
        `INSERT INTO instance_state (job_id, instance_id, reading, at) VALUES (?, ?, ?, ?)
         ON CONFLICT(job_id, instance_id) DO UPDATE SET reading = excluded.reading, at = excluded.at`,
      );
      for (const reading of update.readings) upsert.run(jobId, reading.id, JSON.stringify(reading), now);
      if (update.errors.length > 0) {
        const row = this.sql('SELECT preflight_errors FROM jobs WHERE id = ?').get(jobId) as { preflight_errors: string | null } | undefined;
        const errors = [...(row?.preflight_errors ? ReadErrorsSchema.parse(JSON.parse(row.preflight_errors)) : []), ...update.errors];
        this.sql('UPDATE jobs SET preflight_errors = ? WHERE id = ?').run(JSON.stringify(errors), jobId);
      }
      if (!update.done) return;
      this.sql('UPDATE jobs SET preflight_at = ? WHERE id = ? AND preflight_at IS NULL').run(now, jobId);
      const preflight = this.preflight(jobId);
      this.audit(jobId, 'preflight', 'system', now, { read: preflight.readings.size, errors: preflight.errors });
      this.write(report(this.requireJob(jobId)));
    });
  }

  startRun(jobId: string, batches: readonly PlannedBatch[], now: number, report: Report<Job> = none): boolean {
    return this.tx(() => {
      const won = this.sql(`UPDATE jobs SET state = 'running' WHERE id = ? AND state = 'approved'`).run(jobId);
      if (won.changes !== 1) return false;
      const insert = this.sql(`INSERT INTO batches (job_id, seq, wave, ids, state) VALUES (?, ?, ?, ?, 'planned')`);
      batches.forEach((batch, seq) => insert.run(jobId, seq, batch.wave, JSON.stringify(batch.ids)));
      this.audit(jobId, 'started', 'system', now, { batches: batches.length, waves: new Set(batches.map((b) => b.wave)).size });
      this.write(report(this.requireJob(jobId)));
      return true;
    });
  }

  /** The promise "never send twice" rests on this commit: it is synced before the provider is called. */
  markBatchSending(jobId: string, seq: number, now: number): boolean {
    return this.durably(() => {
      const won = this.sql(`UPDATE batches SET state = 'sending', sent_at = ? WHERE job_id = ? AND seq = ? AND state = 'planned'`).run(now, jobId, seq);
      if (won.changes === 1) this.audit(jobId, 'batch sent', 'system', now, { seq });
      return won.changes === 1;
    });
  }

  replanBatch(jobId: string, seq: number): void {
    this.sql(`UPDATE batches SET state = 'planned' WHERE job_id = ? AND seq = ? AND state = 'sending'`).run(jobId, seq);
  }

  recordOutcomes(
    jobId: string,
    seq: number,
    outcomes: readonly JobOutcome[],
    after: BatchAfter,
    now: number,
    report: OutcomesReport = none,
  ): JobOutcome[] {
    return this.tx(() => {
      const insert = this.sql('INSERT OR IGNORE INTO outcomes (job_id, instance_id, outcome, status, at) VALUES (?, ?, ?, ?, ?)');
      const stored: JobOutcome[] = [];
      for (const outcome of outcomes) {
        if (insert.run(jobId, outcome.id, JSON.stringify(outcome), outcome.status, now).changes === 1) {
          stored.push(outcome);
          this.audit(jobId, 'outcome', 'system', now, outcome);
        }
      }
      if (after.state === 'done') this.sql(`UPDATE batches SET state = 'done' WHERE job_id = ? AND seq = ?`).run(jobId, seq);
      if (after.state === 'polling') {
        this.sql(`UPDATE batches SET state = 'polling', async_job_id = ? WHERE job_id = ? AND seq = ?`).run(after.asyncJobId, jobId, seq);
        this.audit(jobId, 'batch accepted', 'system', now, { seq, asyncJobId: after.asyncJobId });
      }
      if (after.state === 'verifying') {
        this.sql(`UPDATE batches SET state = 'verifying', accepted_at = ? WHERE job_id = ? AND seq = ?`).run(after.acceptedAt, jobId, seq);
        this.audit(jobId, 'verifying', 'system', now, { seq, acceptedAt: after.acceptedAt });
      }
      this.write(report(stored, this.namesOf(jobId, stored)));
      return stored;
    });
  }

  completeRun(jobId: string, now: number, report: Report<{ job: Job; tally: Tally }> = none): Tally | undefined {
    return this.tx(() => {
      const tally = this.tally(jobId);
      const won = this.sql(`UPDATE jobs SET state = 'completed', completed_at = ? WHERE id = ? AND state = 'running'`).run(now, jobId);
      if (won.changes !== 1) return undefined;
      this.audit(jobId, 'completed', 'system', now, tally);
      this.write(report({ job: this.requireJob(jobId), tally }));
      return tally;
    });
  }

  noteResumed(jobId: string, now: number, data: unknown): void {
    this.audit(jobId, 'resumed', 'system', now, data);
  }

  recordAction(jobId: string, event: AuditEvent, actor: string, now: number, data: unknown, report: Report<Job> = none): void {
    this.tx(() => {
      const job = this.requireJob(jobId);
      this.audit(jobId, event, actor, now, data);
      this.write(report(job));
    });
  }

  recordEvent(jobId: string, event: AuditEvent, now: number, data: unknown, report: Report<Job> = none): void {
    this.tx(() => {
      this.audit(jobId, event, 'system', now, data);
      this.write(report(this.requireJob(jobId)));
    });
  }

  // ---- retention -------------------------------------------------------------------------------

  prune(before: number, limits: PruneLimits): Pruned {
    return this.tx((): Pruned => {
      // Ended before the cut-off, and nothing of theirs still waiting for Slack: a row being delivered needs its job.
      const due = this.sql(
        `SELECT id, json_array_length(ids) AS instances FROM jobs
         WHERE state IN ('completed', 'denied', 'expired', 'cancelled') AND COALESCE(completed_at, decided_at, created_at) < ?
           AND NOT EXISTS (SELECT 1 FROM outbox WHERE outbox.job_id = jobs.id AND outbox.state IN ('pending', 'sending'))
         LIMIT ?`,
      ).all(before, limits.jobs) as Array<{ id: string; instances: number }>;
      // Deleting a 5,000-instance job's rows takes some 20 ms: the instance budget keeps one call short.
      const jobs: string[] = [];
      let instances = 0;
      for (const job of due) {
        if (jobs.length > 0 && instances + job.instances > limits.instances) break;
        jobs.push(job.id);
        instances += job.instances;
      }
      let outboxRows = 0;
      for (const id of jobs) {
        // Children first: they reference the job (foreign_keys is on).
        for (const table of ['approvals', 'batches', 'outcomes', 'instance_state', 'audit'] as const) {
          this.sql(`DELETE FROM ${table} WHERE job_id = ?`).run(id);
        }
        outboxRows += this.sql(`DELETE FROM outbox WHERE job_id = ? AND state IN ('done', 'failed')`).run(id).changes;
        this.sql('DELETE FROM jobs WHERE id = ?').run(id);
        this.idsCache.delete(id);
      }
      const delivered = this.sql(
        `DELETE FROM outbox WHERE id IN (SELECT id FROM outbox WHERE state IN ('done', 'failed') AND created_at < ? LIMIT ?)`,
      ).run(before, limits.outboxRows).changes;
      outboxRows += delivered;
      return { jobs: jobs.length, outboxRows, more: jobs.length < due.length || due.length === limits.jobs || delivered === limits.outboxRows };
    });
  }

  // ---- outbox ----------------------------------------------------------------------------------

  enqueue(writes: readonly OutboxWrite[]): void {
    if (writes.length > 0) this.tx(() => this.write(writes));
  }

  /** Queues rows inside the current transaction. */
  private write(writes: readonly OutboxWrite[]): void {
    for (const w of writes) {
      this.queued = true;
      if ((w.message.kind === 'thread_lines' || w.message.kind === 'thread_results') && w.mergeUpTo !== undefined && w.jobId !== null) {
        this.appendThreadItems(w.jobId, w.channel, w.message, w.mergeUpTo, w.holdMs ?? 0);
        continue;
      }
      // Anything else in the job's thread closes its waiting results: they go now, ahead of it.
      if (w.jobId !== null && THREAD_CLOSERS.has(w.message.kind)) this.releaseHeldResults(w.jobId);
      if (w.coalesceKey !== undefined) {
        const replaced = this.sql(`UPDATE outbox SET payload = ? WHERE coalesce_key = ? AND state = 'pending'`).run(payloadOf(w), w.coalesceKey);
        if (replaced.changes > 0) continue;
      }
      this.insertOutbox(w);
    }
  }

  /**
   * Fills the job's waiting row of the same kind up to `budget` (what its items cost: a line each for
   * thread_lines, each entry's characters for thread_results), then starts new ones. A new row that is not
   * full waits `holdMs` for more; a row that fills up goes at once.
   */
  private appendThreadItems(jobId: string, channel: string, message: ThreadItemsMessage, budget: number, holdMs: number): void {
    let rest = itemsOf(message);
    // Items merge only into a row with nothing of the same thread queued after it (a note, the summary,
    // the file): a job's thread rows leave in order, and merging further back would put these results
    // ahead of a note that came first. Card updates are not in the thread, so they do not count.
    // Nor into a row tried before: Slack may already show it as it was (src/slack/outbox.ts looks for it before
    // posting it again), so what it says is fixed from its first try.
    const open = this.sql(
      `SELECT o.id, o.payload FROM outbox o
       WHERE o.job_id = ? AND o.kind = ? AND o.state = 'pending' AND o.attempts = 0
         AND NOT EXISTS (SELECT 1 FROM outbox l WHERE l.job_id = o.job_id AND l.id > o.id AND l.state = 'pending' AND l.kind IN (${sqlList([...THREAD_CLOSERS])}))
       ORDER BY o.id DESC LIMIT 1`,
    ).get(jobId, message.kind) as { id: number; payload: string } | undefined;
    if (open) {
      const existing = itemsOf(OutboxMessageSchema.parse({ ...(JSON.parse(open.payload) as object), kind: message.kind }));
      if (existing.layout === rest.layout) {
        const taken = fitting(rest.items, budget - costOf(existing.items));
        if (taken > 0) {
          const merged = withItems(message, existing.items.concat(rest.items.slice(0, taken)));
          this.sql('UPDATE outbox SET payload = ? WHERE id = ?').run(payloadOf({ channel, jobId, message: merged }), open.id);
        }
        // Whatever did not fit (or could not merge) goes in a new row: this one is as full as it gets.
        if (taken < rest.items.length) this.releaseRow(open.id);
        rest = { ...rest, items: rest.items.slice(taken) };
      }
    }
    while (rest.items.length > 0) {
      const taken = Math.max(1, fitting(rest.items, budget));
      const full = taken < rest.items.length;
      this.insertOutbox({ channel, jobId, message: withItems(message, rest.items.slice(0, taken)) }, full ? 0 : holdMs);
      rest = { ...rest, items: rest.items.slice(taken) };
    }
  }

  /** A held results row goes now (its retry backoff, once it has been tried, still stands). */
  private releaseRow(id: number): void {
    this.sql(`UPDATE outbox SET not_before = 0 WHERE id = ? AND state = 'pending' AND attempts = 0`).run(id);
  }

  private releaseHeldResults(jobId: string): void {
    this.sql(`UPDATE outbox SET not_before = 0 WHERE job_id = ? AND kind = 'thread_results' AND state = 'pending' AND attempts = 0 AND not_before > 0`).run(jobId);
  }

  private insertOutbox(w: OutboxWrite, holdMs = 0): void {
    const now = Date.now();
    this.sql(
      `INSERT INTO outbox (channel, kind, job_id, coalesce_key, payload, state, not_before, created_at)
       VALUES (?, ?, ?, ?, ?, 'pending', ?, ?)`,
    ).run(w.channel, w.message.kind, w.jobId, w.coalesceKey ?? null, payloadOf(w), holdMs > 0 ? now + holdMs : 0, now);
  }

  /**
   * The candidates for each channel's next write, lane by lane (src/domain/outbox-lanes.ts): the oldest
   * waiting top post of each channel; for rewrites and thread rows, the oldest of each job, so one job's
   * held results never block another job. A job's thread rows and card rewrites wait while its card is
   * still queued or on its way; the thread lane keeps each job's order (its oldest row still waiting or
   * sending heads it, so nothing overtakes a row in flight).
   */
  outboxHeads(options: OutboxHeadsOptions = {}): OutboxRow[] {
    const top = sqlList(LANE_KINDS.top);
    const rewrite = sqlList(LANE_KINDS.rewrite);
    const cardQueued = `EXISTS (SELECT 1 FROM outbox c WHERE c.job_id = o.job_id AND c.kind = 'post_card' AND c.state IN ('pending', 'sending'))`;
    const rewrites =
      options.rewrites === false
        ? ''
        : `SELECT MIN(id) FROM outbox o WHERE state = 'pending' AND kind IN (${rewrite}) AND NOT ${cardQueued}
           GROUP BY channel, COALESCE(job_id, 'row ' || id)
         UNION ALL`;
    const rows = this.sql(
      `SELECT o.* FROM outbox o WHERE o.state = 'pending' AND o.id IN (
         SELECT MIN(id) FROM outbox WHERE state = 'pending' AND kind IN (${top}) GROUP BY channel
         UNION ALL
         ${rewrites}
         SELECT MIN(id) FROM outbox WHERE state IN ('pending', 'sending') AND kind NOT IN (${top}, ${rewrite})
           GROUP BY channel, COALESCE(job_id, 'row ' || id)
       ) AND (o.kind IN (${top}, ${rewrite}) OR NOT ${cardQueued})
       ORDER BY o.id`,
    ).all() as OutboxDbRow[];
    return rows.map(outboxRowFrom);
  }

  /** The channel's waiting rows of one kind that are due at `now`, oldest first (an incident digest). */
  outboxDueOf(channel: string, kind: OutboxMessage['kind'], now: number, limit: number): OutboxRow[] {
    const rows = this.sql(
      `SELECT * FROM outbox WHERE state = 'pending' AND channel = ? AND kind = ? AND not_before <= ? ORDER BY id LIMIT ?`,
    ).all(channel, kind, now, limit) as OutboxDbRow[];
    return rows.map(outboxRowFrom);
  }

  claimOutboxRow(id: number): OutboxRow | undefined {
    const row = this.sql(`${CLAIM_OUTBOX} RETURNING *`).get(id) as OutboxDbRow | undefined;
    return row ? outboxRowFrom(row) : undefined;
  }

  claimOutbox(id: number): boolean {
    return this.sql(CLAIM_OUTBOX).run(id).changes === 1;
  }

  /** claimOutbox for rows that leave as one message, in one transaction; returns the ids claimed. */
  claimOutboxRows(ids: readonly number[]): number[] {
    return this.tx(() => ids.filter((id) => this.claimOutbox(id)));
  }

  /** finishOutbox for rows that left as one message: all of them or none. */
  finishOutboxRows(ids: readonly number[], state: 'done' | 'failed', error?: string): void {
    this.tx(() => ids.forEach((id) => this.finishOutbox(id, state, error)));
  }

  /** retryOutbox for rows that left as one message: they wait and go again together. */
  retryOutboxRows(ids: readonly number[], notBefore: number, error: string): void {
    this.tx(() => ids.forEach((id) => this.retryOutbox(id, notBefore, error)));
  }

  finishOutbox(id: number, state: 'done' | 'failed', error?: string): void {
    this.sql('UPDATE outbox SET state = ?, last_error = ? WHERE id = ?').run(state, error ?? null, id);
  }

  retryOutbox(id: number, notBefore: number, error: string): void {
    this.sql(`UPDATE outbox SET state = 'pending', not_before = ?, last_error = ? WHERE id = ?`).run(notBefore, error, id);
  }

  requeueInterruptedOutbox(): number {
    return this.sql(`UPDATE outbox SET state = 'pending' WHERE state = 'sending'`).run().changes;
  }

  outboxPendingCount(): number {
    return (this.sql(`SELECT COUNT(*) AS n FROM outbox WHERE state IN ('pending', 'sending')`).get() as { n: number }).n;
  }

  outboxBacklog(now: number): OutboxBacklog[] {
    const rows = this.sql(
      `SELECT channel, COUNT(*) AS depth, MIN(created_at) AS oldest,
              MIN(CASE WHEN not_before <= ? OR attempts > 0 THEN created_at END) AS oldest_due
       FROM outbox WHERE state IN ('pending', 'sending') GROUP BY channel ORDER BY channel`,
    ).all(now) as Array<{ channel: string; depth: number; oldest: number; oldest_due: number | null }>;
    return rows.map((r) => ({ channel: r.channel, depth: r.depth, oldestCreatedAt: r.oldest, oldestDueCreatedAt: r.oldest_due }));
  }

  runningJobCount(): number {
    return (this.sql(`SELECT COUNT(*) AS n FROM jobs WHERE state = 'running'`).get() as { n: number }).n;
  }

  probeWrite(): void {
    // A real write, so a read-only file or connection fails here; rolled back, so it leaves nothing behind.
    this.db.exec('BEGIN IMMEDIATE');
    try {
      this.sql(`INSERT INTO lease (name, holder, pid, host, heartbeat_at) VALUES ('readiness-probe', '', 0, '', 0)`).run();
    } finally {
      this.db.exec('ROLLBACK');
    }
  }
}

function isThenable(value: unknown): boolean {
  return typeof value === 'object' && value !== null && typeof (value as { then?: unknown }).then === 'function';
}
