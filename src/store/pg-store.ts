/**
 * The shared store: PostgreSQL through the `pg` driver (https://node-postgres.com), for more than one bot
 * process on one database (REBOOT_DATABASE_URL). It keeps the semantics of src/store/sqlite-store.ts, and
 * its safety across processes comes from PostgreSQL's own locks rather than from one file lock:
 *
 * - every transition is one transaction (READ COMMITTED) whose state change is a compare-and-set
 *   (`UPDATE … WHERE state = …`): a concurrent writer of the same row waits for the first to commit, then
 *   re-checks the condition against the committed row and finds it no longer holds
 *   (https://www.postgresql.org/docs/current/transaction-iso.html#XACT-READ-COMMITTED);
 * - a transition that reads a job before deciding (approve, cancel, complete) locks its row first
 *   (`SELECT … FOR UPDATE`), so two processes take turns on one job as two SQLite connections do;
 * - cancel claims the planned batches with one `UPDATE … RETURNING`, so of a batch's send (markBatchSending)
 *   and the cancel exactly one wins;
 * - writes into one job's thread in the outbox (merging lines into a waiting row) take a transaction-level
 *   advisory lock on the job (https://www.postgresql.org/docs/current/explicit-locking.html#ADVISORY-LOCKS),
 *   so two processes never merge into the same row at once. Row locks are always taken before that lock.
 *
 * Migrations (src/store/pg-migrations.ts) run in one transaction under an advisory lock, so replicas that
 * start together migrate once.
 */
import pg from 'pg';
import { emptyTally, type Approval, type Batch, type BatchState, type Job, type JobState, type PlannedBatch, type Tally } from '../domain/job.js';
import type { JobOutcome } from '../domain/outcome.js';
import { LANE_KINDS } from '../domain/outbox-lanes.js';
import { OutboxMessageSchema, type OutboxMessage, type OutboxRow, type OutboxWrite } from '../domain/outbox-message.js';
import type { Preflight, ReadError } from '../domain/preflight.js';
import type { InstanceReading } from '../providers/provider.js';
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
  OutboxBacklog,
  OutboxHeadsOptions,
  OutcomesReport,
  PreflightUpdate,
  PruneLimits,
  Pruned,
  ReplicaRegistry,
  Report,
  Store,
} from './contract.js';
import { PgReplicaRegistry } from './pg-replicas.js';
import { PG_MIGRATIONS } from './pg-migrations.js';
import { DB_NOW_MS, Session } from './pg-session.js';
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

/**
 * Advisory lock keys, the two-integer form (class, object): the class is this bot's, so other applications'
 * locks on the same database do not collide with it.
 */
const LOCK_CLASS = 0x7262_6f74; // "rbot"
const MIGRATION_LOCK = 1;
const LEASE_LOCK = 2;
/** Thread locks use their own class, the object being hashtext() of the job id. */
const THREAD_LOCK_CLASS = 0x7262_7468; // "rbth"

/**
 * bigint (int8) columns hold epoch milliseconds and counts: numbers, not the strings `pg` returns by default
 * (https://node-postgres.com/features/types). Anything past 2^53 is refused rather than rounded.
 */
const INT8_OID = 20;
function parseInt8(text: string): number {
  const n = Number(text);
  if (!Number.isSafeInteger(n)) throw new Error(`bigint out of range: ${text}`);
  return n;
}
const TYPES: pg.CustomTypesConfig = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') => (oid === INT8_OID && format !== 'binary' ? parseInt8 : pg.types.getTypeParser(oid, format))) as typeof pg.types.getTypeParser,
};

/** Deadlocks and serialization failures are retried: PostgreSQL rolled the whole transaction back. */
const RETRYABLE = new Set(['40P01', '40001']);
const TX_ATTEMPTS = 3;

interface JobRow {
  id: string;
  state: string;
  provider: string;
  region: string;
  force: boolean;
  dry_run: boolean;
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
  verify: boolean;
  rolling: number | null;
  cancelled_at: number | null;
  cancelled_by: string | null;
  account: string;
  approvers: string | null;
}

/** Every column of `jobs` but `ids`, read once per job and cached, as SqliteStore does. */
/** pending → sending, naming the replica that sends it (null for a single process): claimOutbox, claimOutboxRow. */
const CLAIM_OUTBOX = `UPDATE outbox SET state = 'sending', attempts = attempts + 1, claimed_by = $2 WHERE id = $1 AND state = 'pending'`;

const JOB_COLUMNS = `id, state, provider, region, force, dry_run, reason, requester, channel, approvals_needed, created_at,
  expires_at, decided_at, decided_by, completed_at, card_ts, reapproval_reason, verify, rolling, cancelled_at, cancelled_by, account, approvers`;

const IDS_CACHE_JOBS = 512;

function jobFromRow(row: JobRow, ids: string[]): Job {
  return {
    id: row.id,
    state: JobStateSchema.parse(row.state),
    provider: ProviderSchema.parse(row.provider),
    account: row.account,
    region: row.region,
    ids,
    force: row.force,
    dryRun: row.dry_run,
    verify: row.verify,
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

export interface PgStoreOptions {
  /** postgres://… (REBOOT_DATABASE_URL). A secret: it may hold a password. */
  url: string;
  /** The schema to work in (its tables are created there); the connection's search_path when absent. */
  schema?: string;
  /** Connections in the pool. */
  maxConnections?: number;
  /** An idle connection failed (the server restarted, the network dropped): the pool replaces it. */
  onError?: (err: Error) => void;
}

const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,62}$/;

export class PgStore implements Store {
  private readonly q: Session;
  private readonly idsCache = new Map<string, { createdAt: number; ids: readonly string[] }>();
  private readonly outboxListeners: Array<() => void> = [];
  /**
   * Set once this process joined as an active-active replica (joinReplicas): new jobs' pre-flights are its own, a batch
   * or a run is claimed only while this replica owns the job's run, and an outbox row being sent names it.
   */
  private replicaId: string | null = null;

  private constructor(
    private readonly pool: pg.Pool,
    /** How many migrations this process applied when it opened the database (0 when another had). */
    readonly migrationsApplied: number,
  ) {
    this.q = new Session(pool);
  }

  /** Connects and migrates; throws when PostgreSQL does not answer. */
  static async open(options: PgStoreOptions): Promise<PgStore> {
    if (options.schema !== undefined && !SCHEMA_NAME.test(options.schema)) throw new Error(`not a schema name: ${options.schema}`);
    const pool = new pg.Pool({
      connectionString: options.url,
      max: options.maxConnections ?? 10,
      types: TYPES,
      // https://www.postgresql.org/docs/current/libpq-connect.html#LIBPQ-CONNECT-OPTIONS
      ...(options.schema !== undefined ? { options: `-c search_path=${options.schema}` } : {}),
    });
    pool.on('error', (err) => options.onError?.(err));
    try {
      return new PgStore(pool, await migrate(pool));
    } catch (err) {
      await pool.end().catch(() => undefined);
      throw err;
    }
  }

  async close(): Promise<void> {
    await this.pool.end();
  }

  onOutboxWritten(listener: () => void): void {
    this.outboxListeners.push(listener);
  }

  /** One transaction; outbox listeners hear of its rows once it has committed. */
  private async tx<T>(fn: (q: Session) => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      const client = await this.pool.connect();
      const q = new Session(client);
      let broken = false;
      try {
        await client.query('BEGIN');
        const result = await fn(q);
        await client.query('COMMIT');
        if (q.queued) {
          // On the next turn of the event loop, as SqliteStore does: the caller answers Slack first.
          setImmediate(() => {
            for (const listener of this.outboxListeners) listener();
          });
        }
        return result;
      } catch (err) {
        await client.query('ROLLBACK').catch(() => {
          broken = true;
        });
        const code = (err as { code?: unknown }).code;
        if (attempt < TX_ATTEMPTS && typeof code === 'string' && RETRYABLE.has(code)) continue;
        throw err;
      } finally {
        // A connection that could not even roll back is dropped, not handed to the next caller.
        client.release(broken);
      }
    }
  }

  private async lockJob(q: Session, id: string): Promise<JobRow | undefined> {
    return q.one<JobRow>(`SELECT ${JOB_COLUMNS} FROM jobs WHERE id = $1 FOR UPDATE`, [id]);
  }

  private async jobFrom(q: Session, row: JobRow): Promise<Job> {
    let cached = this.idsCache.get(row.id);
    if (cached?.createdAt === row.created_at) {
      this.idsCache.delete(row.id);
    } else {
      const stored = await q.one<{ ids: string }>('SELECT ids FROM jobs WHERE id = $1', [row.id]);
      if (!stored) throw new Error(`job ${row.id} not found`);
      cached = { createdAt: row.created_at, ids: parseIds(stored.ids) };
    }
    this.idsCache.set(row.id, cached);
    if (this.idsCache.size > IDS_CACHE_JOBS) {
      const oldest = this.idsCache.keys().next();
      if (!oldest.done) this.idsCache.delete(oldest.value);
    }
    return jobFromRow(row, [...cached.ids]);
  }

  private async jobIn(q: Session, id: string): Promise<Job | undefined> {
    const row = await q.one<JobRow>(`SELECT ${JOB_COLUMNS} FROM jobs WHERE id = $1`, [id]);
    return row ? this.jobFrom(q, row) : undefined;
  }

  private async requireJob(q: Session, id: string): Promise<Job> {
    const job = await this.jobIn(q, id);
    if (!job) throw new Error(`job ${id} not found`);
    return job;
  }

  // ---- lease -----------------------------------------------------------------------------------

  /**
   * Registers this process as an active-active replica (src/replicas/coordinator.ts). Refused while a bot without
   * shared limits (a single writer, acquireLease) holds the database: the two modes must not work side by side, or
   * the writer would recover the replicas' jobs as its own. Under the lease's advisory lock, so that a writer and a
   * replica starting together cannot both get in.
   */
  async joinReplicas(me: LeaseHolder, now: number, staleMs: number, isAlive: (pid: number) => boolean): Promise<{ kind: 'joined'; registry: ReplicaRegistry } | Extract<LeaseResult, { kind: 'held' }>> {
    const held = await this.tx(async (q) => {
      await q.run('SELECT pg_advisory_xact_lock($1, $2)', [LOCK_CLASS, LEASE_LOCK]);
      const writer = await this.liveWriter(q, me, now, staleMs, isAlive);
      if (!writer) await PgReplicaRegistry.register(me, q);
      return writer;
    });
    if (held) return held;
    this.replicaId = me.id;
    return { kind: 'joined', registry: new PgReplicaRegistry(me, this.q, (fn) => this.tx(fn)) };
  }

  /** The single writer holding the database, unless it is this process, silent for `staleMs`, or gone from this host. */
  private async liveWriter(q: Session, me: LeaseHolder, now: number, staleMs: number, isAlive: (pid: number) => boolean): Promise<Extract<LeaseResult, { kind: 'held' }> | undefined> {
    const row = await q.one<{ holder: string; pid: number; host: string; heartbeat_at: number }>(`SELECT holder, pid, host, heartbeat_at FROM lease WHERE name = 'writer'`);
    if (!row || row.holder === me.id) return undefined;
    const age = now - row.heartbeat_at;
    const deadHere = row.host === me.host && !isAlive(row.pid);
    return age < staleMs && !deadHere ? { kind: 'held', holder: { id: row.holder, pid: row.pid, host: row.host }, heartbeatAgeMs: age } : undefined;
  }

  async acquireLease(me: LeaseHolder, now: number, staleMs: number, isAlive: (pid: number) => boolean): Promise<LeaseResult> {
    return this.tx(async (q): Promise<LeaseResult> => {
      // The row may not exist yet: the advisory lock makes two first takers take turns.
      await q.run('SELECT pg_advisory_xact_lock($1, $2)', [LOCK_CLASS, LEASE_LOCK]);
      const writer = await this.liveWriter(q, me, now, staleMs, isAlive);
      if (writer) return writer;
      // Active replicas (joinReplicas) hold the database together: a single writer waits until none is left.
      const replica = await q.one<{ id: string; pid: number; host: string; age: number }>(
        `SELECT id, pid, host, ${DB_NOW_MS} - heartbeat_at AS age FROM replicas WHERE ${DB_NOW_MS} - heartbeat_at < $1 ORDER BY heartbeat_at DESC LIMIT 1`,
        [staleMs],
      );
      if (replica && !(replica.host === me.host && !isAlive(replica.pid))) {
        return { kind: 'held', holder: { id: replica.id, pid: replica.pid, host: replica.host }, heartbeatAgeMs: replica.age };
      }
      await q.run(
        `INSERT INTO lease (name, holder, pid, host, heartbeat_at) VALUES ('writer', $1, $2, $3, $4)
         ON CONFLICT (name) DO UPDATE SET holder = EXCLUDED.holder, pid = EXCLUDED.pid, host = EXCLUDED.host, heartbeat_at = EXCLUDED.heartbeat_at`,
        [me.id, me.pid, me.host, now],
      );
      return { kind: 'acquired' };
    });
  }

  async renewLease(holderId: string, now: number): Promise<boolean> {
    return (await this.q.run(`UPDATE lease SET heartbeat_at = $1 WHERE name = 'writer' AND holder = $2`, [now, holderId])) === 1;
  }

  async releaseLease(holderId: string): Promise<void> {
    await this.q.run(`DELETE FROM lease WHERE name = 'writer' AND holder = $1`, [holderId]);
  }

  // ---- audit -----------------------------------------------------------------------------------

  private async audit(q: Session, jobId: string, event: AuditEvent, actor: string, at: number, data?: unknown): Promise<void> {
    await q.run('INSERT INTO audit (job_id, event, actor, at, data) VALUES ($1, $2, $3, $4, $5)', [
      jobId,
      event,
      actor,
      at,
      data === undefined ? null : JSON.stringify(data),
    ]);
  }

  async auditTrail(jobId: string): Promise<AuditEntry[]> {
    const rows = await this.q.rows<{ job_id: string; event: AuditEvent; actor: string; at: number; data: string | null }>(
      'SELECT job_id, event, actor, at, data FROM audit WHERE job_id = $1 ORDER BY id',
      [jobId],
    );
    return rows.map((r) => ({ jobId: r.job_id, event: r.event, actor: r.actor, at: r.at, data: r.data === null ? null : (JSON.parse(r.data) as unknown) }));
  }

  // ---- reads -----------------------------------------------------------------------------------

  async getJob(id: string): Promise<Job | undefined> {
    return this.jobIn(this.q, id);
  }

  async recentJobs(filter: JobFilter, limit: number): Promise<JobSummary[]> {
    const columns = `id, state, provider, region, instances, dry_run, requester, channel, created_at`;
    const cap = Math.max(0, Math.floor(limit));
    type Row = { id: string; state: string; provider: string; region: string; instances: number; dry_run: boolean; requester: string; channel: string; created_at: number };
    const rows =
      'channels' in filter
        ? await this.q.rows<Row>(
            `SELECT ${columns} FROM (
               SELECT ${columns} FROM jobs WHERE channel = ANY($1::text[])
               UNION SELECT ${columns} FROM jobs WHERE requester = $2) j
             ORDER BY created_at DESC, id DESC LIMIT $3`,
            [[...filter.channels], filter.requester, cap],
          )
        : 'channel' in filter
          ? await this.q.rows<Row>(`SELECT ${columns} FROM jobs WHERE channel = $1 ORDER BY created_at DESC, id DESC LIMIT $2`, [filter.channel, cap])
          : await this.q.rows<Row>(`SELECT ${columns} FROM jobs WHERE requester = $1 ORDER BY created_at DESC, id DESC LIMIT $2`, [filter.requester, cap]);
    return rows.map((r) => ({
      id: r.id,
      state: JobStateSchema.parse(r.state),
      provider: ProviderSchema.parse(r.provider),
      region: r.region,
      instances: r.instances,
      dryRun: r.dry_run,
      requester: r.requester,
      channel: r.channel,
      createdAt: r.created_at,
    }));
  }

  async jobsInState(state: JobState): Promise<Job[]> {
    const rows = await this.q.rows<JobRow>(`SELECT ${JOB_COLUMNS} FROM jobs WHERE state = $1 ORDER BY created_at, id`, [state]);
    const jobs: Job[] = [];
    for (const row of rows) jobs.push(await this.jobFrom(this.q, row));
    return jobs;
  }

  async approvals(jobId: string): Promise<Approval[]> {
    return this.approvalsIn(this.q, jobId);
  }

  private async approvalsIn(q: Session, jobId: string): Promise<Approval[]> {
    const rows = await q.rows<{ user_id: string; at: number }>('SELECT user_id, at FROM approvals WHERE job_id = $1 ORDER BY at, seq', [jobId]);
    return rows.map((r) => ({ userId: r.user_id, at: r.at }));
  }

  async batches(jobId: string): Promise<Batch[]> {
    const rows = await this.q.rows<{
      job_id: string;
      seq: number;
      wave: number;
      ids: string;
      state: BatchState;
      async_job_id: string | null;
      sent_at: number | null;
      accepted_at: number | null;
    }>('SELECT job_id, seq, wave, ids, state, async_job_id, sent_at, accepted_at FROM batches WHERE job_id = $1 ORDER BY seq', [jobId]);
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

  async outcomes(jobId: string): Promise<JobOutcome[]> {
    const rows = await this.q.rows<{ outcome: string }>('SELECT outcome FROM outcomes WHERE job_id = $1 ORDER BY at, seq', [jobId]);
    return rows.map((r) => OutcomeSchema.parse(JSON.parse(r.outcome)));
  }

  async outcomeIds(jobId: string): Promise<string[]> {
    return (await this.q.rows<{ instance_id: string }>('SELECT instance_id FROM outcomes WHERE job_id = $1', [jobId])).map((r) => r.instance_id);
  }

  async tally(jobId: string): Promise<Tally> {
    return this.tallyIn(this.q, jobId);
  }

  private async tallyIn(q: Session, jobId: string): Promise<Tally> {
    const job = await q.one<{ total: number }>('SELECT instances AS total FROM jobs WHERE id = $1', [jobId]);
    if (!job) throw new Error(`job ${jobId} not found`);
    const tally = emptyTally(job.total);
    const rows = await q.rows<{ status: string; n: number }>('SELECT status, COUNT(*) AS n FROM outcomes WHERE job_id = $1 GROUP BY status', [jobId]);
    for (const row of rows) {
      tally[StatusSchema.parse(row.status)] += row.n;
      tally.waiting -= row.n;
    }
    return tally;
  }

  async preflight(jobId: string): Promise<Preflight> {
    const job = await this.q.one<{ preflight_at: number | null; preflight_errors: string | null }>('SELECT preflight_at, preflight_errors FROM jobs WHERE id = $1', [jobId]);
    const rows = await this.q.rows<{ instance_id: string; reading: string }>('SELECT instance_id, reading FROM instance_state WHERE job_id = $1', [jobId]);
    return {
      checkedAt: job?.preflight_at ?? null,
      readings: new Map(rows.map((r) => [r.instance_id, ReadingSchema.parse(JSON.parse(r.reading))])),
      errors: job?.preflight_errors ? ReadErrorsSchema.parse(JSON.parse(job.preflight_errors)) : [],
    };
  }

  /** The names pre-flight read for these outcomes' instances: just the name of each reading, without parsing it. */
  private async namesOf(q: Session, jobId: string, outcomes: readonly JobOutcome[]): Promise<InstanceNames> {
    if (outcomes.length === 0) return new Map();
    const rows = await q.rows<{ instance_id: string; name: string | null }>(
      `SELECT instance_id, reading::jsonb ->> 'name' AS name FROM instance_state
       WHERE job_id = $1 AND instance_id = ANY($2::text[]) AND reading::jsonb ->> 'found' = 'true'`,
      [jobId, outcomes.map((o) => o.id)],
    );
    return new Map(rows.filter((r): r is { instance_id: string; name: string } => r.name !== null && r.name !== '').map((r) => [r.instance_id, r.name]));
  }

  // ---- requests and approvals ------------------------------------------------------------------

  async createJob(job: NewJob, commandText: string, triggerId?: string, report: Report<Job> = none): Promise<CreateResult> {
    return this.tx(async (q): Promise<CreateResult> => {
      const replay = async (): Promise<CreateResult | undefined> => {
        if (triggerId === undefined) return undefined;
        const earlier = await q.one<JobRow>(`SELECT ${JOB_COLUMNS} FROM jobs WHERE trigger_id = $1`, [triggerId]);
        return earlier ? { kind: 'replay', job: await this.jobFrom(q, earlier) } : undefined;
      };
      const earlier = await replay();
      if (earlier) return earlier;
      this.idsCache.delete(job.id);
      const created = storedJob(job);
      const inserted = await q.run(
        `INSERT INTO jobs (id, state, provider, region, ids, instances, force, dry_run, verify, rolling, reason, requester, channel,
           approvals_needed, created_at, expires_at, trigger_id, decided_at, decided_by, account, approvers, preflight_owner, run_owner)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23)
         ON CONFLICT (trigger_id) WHERE trigger_id IS NOT NULL DO NOTHING`,
        [
          created.id,
          created.state,
          created.provider,
          created.region,
          JSON.stringify(created.ids),
          created.ids.length,
          created.force,
          created.dryRun,
          created.verify,
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
          // The replica that stores the request reads its instances (src/jobs/preflight.ts), and runs a dry run, which
          // is approved as it is stored (see approveLocked).
          this.replicaId,
          created.state === 'approved' ? this.replicaId : null,
        ],
      );
      if (inserted === 0) {
        // Another process stored the same trigger_id between the look and the insert: its job is the one.
        const other = await replay();
        if (other) return other;
        throw new Error(`job ${job.id} could not be stored`);
      }
      await this.audit(q, job.id, 'requested', job.requester, job.createdAt, requestedAuditData(job, commandText));
      if (created.state === 'approved') await this.audit(q, job.id, 'approved', 'system', job.createdAt, { reason: 'a dry run only reads; it needs no approval' });
      await this.write(q, report(created));
      return { kind: 'created', job: created };
    });
  }

  readonly togetherIsOneCommit = false;

  /**
   * Each call in its own transaction, side by side on the pool: a commit here is a round trip to the server, which
   * does not hold the event loop the way SQLite's synchronous commit does.
   */
  async together(calls: readonly GroupedCall[]): Promise<GroupedOutcome[]> {
    return Promise.all(
      calls.map(async (call): Promise<GroupedOutcome> => {
        try {
          await call();
          return { ok: true };
        } catch (error) {
          return { ok: false, error };
        }
      }),
    );
  }

  async approve(jobId: string, userId: string, now: number, report: Report<ApprovalResult> = none): Promise<ApprovalResult> {
    return this.tx(async (q) => {
      const result = await this.approveLocked(q, jobId, userId, now);
      await this.write(q, report(result));
      return result;
    });
  }

  private async approveLocked(q: Session, jobId: string, userId: string, now: number): Promise<ApprovalResult> {
    const row = await this.lockJob(q, jobId);
    if (!row) throw new Error(`job ${jobId} not found`);
    const job = await this.jobFrom(q, row);
    if (job.state !== 'pending') return { kind: 'not-pending', job };
    if (now >= job.expiresAt) {
      await this.expireLocked(q, job.id, now);
      return { kind: 'expired', job: await this.requireJob(q, jobId) };
    }
    const inserted = await q.run('INSERT INTO approvals (job_id, user_id, at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING', [jobId, userId, now]);
    if (inserted === 0) return { kind: 'duplicate', job, approvals: await this.approvalsIn(q, jobId) };
    const approvals = await this.approvalsIn(q, jobId);
    await this.audit(q, jobId, 'approval', userId, now, { count: approvals.length, needed: job.approvalsNeeded });
    // The jobs row, locked above, is not changed by an approval that does not decide.
    if (approvals.length < job.approvalsNeeded) return { kind: 'recorded', job, approvals };
    const approvers = approvals.map((a) => a.userId);
    const approved = approvedJob(job, now, approvers);
    // The replica that approves runs the job (Runner.start), and owns its run from the commit on: an approved job
    // without an owner would be an orphan to every other replica's sweep (ReplicaRegistry.claimOrphans) until the
    // runner's own claim, which under load came later and lost (seen in test/replicas/active-active.test.ts).
    const won = await q.run(`UPDATE jobs SET state = 'approved', decided_at = $1, decided_by = $2, run_owner = $4 WHERE id = $3 AND state = 'pending'`, [
      approved.decidedAt,
      approved.decidedBy,
      jobId,
      this.replicaId,
    ]);
    if (won !== 1) return { kind: 'not-pending', job: await this.requireJob(q, jobId) };
    await this.audit(q, jobId, 'approved', userId, now, { approvers });
    return { kind: 'approved', job: approved, approvals };
  }

  async deny(jobId: string, userId: string, now: number, report: Report<Job> = none): Promise<Job | undefined> {
    return this.tx(async (q) => {
      const won = await q.run(`UPDATE jobs SET state = 'denied', decided_at = $1, decided_by = $2 WHERE id = $3 AND state = 'pending'`, [now, userId, jobId]);
      if (won !== 1) return undefined;
      await this.audit(q, jobId, 'denied', userId, now);
      const denied = await this.requireJob(q, jobId);
      await this.write(q, report(denied));
      return denied;
    });
  }

  private async expireLocked(q: Session, jobId: string, now: number): Promise<boolean> {
    const won = await q.run(`UPDATE jobs SET state = 'expired', decided_at = $1 WHERE id = $2 AND state = 'pending' AND expires_at <= $1`, [now, jobId]);
    if (won === 1) await this.audit(q, jobId, 'expired', 'system', now);
    return won === 1;
  }

  async expireDue(now: number, report: Report<Job> = none): Promise<Job[]> {
    return this.tx(async (q) => {
      const due = await q.rows<{ id: string }>(`SELECT id FROM jobs WHERE state = 'pending' AND expires_at <= $1 ORDER BY created_at, id FOR UPDATE`, [now]);
      const expired: Job[] = [];
      for (const { id } of due) {
        if (!(await this.expireLocked(q, id, now))) continue;
        const job = await this.requireJob(q, id);
        expired.push(job);
        await this.write(q, report(job));
      }
      return expired;
    });
  }

  async abandon(jobId: string, now: number, reason: string): Promise<boolean> {
    return this.tx(async (q) => {
      const won = await q.run(`UPDATE jobs SET state = 'expired', decided_at = $1, decided_by = 'system' WHERE id = $2 AND state = 'pending'`, [now, jobId]);
      if (won === 1) await this.audit(q, jobId, 'card failed', 'system', now, { reason });
      return won === 1;
    });
  }

  async lapseApproval(jobId: string, now: number, expiresAt: number, reason: string, report: Report<Job> = none): Promise<boolean> {
    return this.tx(async (q) => {
      const won = await q.run(
        `UPDATE jobs SET state = 'pending', decided_at = NULL, decided_by = NULL, expires_at = $1, reapproval_reason = $2
         WHERE id = $3 AND state = 'approved'`,
        [expiresAt, reason, jobId],
      );
      if (won !== 1) return false;
      await q.run('DELETE FROM approvals WHERE job_id = $1', [jobId]);
      await this.audit(q, jobId, 'approval lapsed', 'system', now, { reason });
      await this.write(q, report(await this.requireJob(q, jobId)));
      return true;
    });
  }

  /** PostgreSQL's commit is durable (synchronous_commit is on by default): an answered cancel holds after a crash. */
  async cancel(jobId: string, userId: string, now: number, reason: string, report: Report<CancelResult> = none): Promise<CancelResult | undefined> {
    return this.tx(async (q) => {
      const row = await this.lockJob(q, jobId);
      if (!row) return undefined;
      const result = await this.cancelLocked(q, await this.jobFrom(q, row), userId, now, reason);
      if (result.kind === 'cancelled' || result.kind === 'stopping') await this.write(q, report(result));
      return result;
    });
  }

  private async cancelLocked(q: Session, job: Job, userId: string, now: number, reason: string): Promise<CancelResult> {
    if (job.state === 'pending' || job.state === 'approved') {
      const was = job.state;
      await q.run(`UPDATE jobs SET state = 'cancelled', cancelled_at = $1, cancelled_by = $2, completed_at = $1 WHERE id = $3 AND state = $4`, [now, userId, job.id, was]);
      await this.audit(q, job.id, 'cancelled', userId, now, { was });
      return { kind: 'cancelled', job: await this.requireJob(q, job.id), was };
    }
    if (job.state !== 'running') return { kind: 'finished', job };
    if (job.cancelledAt !== null) return { kind: 'already-cancelled', job };
    await q.run(`UPDATE jobs SET cancelled_at = $1, cancelled_by = $2 WHERE id = $3 AND state = 'running' AND cancelled_at IS NULL`, [now, userId, job.id]);
    // The claim and the close in one statement: a batch another process marked sending meanwhile is not taken.
    const claimed = await q.rows<{ seq: number; ids: string }>(`UPDATE batches SET state = 'done' WHERE job_id = $1 AND state = 'planned' RETURNING seq, ids`, [job.id]);
    claimed.sort((x, y) => x.seq - y.seq);
    const unsent: JobOutcome[] = claimed.flatMap((b) => parseIds(b.ids).map((id): JobOutcome => ({ id, status: 'cancelled', reason })));
    const cancelled = await this.insertOutcomes(q, job.id, unsent, now);
    const inFlight = (await q.one<{ n: number }>(`SELECT COUNT(*) AS n FROM batches WHERE job_id = $1 AND state NOT IN ('planned', 'done')`, [job.id]))?.n ?? 0;
    await this.audit(q, job.id, 'cancelled', userId, now, { was: 'running', notSent: cancelled.length, batchesInFlight: inFlight });
    return { kind: 'stopping', job: await this.requireJob(q, job.id), cancelled, names: await this.namesOf(q, job.id, cancelled), inFlight };
  }

  async recordRefusal(jobId: string, actor: string, now: number, reason: string, data?: Record<string, unknown>): Promise<void> {
    await this.audit(this.q, jobId, 'refused', actor, now, { reason, ...data });
  }

  async supersedeCard(jobId: string, staleTs: string, actor: string, now: number, report: Report<Job> = none): Promise<void> {
    await this.tx(async (q) => {
      await this.audit(q, jobId, 'refused', actor, now, { reason: 'click on a superseded copy of the card', messageTs: staleTs });
      await this.audit(q, jobId, 'card superseded', 'system', now, { staleTs });
      await this.write(q, report(await this.requireJob(q, jobId)));
    });
  }

  async setCardTs(jobId: string, ts: string): Promise<void> {
    await this.q.run('UPDATE jobs SET card_ts = $1 WHERE id = $2 AND card_ts IS NULL', [ts, jobId]);
  }

  // ---- execution -------------------------------------------------------------------------------

  async recordPreflight(jobId: string, update: PreflightUpdate, now: number, report: Report<Job> = none): Promise<void> {
    await this.tx(async (q) => {
      // Its errors are read, added to and written back: the job's row lock keeps two updates from losing one.
      const job = await q.one<{ preflight_errors: string | null }>('SELECT preflight_errors FROM jobs WHERE id = $1 FOR UPDATE', [jobId]);
      // One row per instance in one statement (an upsert may not touch a row twice): the newest reading wins.
      const readings = [...new Map(update.readings.map((r): [string, InstanceReading] => [r.id, r])).values()];
      if (readings.length > 0) {
        await q.run(
          `INSERT INTO instance_state (job_id, instance_id, reading, at)
           SELECT $1, t.instance_id, t.reading, $4 FROM unnest($2::text[], $3::text[]) AS t(instance_id, reading)
           ON CONFLICT (job_id, instance_id) DO UPDATE SET reading = EXCLUDED.reading, at = EXCLUDED.at`,
          [jobId, readings.map((r) => r.id), readings.map((r) => JSON.stringify(r)), now],
        );
      }
      let errors: ReadError[] = job?.preflight_errors ? ReadErrorsSchema.parse(JSON.parse(job.preflight_errors)) : [];
      if (update.errors.length > 0) {
        errors = [...errors, ...update.errors];
        await q.run('UPDATE jobs SET preflight_errors = $1 WHERE id = $2', [JSON.stringify(errors), jobId]);
      }
      if (!update.done) return;
      await q.run('UPDATE jobs SET preflight_at = $1 WHERE id = $2 AND preflight_at IS NULL', [now, jobId]);
      const read = (await q.one<{ n: number }>('SELECT COUNT(*) AS n FROM instance_state WHERE job_id = $1', [jobId]))?.n ?? 0;
      await this.audit(q, jobId, 'preflight', 'system', now, { read, errors });
      await this.write(q, report(await this.requireJob(q, jobId)));
    });
  }

  async startRun(jobId: string, batches: readonly PlannedBatch[], now: number, report: Report<Job> = none): Promise<boolean> {
    return this.tx(async (q) => {
      // Fenced: a replica that lost the job's run (it was found dead and the run claimed by another) cannot start it.
      const won = await q.run(`UPDATE jobs SET state = 'running' WHERE id = $1 AND state = 'approved' AND ($2::text IS NULL OR run_owner = $2)`, [jobId, this.replicaId]);
      if (won !== 1) return false;
      if (batches.length > 0) {
        await q.run(
          `INSERT INTO batches (job_id, seq, wave, ids, state)
           SELECT $1, t.seq, t.wave, t.ids, 'planned' FROM unnest($2::int[], $3::int[], $4::text[]) AS t(seq, wave, ids)`,
          [jobId, batches.map((_, seq) => seq), batches.map((b) => b.wave), batches.map((b) => JSON.stringify(b.ids))],
        );
      }
      await this.audit(q, jobId, 'started', 'system', now, { batches: batches.length, waves: new Set(batches.map((b) => b.wave)).size });
      await this.write(q, report(await this.requireJob(q, jobId)));
      return true;
    });
  }

  /** The promise "never send twice" rests on this commit; PostgreSQL has flushed it to its WAL when COMMIT returns. */
  async markBatchSending(jobId: string, seq: number, now: number): Promise<boolean> {
    return this.tx(async (q) => {
      // Fenced like startRun: once another replica owns the run, this one sends nothing more, even if it is still alive.
      const won = await q.run(
        `UPDATE batches SET state = 'sending', sent_at = $1 WHERE job_id = $2 AND seq = $3 AND state = 'planned'
           AND ($4::text IS NULL OR EXISTS (SELECT 1 FROM jobs j WHERE j.id = $2 AND j.run_owner = $4))`,
        [now, jobId, seq, this.replicaId],
      );
      if (won === 1) await this.audit(q, jobId, 'batch sent', 'system', now, { seq });
      return won === 1;
    });
  }

  async replanBatch(jobId: string, seq: number): Promise<void> {
    await this.q.run(`UPDATE batches SET state = 'planned' WHERE job_id = $1 AND seq = $2 AND state = 'sending'`, [jobId, seq]);
  }

  /** Outcomes the job has none of yet, in one statement; the ones stored, in the order given (the first per instance wins). */
  private async insertOutcomes(q: Session, jobId: string, outcomes: readonly JobOutcome[], now: number): Promise<JobOutcome[]> {
    if (outcomes.length === 0) return [];
    const inserted = await q.rows<{ instance_id: string }>(
      `INSERT INTO outcomes (job_id, instance_id, outcome, status, at)
       SELECT $1, t.instance_id, t.outcome, t.status, $5 FROM unnest($2::text[], $3::text[], $4::text[]) WITH ORDINALITY AS t(instance_id, outcome, status, n)
       ORDER BY t.n
       ON CONFLICT (job_id, instance_id) DO NOTHING RETURNING instance_id`,
      [jobId, outcomes.map((o) => o.id), outcomes.map((o) => JSON.stringify(o)), outcomes.map((o) => o.status), now],
    );
    const fresh = new Set(inserted.map((r) => r.instance_id));
    const stored = outcomes.filter((o) => fresh.delete(o.id));
    if (stored.length > 0) {
      await q.run(
        `INSERT INTO audit (job_id, event, actor, at, data)
         SELECT $1, 'outcome', 'system', $2, t.data FROM unnest($3::text[]) WITH ORDINALITY AS t(data, n) ORDER BY t.n`,
        [jobId, now, stored.map((o) => JSON.stringify(o))],
      );
    }
    return stored;
  }

  async recordOutcomes(jobId: string, seq: number, outcomes: readonly JobOutcome[], after: BatchAfter, now: number, report: OutcomesReport = none): Promise<JobOutcome[]> {
    return this.tx(async (q) => {
      // Shared with other outcomes of the job, exclusive with completeRun and cancel: a job does not complete
      // with outcomes still being stored.
      await q.run('SELECT 1 FROM jobs WHERE id = $1 FOR SHARE', [jobId]);
      const stored = await this.insertOutcomes(q, jobId, outcomes, now);
      if (after.state === 'done') await q.run(`UPDATE batches SET state = 'done' WHERE job_id = $1 AND seq = $2`, [jobId, seq]);
      if (after.state === 'polling') {
        await q.run(`UPDATE batches SET state = 'polling', async_job_id = $1 WHERE job_id = $2 AND seq = $3`, [after.asyncJobId, jobId, seq]);
        await this.audit(q, jobId, 'batch accepted', 'system', now, { seq, asyncJobId: after.asyncJobId });
      }
      if (after.state === 'verifying') {
        await q.run(`UPDATE batches SET state = 'verifying', accepted_at = $1 WHERE job_id = $2 AND seq = $3`, [after.acceptedAt, jobId, seq]);
        await this.audit(q, jobId, 'verifying', 'system', now, { seq, acceptedAt: after.acceptedAt });
      }
      await this.write(q, report(stored, await this.namesOf(q, jobId, stored)));
      return stored;
    });
  }

  async completeRun(jobId: string, now: number, report: Report<{ job: Job; tally: Tally }> = none): Promise<Tally | undefined> {
    return this.tx(async (q) => {
      const row = await this.lockJob(q, jobId);
      if (row?.state !== 'running') return undefined;
      const tally = await this.tallyIn(q, jobId);
      const won = await q.run(`UPDATE jobs SET state = 'completed', completed_at = $1 WHERE id = $2 AND state = 'running'`, [now, jobId]);
      if (won !== 1) return undefined;
      await this.audit(q, jobId, 'completed', 'system', now, tally);
      await this.write(q, report({ job: await this.requireJob(q, jobId), tally }));
      return tally;
    });
  }

  async noteResumed(jobId: string, now: number, data: unknown): Promise<void> {
    await this.audit(this.q, jobId, 'resumed', 'system', now, data);
  }

  async recordAction(jobId: string, event: AuditEvent, actor: string, now: number, data: unknown, report: Report<Job> = none): Promise<void> {
    await this.tx(async (q) => {
      const job = await this.requireJob(q, jobId);
      await this.audit(q, jobId, event, actor, now, data);
      await this.write(q, report(job));
    });
  }

  async recordEvent(jobId: string, event: AuditEvent, now: number, data: unknown, report: Report<Job> = none): Promise<void> {
    await this.tx(async (q) => {
      await this.audit(q, jobId, event, 'system', now, data);
      await this.write(q, report(await this.requireJob(q, jobId)));
    });
  }

  // ---- retention -------------------------------------------------------------------------------

  async prune(before: number, limits: PruneLimits): Promise<Pruned> {
    return this.tx(async (q): Promise<Pruned> => {
      // SKIP LOCKED: a job another process is working on right now is not waited for; a later sweep takes it.
      const due = await q.rows<{ id: string; instances: number }>(
        `SELECT id, instances FROM jobs
         WHERE state IN ('completed', 'denied', 'expired', 'cancelled') AND COALESCE(completed_at, decided_at, created_at) < $1
           AND NOT EXISTS (SELECT 1 FROM outbox WHERE outbox.job_id = jobs.id AND outbox.state IN ('pending', 'sending'))
         ORDER BY created_at, id LIMIT $2 FOR UPDATE SKIP LOCKED`,
        [before, limits.jobs],
      );
      const jobs: string[] = [];
      let instances = 0;
      for (const job of due) {
        if (jobs.length > 0 && instances + job.instances > limits.instances) break;
        jobs.push(job.id);
        instances += job.instances;
      }
      let outboxRows = 0;
      if (jobs.length > 0) {
        for (const table of ['approvals', 'batches', 'outcomes', 'instance_state', 'audit'] as const) {
          await q.run(`DELETE FROM ${table} WHERE job_id = ANY($1::text[])`, [jobs]);
        }
        outboxRows += await q.run(`DELETE FROM outbox WHERE job_id = ANY($1::text[]) AND state IN ('done', 'failed')`, [jobs]);
        await q.run('DELETE FROM jobs WHERE id = ANY($1::text[])', [jobs]);
        for (const id of jobs) this.idsCache.delete(id);
      }
      const delivered = await q.run(
        `DELETE FROM outbox WHERE id IN (SELECT id FROM outbox WHERE state IN ('done', 'failed') AND created_at < $1 ORDER BY id LIMIT $2)`,
        [before, limits.outboxRows],
      );
      outboxRows += delivered;
      return { jobs: jobs.length, outboxRows, more: jobs.length < due.length || due.length === limits.jobs || delivered === limits.outboxRows };
    });
  }

  // ---- outbox ----------------------------------------------------------------------------------

  async enqueue(writes: readonly OutboxWrite[]): Promise<void> {
    if (writes.length > 0) await this.tx((q) => this.write(q, writes));
  }

  /** Takes the lock on a job's thread (or a job-less coalesce key) once per transaction, held until it ends. */
  private async lockThread(q: Session, key: string): Promise<void> {
    if (q.threadLocks.has(key)) return;
    await q.run('SELECT pg_advisory_xact_lock($1, hashtext($2))', [THREAD_LOCK_CLASS, key]);
    q.threadLocks.add(key);
  }

  /** Queues rows inside the current transaction, with SqliteStore's merge and coalesce rules. */
  private async write(q: Session, writes: readonly OutboxWrite[]): Promise<void> {
    for (const w of writes) {
      q.queued = true;
      const lockKey = w.jobId ?? w.coalesceKey;
      if (lockKey !== undefined && lockKey !== null) await this.lockThread(q, lockKey);
      if ((w.message.kind === 'thread_lines' || w.message.kind === 'thread_results') && w.mergeUpTo !== undefined && w.jobId !== null) {
        await this.appendThreadItems(q, w.jobId, w.channel, w.message, w.mergeUpTo, w.holdMs ?? 0);
        continue;
      }
      if (w.jobId !== null && THREAD_CLOSERS.has(w.message.kind)) await this.releaseHeldResults(q, w.jobId);
      if (w.coalesceKey !== undefined) {
        const replaced = await q.run(`UPDATE outbox SET payload = $1 WHERE coalesce_key = $2 AND state = 'pending'`, [payloadOf(w), w.coalesceKey]);
        if (replaced > 0) continue;
      }
      await this.insertOutbox(q, w);
    }
  }

  private async appendThreadItems(q: Session, jobId: string, channel: string, message: ThreadItemsMessage, budget: number, holdMs: number): Promise<void> {
    let rest = itemsOf(message);
    // Locked, so a claim for sending (claimOutbox, which takes no thread lock) waits until this merge has committed.
    const open = await q.one<{ id: number; payload: string }>(
      `SELECT o.id, o.payload FROM outbox o
       WHERE o.job_id = $1 AND o.kind = $2 AND o.state = 'pending' AND o.attempts = 0
         AND NOT EXISTS (SELECT 1 FROM outbox l WHERE l.job_id = o.job_id AND l.id > o.id AND l.state = 'pending' AND l.kind IN (${sqlList([...THREAD_CLOSERS])}))
       ORDER BY o.id DESC LIMIT 1 FOR UPDATE OF o`,
      [jobId, message.kind],
    );
    if (open) {
      const existing = itemsOf(OutboxMessageSchema.parse({ ...(JSON.parse(open.payload) as object), kind: message.kind }));
      if (existing.layout === rest.layout) {
        const taken = fitting(rest.items, budget - costOf(existing.items));
        if (taken > 0) {
          const merged = withItems(message, existing.items.concat(rest.items.slice(0, taken)));
          await q.run(`UPDATE outbox SET payload = $1 WHERE id = $2`, [payloadOf({ channel, jobId, message: merged }), open.id]);
        }
        if (taken < rest.items.length) await this.releaseRow(q, open.id);
        rest = { ...rest, items: rest.items.slice(taken) };
      }
    }
    while (rest.items.length > 0) {
      const taken = Math.max(1, fitting(rest.items, budget));
      const full = taken < rest.items.length;
      await this.insertOutbox(q, { channel, jobId, message: withItems(message, rest.items.slice(0, taken)) }, full ? 0 : holdMs);
      rest = { ...rest, items: rest.items.slice(taken) };
    }
  }

  private async releaseRow(q: Session, id: number): Promise<void> {
    await q.run(`UPDATE outbox SET not_before = 0 WHERE id = $1 AND state = 'pending' AND attempts = 0`, [id]);
  }

  private async releaseHeldResults(q: Session, jobId: string): Promise<void> {
    await q.run(`UPDATE outbox SET not_before = 0 WHERE job_id = $1 AND kind = 'thread_results' AND state = 'pending' AND attempts = 0 AND not_before > 0`, [jobId]);
  }

  private async insertOutbox(q: Session, w: OutboxWrite, holdMs = 0): Promise<void> {
    const now = Date.now();
    await q.run(
      `INSERT INTO outbox (channel, kind, job_id, coalesce_key, payload, state, not_before, created_at)
       VALUES ($1, $2, $3, $4, $5, 'pending', $6, $7)`,
      [w.channel, w.message.kind, w.jobId, w.coalesceKey ?? null, payloadOf(w), holdMs > 0 ? now + holdMs : 0, now],
    );
  }

  /** The same lanes as SqliteStore.outboxHeads (src/domain/outbox-lanes.ts). */
  async outboxHeads(options: OutboxHeadsOptions = {}): Promise<OutboxRow[]> {
    const top = sqlList(LANE_KINDS.top);
    const rewrite = sqlList(LANE_KINDS.rewrite);
    const cardQueued = `EXISTS (SELECT 1 FROM outbox c WHERE c.job_id = o.job_id AND c.kind = 'post_card' AND c.state IN ('pending', 'sending'))`;
    const rewrites =
      options.rewrites === false
        ? ''
        : `SELECT MIN(id) FROM outbox o WHERE state = 'pending' AND kind IN (${rewrite}) AND NOT ${cardQueued}
           GROUP BY channel, COALESCE(job_id, 'row ' || id)
         UNION ALL`;
    const rows = await this.q.rows<OutboxDbRow>(
      `SELECT o.* FROM outbox o WHERE o.state = 'pending' AND o.id IN (
         SELECT MIN(id) FROM outbox WHERE state = 'pending' AND kind IN (${top}) GROUP BY channel
         UNION ALL
         ${rewrites}
         SELECT MIN(id) FROM outbox WHERE state IN ('pending', 'sending') AND kind NOT IN (${top}, ${rewrite})
           GROUP BY channel, COALESCE(job_id, 'row ' || id)
       ) AND (o.kind IN (${top}, ${rewrite}) OR NOT ${cardQueued})
       ORDER BY o.id`,
    );
    return rows.map(outboxRowFrom);
  }

  async outboxDueOf(channel: string, kind: OutboxMessage['kind'], now: number, limit: number): Promise<OutboxRow[]> {
    const rows = await this.q.rows<OutboxDbRow>(
      `SELECT * FROM outbox WHERE state = 'pending' AND channel = $1 AND kind = $2 AND not_before <= $3 ORDER BY id LIMIT $4`,
      [channel, kind, now, limit],
    );
    return rows.map(outboxRowFrom);
  }

  async claimOutboxRow(id: number): Promise<OutboxRow | undefined> {
    const row = await this.q.one<OutboxDbRow>(
      `${CLAIM_OUTBOX} RETURNING *`,
      [id, this.replicaId],
    );
    return row ? outboxRowFrom(row) : undefined;
  }

  async claimOutbox(id: number): Promise<boolean> {
    return this.claimIn(this.q, id);
  }

  private async claimIn(q: Session, id: number): Promise<boolean> {
    return (await q.run(CLAIM_OUTBOX, [id, this.replicaId])) === 1;
  }

  async claimOutboxRows(ids: readonly number[]): Promise<number[]> {
    return this.tx(async (q) => {
      const claimed: number[] = [];
      for (const id of ids) if (await this.claimIn(q, id)) claimed.push(id);
      return claimed;
    });
  }

  async finishOutboxRows(ids: readonly number[], state: 'done' | 'failed', error?: string): Promise<void> {
    await this.q.run('UPDATE outbox SET state = $1, last_error = $2 WHERE id = ANY($3::bigint[])', [state, error ?? null, [...ids]]);
  }

  async retryOutboxRows(ids: readonly number[], notBefore: number, error: string): Promise<void> {
    await this.q.run(`UPDATE outbox SET state = 'pending', not_before = $1, last_error = $2 WHERE id = ANY($3::bigint[])`, [notBefore, error, [...ids]]);
  }

  async finishOutbox(id: number, state: 'done' | 'failed', error?: string): Promise<void> {
    await this.finishOutboxRows([id], state, error);
  }

  async retryOutbox(id: number, notBefore: number, error: string): Promise<void> {
    await this.retryOutboxRows([id], notBefore, error);
  }

  async requeueInterruptedOutbox(): Promise<number> {
    if (this.replicaId === null) return this.q.run(`UPDATE outbox SET state = 'pending' WHERE state = 'sending'`);
    // A replica requeues its own rows (it has none in flight when the outbox calls this) and dead replicas', never a live one's.
    return this.q.run(
      `UPDATE outbox SET state = 'pending', claimed_by = NULL WHERE state = 'sending'
         AND (claimed_by IS NULL OR claimed_by = $1 OR NOT EXISTS (SELECT 1 FROM replicas r WHERE r.id = claimed_by))`,
      [this.replicaId],
    );
  }

  async outboxPendingCount(): Promise<number> {
    return (await this.q.one<{ n: number }>(`SELECT COUNT(*) AS n FROM outbox WHERE state IN ('pending', 'sending')`))?.n ?? 0;
  }

  async outboxBacklog(now: number): Promise<OutboxBacklog[]> {
    const rows = await this.q.rows<{ channel: string; depth: number; oldest: number; oldest_due: number | null }>(
      `SELECT channel, COUNT(*) AS depth, MIN(created_at) AS oldest,
              MIN(CASE WHEN not_before <= $1 OR attempts > 0 THEN created_at END) AS oldest_due
       FROM outbox WHERE state IN ('pending', 'sending') GROUP BY channel ORDER BY channel`,
      [now],
    );
    return rows.map((r) => ({ channel: r.channel, depth: r.depth, oldestCreatedAt: r.oldest, oldestDueCreatedAt: r.oldest_due }));
  }

  async runningJobCount(): Promise<number> {
    return (await this.q.one<{ n: number }>(`SELECT COUNT(*) AS n FROM jobs WHERE state = 'running'`))?.n ?? 0;
  }

  async probeWrite(): Promise<void> {
    // A real write, so a read-only server (a standby, default_transaction_read_only) fails here; rolled back.
    const client = await this.pool.connect();
    let broken = false;
    try {
      await client.query('BEGIN');
      await client.query(`INSERT INTO lease (name, holder, pid, host, heartbeat_at) VALUES ('readiness-probe', '', 0, '', 0)`);
    } finally {
      await client.query('ROLLBACK').catch(() => {
        broken = true;
      });
      client.release(broken);
    }
  }
}

/**
 * Applies the migrations this database lacks, in one transaction under an advisory lock: a second process
 * starting at the same time waits for the lock, then finds them applied. Returns how many it applied.
 */
async function migrate(pool: pg.Pool): Promise<number> {
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    await client.query('SELECT pg_advisory_xact_lock($1, $2)', [LOCK_CLASS, MIGRATION_LOCK]);
    await client.query('CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at BIGINT NOT NULL)');
    const { rows } = await client.query<{ v: number }>('SELECT COALESCE(MAX(version), 0)::int AS v FROM schema_migrations');
    const from = rows[0]?.v ?? 0;
    for (let v = from; v < PG_MIGRATIONS.length; v++) {
      await client.query(PG_MIGRATIONS[v] as string);
      await client.query('INSERT INTO schema_migrations (version, applied_at) VALUES ($1, $2)', [v + 1, Date.now()]);
    }
    await client.query('COMMIT');
    return Math.max(0, PG_MIGRATIONS.length - from);
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw err;
  } finally {
    client.release();
  }
}
