/**
 * The store contract: everything the use cases, the runner and the outbox need from persistence.
 *
 * Every transition is one transaction and a compare-and-set: of two callers, exactly one wins, and
 * only the winner acts on a side effect. A transition takes `report`, a pure function from its result
 * to the outbox rows that tell Slack about it; those rows commit in the same transaction (a
 * transactional outbox), so a crash keeps a state change and its messages together or neither.
 *
 * Results are `Awaitable`: the embedded SQLite store answers synchronously, a networked one (e.g.
 * PostgreSQL) with promises; callers always await.
 */
import type { Approval, Batch, Job, JobState, PlannedBatch, Tally } from '../domain/job.js';
import type { JobOutcome } from '../domain/outcome.js';
import type { OutboxMessage, OutboxRow, OutboxWrite } from '../domain/outbox-message.js';
import type { Preflight, ReadError } from '../domain/preflight.js';
import type { InstanceReading } from '../providers/provider.js';

export type Awaitable<T> = T | Promise<T>;

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
  | 'card superseded'
  | 'preflight'
  | 'permission check'
  | 'verifying'
  | 'rollout stopped'
  | 'cancelled'
  /** Someone asked for the audit trail as a file (`/reboot audit`). */
  | 'audit exported';

export interface AuditEntry {
  jobId: string;
  event: AuditEvent;
  actor: string;
  at: number;
  data: unknown;
}

/** A job as `/reboot list` shows it: without its ids, which can be thousands. */
export interface JobSummary {
  id: string;
  state: JobState;
  provider: string;
  region: string;
  instances: number;
  dryRun: boolean;
  requester: string;
  channel: string;
  createdAt: number;
}

/**
 * Whose jobs a listing shows: a channel's (`/reboot list`), one requester's in every channel (`list --mine`), or
 * what a user may see on the App Home tab: the jobs of the channels they are in and their own (requester null: none).
 */
export type JobFilter = { channel: string } | { requester: string } | { channels: readonly string[]; requester: string | null };

export type NewJob = Omit<
  Job,
  'state' | 'decidedAt' | 'decidedBy' | 'completedAt' | 'cardTs' | 'reapprovalReason' | 'cancelledAt' | 'cancelledBy' | 'account' | 'approvers'
> & {
  /** DEFAULT_ACCOUNT when absent. */
  account?: string;
  /** Null or absent: REBOOT_APPROVERS decides. */
  approvers?: Job['approvers'];
};

/** A new job, or the one a replayed slash command (same trigger_id) created before. */
export type CreateResult = { kind: 'created'; job: Job } | { kind: 'replay'; job: Job };

/** One piece of a group commit (Store.together): a single call of the store's own methods. */
export type GroupedCall = () => unknown;

/** How a grouped call ended; what it returned, its caller keeps (src/store/group-commit.ts). */
export type GroupedOutcome = { ok: true } | { ok: false; error: unknown };

export type ApprovalResult =
  | { kind: 'approved'; job: Job; approvals: Approval[] }
  | { kind: 'recorded'; job: Job; approvals: Approval[] }
  | { kind: 'duplicate'; job: Job; approvals: Approval[] }
  | { kind: 'not-pending'; job: Job }
  | { kind: 'expired'; job: Job };

/**
 * `/reboot cancel` or the Cancel button, as stored. A pending or approved job ends `cancelled` at once. A running
 * job is marked cancelled, and in the same transaction every batch still `planned` is closed with `cancelled`
 * outcomes: the runner's claim of a batch (markBatchSending) only takes a planned one, so of a batch's send and
 * the cancel exactly one wins. Batches already sent run to their verdict and the job then completes.
 */
export type CancelResult =
  | { kind: 'cancelled'; job: Job; was: 'pending' | 'approved' }
  | { kind: 'stopping'; job: Job; cancelled: JobOutcome[]; names: InstanceNames; inFlight: number }
  | { kind: 'already-cancelled'; job: Job }
  | { kind: 'finished'; job: Job };

export interface LeaseHolder {
  /** Unique per process start. */
  id: string;
  pid: number;
  host: string;
}

/** Work a replica took over from a dead one (ReplicaRegistry.claimOrphans). */
export type OrphanWork = { kind: 'run'; jobId: string; state: 'approved' | 'running' } | { kind: 'preflight'; jobId: string };

/**
 * Active-active replicas on a shared database (src/replicas/coordinator.ts): every replica is registered with a
 * heartbeat; a job's run and its pre-flight are each owned by one replica; a replica whose row is gone is dead, and
 * its work may be claimed by another. A store that offers this (PgStore) also fences the claim of a batch
 * (markBatchSending) and of a run (startRun) by the run's owner, and names the replica sending each outbox row.
 */
export interface ReplicaRegistry {
  readonly me: LeaseHolder;
  /** Renews this replica's heartbeat; false when another found it dead and removed it: it must stop at once. */
  renew(): Promise<boolean>;
  /**
   * Removes the other replicas whose heartbeat is older than `staleMs` on the database's clock, or that `isAlive`
   * says are gone (a process on this host); returns them.
   */
  reap(staleMs: number, isAlive: (replica: LeaseHolder) => boolean): Promise<LeaseHolder[]>;
  /** Claims, oldest first, up to `limit` runs and unfinished pre-flights without a live owner (FOR UPDATE SKIP LOCKED). */
  claimOrphans(limit: number): Promise<OrphanWork[]>;
  /** Outbox rows a dead replica was sending go back to the queue (Slack may show one twice, never none); how many. */
  requeueOrphanOutbox(): Promise<number>;
  /** Takes a job's run: true when it was unowned, this replica's, or a dead replica's, and the job is approved or running. */
  claimRun(jobId: string): Promise<boolean>;
  releaseRun(jobId: string): Promise<void>;
  /** Takes a pending job's unfinished pre-flight, on the same terms. */
  claimPreflight(jobId: string): Promise<boolean>;
  /** A clean stop: unregisters and gives up every run and pre-flight this replica owns, for the others to claim at once. */
  leave(): Promise<void>;
}

/** How much one `prune` call may delete: it runs on the event loop, so each call stays short. */
export interface PruneLimits {
  jobs: number;
  /**
   * The instances of the jobs deleted in one call (a job's rows grow with its ids: outcomes, readings, audit).
   * A call always deletes at least one due job, however large.
   */
  instances: number;
  outboxRows: number;
}

export interface Pruned {
  jobs: number;
  /** Delivered (done or failed) outbox rows, with pruned jobs or on their own. */
  outboxRows: number;
  /** A limit was reached: another call may find more. */
  more: boolean;
}

export type LeaseResult = { kind: 'acquired' } | { kind: 'held'; holder: LeaseHolder; heartbeatAgeMs: number };

/** What becomes of a batch once outcomes are recorded for it. */
export type BatchAfter =
  | { state: 'done' }
  | { state: 'open' }
  | { state: 'polling'; asyncJobId: string }
  /** The cloud accepted the reboot at `acceptedAt` (its clock); the bot now waits to see the instances back. */
  | { state: 'verifying'; acceptedAt: number };

/** Readings from one read call of a pre-flight; `done` marks the last, which the card then shows as complete. */
export interface PreflightUpdate {
  readings: readonly InstanceReading[];
  errors: readonly ReadError[];
  done: boolean;
}

export interface OutboxBacklog {
  channel: string;
  depth: number;
  oldestCreatedAt: number;
  /** Null when every waiting row of the channel is held for later and has not been tried yet. */
  oldestDueCreatedAt: number | null;
}

/** Outbox rows for a transition's result; pure, it runs inside the transaction. */
export type Report<R> = (result: R) => OutboxWrite[];

/**
 * The names pre-flight found for some instances, by id (instances read without a name are absent): what results
 * show next to the ids. A transition that reports outcomes reads them for those outcomes' instances in its own
 * transaction and hands them to its report, which stays pure: it never reads the store, so it runs the same
 * inside SQLite's synchronous transaction and inside PostgreSQL's asynchronous one.
 */
export type InstanceNames = ReadonlyMap<string, string>;

/** recordOutcomes' report: the outcomes stored now, with the names of their instances. */
export type OutcomesReport = (stored: JobOutcome[], names: InstanceNames) => OutboxWrite[];

export interface OutboxHeadsOptions {
  /**
   * False leaves the card-rewrite lane out: while chat.update's budget is spent, hundreds of waiting rewrites need not
   * be read on every look at the queue.
   */
  rewrites?: boolean;
}

export interface Store {
  // ---- single-writer lease
  /**
   * Takes the database for this process. A holder whose heartbeat is older than `staleMs`, or whose
   * process on this very host is gone (`isAlive` says so: a kill -9 leaves no time to release), is
   * taken over; anyone else keeps it.
   */
  acquireLease(me: LeaseHolder, now: number, staleMs: number, isAlive: (pid: number) => boolean): Awaitable<LeaseResult>;
  /** Renews the heartbeat; false when another process has taken the lease meanwhile. */
  renewLease(holderId: string, now: number): Awaitable<boolean>;
  releaseLease(holderId: string): Awaitable<void>;

  // ---- reads
  getJob(id: string): Awaitable<Job | undefined>;
  jobsInState(state: JobState): Awaitable<Job[]>;
  approvals(jobId: string): Awaitable<Approval[]>;
  batches(jobId: string): Awaitable<Batch[]>;
  outcomes(jobId: string): Awaitable<JobOutcome[]>;
  /** The instances that have an outcome, in no particular order: what outcomes(jobId) names, without reading them. */
  outcomeIds(jobId: string): Awaitable<string[]>;
  /** Equals tallyOf(job, outcomes(jobId)), without reading the outcomes themselves. */
  tally(jobId: string): Awaitable<Tally>;
  /** What the read calls found before the run (and, for a dry run, during it). */
  preflight(jobId: string): Awaitable<Preflight>;
  auditTrail(jobId: string): Awaitable<AuditEntry[]>;
  /** The newest jobs matching `filter`, newest first (ties by id), at most `limit`, without reading their ids. */
  recentJobs(filter: JobFilter, limit: number): Awaitable<JobSummary[]>;

  // ---- requests and approvals
  /**
   * A slash command carrying a stored trigger_id is a replay: the earlier job comes back, nothing changes.
   * A dry run (approvalsNeeded 0) is stored approved at once: it only reads.
   */
  /**
   * A group commit: several calls of this store's methods, each kept or rolled back alone, answered in the order
   * given. A store whose commits hold the event loop (SQLite) makes them one transaction, each call in a savepoint;
   * a networked one runs them side by side. A burst of slash commands or clicks (src/store/group-commit.ts) then
   * pays for one commit, not one each. Throws when the group as a whole could not be committed: then none was kept.
   */
  together(calls: readonly GroupedCall[]): Awaitable<GroupedOutcome[]>;
  /** Whether together() makes its calls one commit; when not, a group gains nothing by waiting for more calls. */
  readonly togetherIsOneCommit: boolean;
  createJob(job: NewJob, commandText: string, triggerId?: string, report?: Report<Job>): Awaitable<CreateResult>;
  /** The click that brings the count to `approvalsNeeded` moves pending → approved and alone is told `approved`. */
  approve(jobId: string, userId: string, now: number, report?: Report<ApprovalResult>): Awaitable<ApprovalResult>;
  /** pending → denied; undefined when the job was no longer pending. */
  deny(jobId: string, userId: string, now: number, report?: Report<Job>): Awaitable<Job | undefined>;
  /** Every pending job past its deadline → expired; returns the ones this call expired. */
  expireDue(now: number, report?: Report<Job>): Awaitable<Job[]>;
  /** pending → expired at once: its card could not be posted, so nobody could ever approve it. */
  abandon(jobId: string, now: number, reason: string): Awaitable<boolean>;
  /** approved → pending again, approvals cleared: an old approval is no licence to reboot now. */
  lapseApproval(jobId: string, now: number, expiresAt: number, reason: string, report?: Report<Job>): Awaitable<boolean>;
  /** Cancels a job that has not finished (see CancelResult); `reason` is the reported text of the unsent instances. */
  cancel(jobId: string, userId: string, now: number, reason: string, report?: Report<CancelResult>): Awaitable<CancelResult | undefined>;
  /** Refused clicks and commands leave a trace like accepted ones. */
  recordRefusal(jobId: string, actor: string, now: number, reason: string, data?: Record<string, unknown>): Awaitable<void>;
  /** What a person did that changes no job state (an audit export): audited under their id, with its Slack writes. */
  recordAction(jobId: string, event: AuditEvent, actor: string, now: number, data: unknown, report?: Report<Job>): Awaitable<void>;
  /** A second copy of the card was clicked: audited, and rewritten through `report`. */
  supersedeCard(jobId: string, staleTs: string, actor: string, now: number, report?: Report<Job>): Awaitable<void>;
  /** The card's ts, once Slack has it; the first one stored stays. */
  setCardTs(jobId: string, ts: string): Awaitable<void>;

  // ---- execution
  /** Stores readings (the newest per instance wins) and, when `done`, marks the pre-flight finished. */
  recordPreflight(jobId: string, update: PreflightUpdate, now: number, report?: Report<Job>): Awaitable<void>;
  /** approved → running with its batches planned; false when another runner already started it. */
  startRun(jobId: string, batches: readonly PlannedBatch[], now: number, report?: Report<Job>): Awaitable<boolean>;
  /** planned → sending (with the time), recorded before the provider call: only the winner may send. */
  markBatchSending(jobId: string, seq: number, now: number): Awaitable<boolean>;
  /** sending → planned again: only for providers whose idempotency token makes a resend safe. */
  replanBatch(jobId: string, seq: number): Awaitable<void>;
  /** Stores outcomes (the first per instance wins) and moves the batch on; `report` gets the ones stored now, with their names. */
  recordOutcomes(
    jobId: string,
    seq: number,
    outcomes: readonly JobOutcome[],
    after: BatchAfter,
    now: number,
    report?: OutcomesReport,
  ): Awaitable<JobOutcome[]>;
  /** running → completed with its final tally; undefined when it was already completed. */
  completeRun(jobId: string, now: number, report?: Report<{ job: Job; tally: Tally }>): Awaitable<Tally | undefined>;
  noteResumed(jobId: string, now: number, data: unknown): Awaitable<void>;
  /** An audit row with its thread note: a permission check's answer, a rollout stopped. */
  recordEvent(jobId: string, event: AuditEvent, now: number, data: unknown, report?: Report<Job>): Awaitable<void>;

  // ---- outbox
  enqueue(writes: readonly OutboxWrite[]): Awaitable<void>;
  /**
   * The candidates for each channel's next write (src/domain/outbox-lanes.ts): the oldest waiting top post
   * of each channel, and the oldest waiting rewrite and thread row of each job, the latter two only once
   * the job's card has left the queue. Each job's thread stays in order; the outbox picks among them.
   */
  outboxHeads(options?: OutboxHeadsOptions): Awaitable<OutboxRow[]>;
  /** The channel's waiting rows of one kind that are due at `now`, oldest first, at most `limit`. */
  outboxDueOf(channel: string, kind: OutboxMessage['kind'], now: number, limit: number): Awaitable<OutboxRow[]>;
  /** pending → sending, so nothing is merged into a message already on its way. */
  claimOutbox(id: number): Awaitable<boolean>;
  /**
   * claimOutbox, answering with the row as the claim left it (undefined when it was not pending): results merged into
   * the row between the outbox's look at the queue and the claim are in it, and nothing is merged after the claim.
   */
  claimOutboxRow(id: number): Awaitable<OutboxRow | undefined>;
  /** claimOutbox for rows that leave as one message, in one transaction; the ids it claimed. */
  claimOutboxRows(ids: readonly number[]): Awaitable<number[]>;
  /** finishOutbox for rows that left as one message, in one transaction. */
  finishOutboxRows(ids: readonly number[], state: 'done' | 'failed', error?: string): Awaitable<void>;
  /** retryOutbox for rows that left as one message, in one transaction. */
  retryOutboxRows(ids: readonly number[], notBefore: number, error: string): Awaitable<void>;
  finishOutbox(id: number, state: 'done' | 'failed', error?: string): Awaitable<void>;
  retryOutbox(id: number, notBefore: number, error: string): Awaitable<void>;
  /** After a crash, rows caught mid-send go back to the queue: Slack may show one twice, never none. */
  requeueInterruptedOutbox(): Awaitable<number>;
  outboxPendingCount(): Awaitable<number>;
  /**
   * Waiting rows (pending or sending) per channel, for /metrics and /readyz (src/observability/): how many, when
   * the oldest was queued, and when the oldest was queued of those that are due now or have failed before (a row
   * held for later, e.g. a results message waiting to fill, is not late until it falls due).
   */
  outboxBacklog(now: number): Awaitable<OutboxBacklog[]>;
  /** Jobs in the running state, for /metrics. */
  runningJobCount(): Awaitable<number>;
  /** Throws when the database cannot be written: a write inside a transaction that is then rolled back (/readyz). */
  probeWrite(): Awaitable<void>;
  /** Called after every commit that queued outbox rows (on a later turn of the event loop), so delivery starts at once. */
  onOutboxWritten(listener: () => void): void;

  // ---- retention
  /**
   * Deletes, up to `limits`, jobs that ended (completed, denied, expired) before `before` with every row of
   * theirs (approvals, batches, outcomes, readings, audit), and delivered outbox rows queued before it. A
   * pending, approved or running job, and an outbox row not yet delivered, are never deleted; nor is a job
   * with such a row.
   */
  prune(before: number, limits: PruneLimits): Awaitable<Pruned>;

  close(): Awaitable<void>;
}
