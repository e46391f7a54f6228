/**
 * SQLite persistence for jobs, approvals, batches, outcomes, the audit trail and the Slack outbox.
 * Every transition is a compare-and-set inside a transaction, so two processes or two clicks
 * cannot both win it; callers act on a side effect only when the store says they won.
 */
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import { z } from 'zod';
import type { InstanceOutcome } from '../providers/provider.js';
import type { Approval, Batch, BatchState, Job, JobState } from '../jobs/job.js';
import { MIGRATIONS } from './migrations.js';

export type AuditEvent =
  | 'requested'
  | 'approval'
  | 'approved'
  | 'denied'
  | 'expired'
  | 'card failed'
  | 'started'
  | 'batch sent'
  | 'batch accepted'
  | 'outcome'
  | 'completed'
  | 'resumed'
  | 'refused'
  | 'approval lapsed'
  | 'card superseded';

export interface AuditEntry {
  jobId: string;
  event: AuditEvent;
  actor: string;
  at: number;
  data: unknown;
}

export type ApprovalResult =
  | { kind: 'approved'; job: Job; approvals: Approval[] }
  | { kind: 'recorded'; job: Job; approvals: Approval[] }
  | { kind: 'duplicate'; job: Job; approvals: Approval[] }
  | { kind: 'not-pending'; job: Job }
  | { kind: 'expired'; job: Job };

export type OutboxKind =
  | 'post_card'
  | 'update_card'
  | 'thread_lines'
  | 'thread_note'
  | 'summary'
  | 'incident'
  | 'supersede_card'
  | 'requester_notice';

export interface OutboxRow {
  id: number;
  channel: string;
  kind: OutboxKind;
  jobId: string | null;
  coalesceKey: string | null;
  payload: unknown;
  attempts: number;
  notBefore: number;
}

const OutcomeSchema: z.ZodType<InstanceOutcome> = z.union([
  z.object({ id: z.string(), status: z.literal('succeeded'), detail: z.string().optional() }),
  z.object({ id: z.string(), status: z.literal('checked'), detail: z.string().optional() }),
  z.object({
    id: z.string(),
    status: z.literal('failed'),
    code: z.string(),
    message: z.string(),
    requestId: z.string().optional(),
  }),
  z.object({ id: z.string(), status: z.literal('unknown'), reason: z.string() }),
]);

const IdsSchema = z.array(z.string());

interface JobRow {
  id: string;
  state: string;
  provider: string;
  region: string;
  ids: string;
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
}

const JobStateSchema = z.enum(['pending', 'approved', 'running', 'completed', 'denied', 'expired']);
const ProviderSchema = z.enum(['alibaba', 'volcengine', 'baidu', 'huawei']);

function jobFromRow(row: JobRow): Job {
  return {
    id: row.id,
    state: JobStateSchema.parse(row.state),
    provider: ProviderSchema.parse(row.provider),
    region: row.region,
    ids: IdsSchema.parse(JSON.parse(row.ids)),
    force: row.force === 1,
    dryRun: row.dry_run === 1,
    reason: row.reason,
    requester: row.requester,
    channel: row.channel,
    approvalsNeeded: row.approvals_needed,
    createdAt: row.created_at,
    expiresAt: row.expires_at,
    decidedAt: row.decided_at,
    decidedBy: row.decided_by,
    completedAt: row.completed_at,
    cardTs: row.card_ts,
    reapprovalReason: row.reapproval_reason,
  };
}

export type NewJob = Omit<Job, 'state' | 'decidedAt' | 'decidedBy' | 'completedAt' | 'cardTs' | 'reapprovalReason'>;

/** A new job, or the one a replayed slash command (same trigger_id) created before. */
export type CreateResult = { kind: 'created'; job: Job } | { kind: 'replay'; job: Job };

export interface LeaseHolder {
  /** Unique per process start. */
  id: string;
  pid: number;
  host: string;
}

export type LeaseResult = { kind: 'acquired' } | { kind: 'held'; holder: LeaseHolder; heartbeatAgeMs: number };

export class Store {
  readonly db: Database.Database;

  constructor(path: string) {
    if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
    this.db = new Database(path);
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('synchronous = FULL');
    this.db.pragma('foreign_keys = ON');
    this.db.pragma('busy_timeout = 5000');
    this.migrate();
  }

  close(): void {
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

  /** Runs `fn` in an IMMEDIATE transaction: the write lock is taken up front, so CAS reads are current. */
  private tx<T>(fn: () => T): T {
    return this.db.transaction(fn).immediate();
  }

  /**
   * Runs `fn` as one transaction: a state change and the outbox rows that report it commit together
   * or not at all (a transactional outbox), so a crash can never keep one without the other.
   * Store calls inside nest as savepoints.
   */
  atomically<T>(fn: () => T): T {
    return this.tx(fn);
  }

  // ---- single-writer lease -------------------------------------------------------------------

  /**
   * Takes the database for this process. A holder whose heartbeat is older than `staleMs`, or whose
   * process on this very host is gone (`isAlive` says so: a kill -9 leaves no time to release), is
   * taken over; anyone else keeps it.
   */
  acquireLease(me: LeaseHolder, now: number, staleMs: number, isAlive: (pid: number) => boolean): LeaseResult {
    return this.tx((): LeaseResult => {
      const row = this.db.prepare(`SELECT holder, pid, host, heartbeat_at FROM lease WHERE name = 'writer'`).get() as
        | { holder: string; pid: number; host: string; heartbeat_at: number }
        | undefined;
      if (row && row.holder !== me.id) {
        const age = now - row.heartbeat_at;
        const deadHere = row.host === me.host && !isAlive(row.pid);
        if (age < staleMs && !deadHere) {
          return { kind: 'held', holder: { id: row.holder, pid: row.pid, host: row.host }, heartbeatAgeMs: age };
        }
      }
      this.db
        .prepare(
          `INSERT INTO lease (name, holder, pid, host, heartbeat_at) VALUES ('writer', ?, ?, ?, ?)
           ON CONFLICT(name) DO UPDATE SET holder = excluded.holder, pid = excluded.pid, host = excluded.host, heartbeat_at = excluded.heartbeat_at`,
        )
        .run(me.id, me.pid, me.host, now);
      return { kind: 'acquired' };
    });
  }

  /** Renews the heartbeat; false when another process has taken the lease meanwhile. */
  renewLease(holderId: string, now: number): boolean {
    return this.db.prepare(`UPDATE lease SET heartbeat_at = ? WHERE name = 'writer' AND holder = ?`).run(now, holderId).changes === 1;
  }

  releaseLease(holderId: string): void {
    this.db.prepare(`DELETE FROM lease WHERE name = 'writer' AND holder = ?`).run(holderId);
  }

  // ---- audit -----------------------------------------------------------------------------------

  private audit(jobId: string, event: AuditEvent, actor: string, at: number, data?: unknown): void {
    this.db
      .prepare('INSERT INTO audit (job_id, event, actor, at, data) VALUES (?, ?, ?, ?, ?)')
      .run(jobId, event, actor, at, data === undefined ? null : JSON.stringify(data));
  }

  auditTrail(jobId: string): AuditEntry[] {
    const rows = this.db
      .prepare('SELECT job_id, event, actor, at, data FROM audit WHERE job_id = ? ORDER BY id')
      .all(jobId) as Array<{ job_id: string; event: AuditEvent; actor: string; at: number; data: string | null }>;
    return rows.map((r) => ({
      jobId: r.job_id,
      event: r.event,
      actor: r.actor,
      at: r.at,
      data: r.data === null ? null : (JSON.parse(r.data) as unknown),
    }));
  }

  // ---- jobs ------------------------------------------------------------------------------------

  /**
   * Stores a new pending job. A slash command carrying a trigger_id already stored is a replay (Slack
   * retries, or someone re-sending a captured request): it gets the earlier job back and changes nothing.
   */
  createJob(job: NewJob, commandText: string, triggerId?: string): CreateResult {
    return this.tx((): CreateResult => {
      if (triggerId !== undefined) {
        const earlier = this.db.prepare('SELECT * FROM jobs WHERE trigger_id = ?').get(triggerId) as JobRow | undefined;
        if (earlier) return { kind: 'replay', job: jobFromRow(earlier) };
      }
      this.db
        .prepare(
          `INSERT INTO jobs (id, state, provider, region, ids, force, dry_run, reason, requester, channel,
             approvals_needed, created_at, expires_at, trigger_id)
           VALUES (?, 'pending', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        )
        .run(
          job.id,
          job.provider,
          job.region,
          JSON.stringify(job.ids),
          job.force ? 1 : 0,
          job.dryRun ? 1 : 0,
          job.reason,
          job.requester,
          job.channel,
          job.approvalsNeeded,
          job.createdAt,
          job.expiresAt,
          triggerId ?? null,
        );
      this.audit(job.id, 'requested', job.requester, job.createdAt, { command: commandText });
      return { kind: 'created', job: this.requireJob(job.id) };
    });
  }

  /** A click or command that was turned away: refused attempts leave a trace like accepted ones. */
  recordRefusal(jobId: string, actor: string, now: number, reason: string, data?: Record<string, unknown>): void {
    this.audit(jobId, 'refused', actor, now, { reason, ...data });
  }

  recordSupersededCard(jobId: string, staleTs: string, now: number): void {
    this.audit(jobId, 'card superseded', 'system', now, { staleTs });
  }

  /**
   * approved → pending again, approvals cleared: an approval given long ago (the bot was down) is not
   * a licence to reboot now. The reason is shown on the card.
   */
  lapseApproval(jobId: string, now: number, expiresAt: number, reason: string): boolean {
    return this.tx(() => {
      const won = this.db
        .prepare(
          `UPDATE jobs SET state = 'pending', decided_at = NULL, decided_by = NULL, expires_at = ?, reapproval_reason = ?
           WHERE id = ? AND state = 'approved'`,
        )
        .run(expiresAt, reason, jobId);
      if (won.changes !== 1) return false;
      this.db.prepare('DELETE FROM approvals WHERE job_id = ?').run(jobId);
      this.audit(jobId, 'approval lapsed', 'system', now, { reason });
      return true;
    });
  }

  getJob(id: string): Job | undefined {
    const row = this.db.prepare('SELECT * FROM jobs WHERE id = ?').get(id) as JobRow | undefined;
    return row ? jobFromRow(row) : undefined;
  }

  requireJob(id: string): Job {
    const job = this.getJob(id);
    if (!job) throw new Error(`job ${id} not found`);
    return job;
  }

  jobsInState(state: JobState): Job[] {
    const rows = this.db.prepare('SELECT * FROM jobs WHERE state = ? ORDER BY created_at').all(state) as JobRow[];
    return rows.map(jobFromRow);
  }

  setCardTs(jobId: string, ts: string): void {
    this.db.prepare('UPDATE jobs SET card_ts = ? WHERE id = ? AND card_ts IS NULL').run(ts, jobId);
  }

  approvals(jobId: string): Approval[] {
    const rows = this.db
      .prepare('SELECT user_id, at FROM approvals WHERE job_id = ? ORDER BY at, rowid')
      .all(jobId) as Array<{ user_id: string; at: number }>;
    return rows.map((r) => ({ userId: r.user_id, at: r.at }));
  }

  /**
   * Records one approver's approval. The click that brings the count to `approvalsNeeded` moves the
   * job pending → approved and is the only one told `approved`: it alone may start the run.
   */
  approve(jobId: string, userId: string, now: number): ApprovalResult {
    return this.tx((): ApprovalResult => {
      const job = this.requireJob(jobId);
      if (job.state !== 'pending') return { kind: 'not-pending', job };
      if (now >= job.expiresAt) {
        this.expireLocked(job, now);
        return { kind: 'expired', job: this.requireJob(jobId) };
      }
      const inserted = this.db
        .prepare('INSERT OR IGNORE INTO approvals (job_id, user_id, at) VALUES (?, ?, ?)')
        .run(jobId, userId, now);
      if (inserted.changes === 0) return { kind: 'duplicate', job, approvals: this.approvals(jobId) };
      const approvals = this.approvals(jobId);
      this.audit(jobId, 'approval', userId, now, { count: approvals.length, needed: job.approvalsNeeded });
      if (approvals.length < job.approvalsNeeded) return { kind: 'recorded', job, approvals };
      const won = this.db
        .prepare(`UPDATE jobs SET state = 'approved', decided_at = ?, decided_by = ? WHERE id = ? AND state = 'pending'`)
        .run(now, approvals.map((a) => a.userId).join(','), jobId);
      if (won.changes !== 1) return { kind: 'not-pending', job: this.requireJob(jobId) };
      this.audit(jobId, 'approved', userId, now, { approvers: approvals.map((a) => a.userId) });
      return { kind: 'approved', job: this.requireJob(jobId), approvals };
    });
  }

  /** pending → denied; false when the job was no longer pending. */
  deny(jobId: string, userId: string, now: number): boolean {
    return this.tx(() => {
      const won = this.db
        .prepare(`UPDATE jobs SET state = 'denied', decided_at = ?, decided_by = ? WHERE id = ? AND state = 'pending'`)
        .run(now, userId, jobId);
      if (won.changes !== 1) return false;
      this.audit(jobId, 'denied', userId, now);
      return true;
    });
  }

  private expireLocked(job: Job, now: number): boolean {
    const won = this.db
      .prepare(`UPDATE jobs SET state = 'expired', decided_at = ? WHERE id = ? AND state = 'pending' AND expires_at <= ?`)
      .run(now, job.id, now);
    if (won.changes === 1) this.audit(job.id, 'expired', 'system', now);
    return won.changes === 1;
  }

  /**
   * pending → expired at once, because its card could not be posted: nobody can see the buttons,
   * so the request could never be approved.
   */
  abandon(jobId: string, now: number, reason: string): boolean {
    return this.tx(() => {
      const won = this.db
        .prepare(`UPDATE jobs SET state = 'expired', decided_at = ?, decided_by = 'system' WHERE id = ? AND state = 'pending'`)
        .run(now, jobId);
      if (won.changes === 1) this.audit(jobId, 'card failed', 'system', now, { reason });
      return won.changes === 1;
    });
  }

  /** Moves every pending job past its deadline to expired; returns the ones this call expired. */
  expireDue(now: number): Job[] {
    return this.tx(() => {
      const due = (
        this.db.prepare(`SELECT * FROM jobs WHERE state = 'pending' AND expires_at <= ?`).all(now) as JobRow[]
      ).map(jobFromRow);
      return due.filter((job) => this.expireLocked(job, now)).map((job) => this.requireJob(job.id));
    });
  }

  // ---- execution -------------------------------------------------------------------------------

  /** approved → running, with its batches planned; false when another runner already started it. */
  startRun(jobId: string, batches: string[][], now: number): boolean {
    return this.tx(() => {
      const won = this.db.prepare(`UPDATE jobs SET state = 'running' WHERE id = ? AND state = 'approved'`).run(jobId);
      if (won.changes !== 1) return false;
      const insert = this.db.prepare(`INSERT INTO batches (job_id, seq, ids, state) VALUES (?, ?, ?, 'planned')`);
      batches.forEach((ids, seq) => insert.run(jobId, seq, JSON.stringify(ids)));
      this.audit(jobId, 'started', 'system', now, { batches: batches.length });
      return true;
    });
  }

  batches(jobId: string): Batch[] {
    const rows = this.db
      .prepare('SELECT job_id, seq, ids, state, async_job_id FROM batches WHERE job_id = ? ORDER BY seq')
      .all(jobId) as Array<{ job_id: string; seq: number; ids: string; state: BatchState; async_job_id: string | null }>;
    return rows.map((r) => ({
      jobId: r.job_id,
      seq: r.seq,
      ids: IdsSchema.parse(JSON.parse(r.ids)),
      state: r.state,
      asyncJobId: r.async_job_id,
    }));
  }

  /**
   * planned → sending, recorded before the provider call. Only the caller that wins this may send:
   * that is what keeps a batch from being sent twice.
   */
  markBatchSending(jobId: string, seq: number, now: number): boolean {
    return this.tx(() => {
      const won = this.db
        .prepare(`UPDATE batches SET state = 'sending' WHERE job_id = ? AND seq = ? AND state = 'planned'`)
        .run(jobId, seq);
      if (won.changes === 1) this.audit(jobId, 'batch sent', 'system', now, { seq });
      return won.changes === 1;
    });
  }

  /** sending → planned again: only for providers whose idempotency token makes a resend safe. */
  replanBatch(jobId: string, seq: number): void {
    this.db.prepare(`UPDATE batches SET state = 'planned' WHERE job_id = ? AND seq = ? AND state = 'sending'`).run(jobId, seq);
  }

  markBatchPolling(jobId: string, seq: number, asyncJobId: string, now: number): void {
    this.tx(() => {
      this.db
        .prepare(`UPDATE batches SET state = 'polling', async_job_id = ? WHERE job_id = ? AND seq = ?`)
        .run(asyncJobId, jobId, seq);
      this.audit(jobId, 'batch accepted', 'system', now, { seq, asyncJobId });
    });
  }

  /** Stores outcomes (first one per instance wins) and, when `done`, closes the batch. */
  recordOutcomes(jobId: string, seq: number, outcomes: readonly InstanceOutcome[], done: boolean, now: number): InstanceOutcome[] {
    return this.tx(() => {
      const insert = this.db.prepare('INSERT OR IGNORE INTO outcomes (job_id, instance_id, outcome, at) VALUES (?, ?, ?, ?)');
      const stored: InstanceOutcome[] = [];
      for (const outcome of outcomes) {
        if (insert.run(jobId, outcome.id, JSON.stringify(outcome), now).changes === 1) {
          stored.push(outcome);
          this.audit(jobId, 'outcome', 'system', now, outcome);
        }
      }
      if (done) this.db.prepare(`UPDATE batches SET state = 'done' WHERE job_id = ? AND seq = ?`).run(jobId, seq);
      return stored;
    });
  }

  outcomes(jobId: string): InstanceOutcome[] {
    const rows = this.db
      .prepare('SELECT outcome FROM outcomes WHERE job_id = ? ORDER BY at, rowid')
      .all(jobId) as Array<{ outcome: string }>;
    return rows.map((r) => OutcomeSchema.parse(JSON.parse(r.outcome)));
  }

  /** running → completed; false when it was already completed. */
  completeRun(jobId: string, now: number, tally: unknown): boolean {
    return this.tx(() => {
      const won = this.db
        .prepare(`UPDATE jobs SET state = 'completed', completed_at = ? WHERE id = ? AND state = 'running'`)
        .run(now, jobId);
      if (won.changes === 1) this.audit(jobId, 'completed', 'system', now, tally);
      return won.changes === 1;
    });
  }

  noteResumed(jobId: string, now: number, data: unknown): void {
    this.audit(jobId, 'resumed', 'system', now, data);
  }

  // ---- outbox ----------------------------------------------------------------------------------

  enqueue(row: { channel: string; kind: OutboxKind; jobId: string | null; payload: unknown; now: number; coalesceKey?: string }): void {
    this.tx(() => {
      if (row.coalesceKey !== undefined) {
        // A newer rendering of the same thing replaces one still waiting: Slack only needs the latest.
        const replaced = this.db
          .prepare(`UPDATE outbox SET payload = ? WHERE coalesce_key = ? AND state = 'pending'`)
          .run(JSON.stringify(row.payload), row.coalesceKey);
        if (replaced.changes > 0) return;
      }
      this.insertOutbox(row);
    });
  }

  /**
   * Appends result lines to the job's waiting thread message while it has room, else starts a new
   * one. This is what coalesces many instances into few Slack messages.
   */
  appendThreadLines(jobId: string, channel: string, lines: readonly string[], maxLines: number, now: number): void {
    this.tx(() => {
      let rest = [...lines];
      const open = this.db
        .prepare(`SELECT id, payload FROM outbox WHERE job_id = ? AND kind = 'thread_lines' AND state = 'pending' ORDER BY id DESC LIMIT 1`)
        .get(jobId) as { id: number; payload: string } | undefined;
      if (open) {
        const existing = z.object({ lines: z.array(z.string()) }).parse(JSON.parse(open.payload)).lines;
        const room = Math.max(0, maxLines - existing.length);
        if (room > 0) {
          const merged = existing.concat(rest.slice(0, room));
          this.db.prepare('UPDATE outbox SET payload = ? WHERE id = ?').run(JSON.stringify({ lines: merged }), open.id);
          rest = rest.slice(room);
        }
      }
      for (let i = 0; i < rest.length; i += maxLines) {
        this.insertOutbox({ channel, kind: 'thread_lines', jobId, payload: { lines: rest.slice(i, i + maxLines) }, now });
      }
    });
  }

  private insertOutbox(row: { channel: string; kind: OutboxKind; jobId: string | null; payload: unknown; now: number; coalesceKey?: string }): void {
    this.db
      .prepare(
        `INSERT INTO outbox (channel, kind, job_id, coalesce_key, payload, state, not_before, created_at)
         VALUES (?, ?, ?, ?, ?, 'pending', ?, ?)`,
      )
      .run(row.channel, row.kind, row.jobId, row.coalesceKey ?? null, JSON.stringify(row.payload), row.now, row.now);
  }

  /** The oldest waiting row of each channel: per-channel FIFO keeps a thread in order. */
  outboxHeads(): OutboxRow[] {
    const rows = this.db
      .prepare(
        `SELECT o.* FROM outbox o
         JOIN (SELECT channel, MIN(id) AS id FROM outbox WHERE state = 'pending' GROUP BY channel) h ON h.id = o.id`,
      )
      .all() as Array<{
      id: number;
      channel: string;
      kind: OutboxKind;
      job_id: string | null;
      coalesce_key: string | null;
      payload: string;
      attempts: number;
      not_before: number;
    }>;
    return rows.map((r) => ({
      id: r.id,
      channel: r.channel,
      kind: r.kind,
      jobId: r.job_id,
      coalesceKey: r.coalesce_key,
      payload: JSON.parse(r.payload) as unknown,
      attempts: r.attempts,
      notBefore: r.not_before,
    }));
  }

  /** pending → sending, so nothing is appended to or coalesced into a message already on its way. */
  claimOutbox(id: number): boolean {
    return this.db.prepare(`UPDATE outbox SET state = 'sending', attempts = attempts + 1 WHERE id = ? AND state = 'pending'`).run(id).changes === 1;
  }

  finishOutbox(id: number, state: 'done' | 'failed', error?: string): void {
    this.db.prepare('UPDATE outbox SET state = ?, last_error = ? WHERE id = ?').run(state, error ?? null, id);
  }

  retryOutbox(id: number, notBefore: number, error: string): void {
    this.db.prepare(`UPDATE outbox SET state = 'pending', not_before = ?, last_error = ? WHERE id = ?`).run(notBefore, error, id);
  }

  /**
   * After a crash, rows caught mid-send go back to the queue: Slack may then show a message twice,
   * which is better than never.
   */
  requeueInterruptedOutbox(): number {
    return this.db.prepare(`UPDATE outbox SET state = 'pending' WHERE state = 'sending'`).run().changes;
  }

  outboxPendingCount(): number {
    return (this.db.prepare(`SELECT COUNT(*) AS n FROM outbox WHERE state IN ('pending', 'sending')`).get() as { n: number }).n;
  }
}
