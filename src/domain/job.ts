/** The job model: one /reboot request from posting to its last outcome. */
import type { ProviderName } from '../providers/provider.js';
import type { JobOutcome, OutcomeStatus } from './outcome.js';

/**
 * pending → approved → running → completed
 * pending → denied | expired
 * pending | approved → cancelled; a running job that is cancelled sends nothing more and ends completed,
 * its unsent instances reported `cancelled` (cancelledAt/cancelledBy say who and when).
 * A dry run is created approved: it only reads, so nobody has to approve it.
 * Every arrow is a compare-and-set in the store, so exactly one caller wins each transition.
 */
export type JobState = 'pending' | 'approved' | 'running' | 'completed' | 'denied' | 'expired' | 'cancelled';

export const OPEN_STATES: readonly JobState[] = ['pending', 'approved', 'running'];

export interface Job {
  id: string;
  state: JobState;
  provider: ProviderName;
  /** The provider's named account (src/policy/accounts.ts): `default` is the one of the provider's own variables. */
  account: string;
  region: string;
  ids: string[];
  force: boolean;
  dryRun: boolean;
  /** Wait for each rebooted instance to be seen running again after the call (`--no-verify` turns it off). */
  verify: boolean;
  /** `--rolling N`: instances per wave, each wave verified before the next; null sends everything at once. */
  rolling: number | null;
  reason: string | null;
  requester: string;
  channel: string;
  approvalsNeeded: number;
  /**
   * Who may approve, as the policy rule that allowed the request said when it was made (src/policy/rules.ts):
   * a reload does not change a pending request's approvers. Null for jobs stored before accounts existed:
   * REBOOT_APPROVERS decides for those.
   */
  approvers: ApproverList | null;
  createdAt: number;
  expiresAt: number;
  decidedAt: number | null;
  decidedBy: string | null;
  completedAt: number | null;
  /** ts of the request card in `channel`, once Slack has it. */
  cardTs: string | null;
  /** Set when an approval lapsed and the job waits for approval again: the card says why. */
  reapprovalReason: string | null;
  /** `/reboot cancel` or the card's Cancel button: when, and by whom. */
  cancelledAt: number | null;
  cancelledBy: string | null;
}

/** Slack user ids (U…/W…) and user-group ids (S…). */
export interface ApproverList {
  users: readonly string[];
  groups: readonly string[];
}

/** The account a request names when it names none. */
export const DEFAULT_ACCOUNT = 'default';

export interface Approval {
  userId: string;
  at: number;
}

/**
 * A slice of a job's instances sent in one provider call (a read call, for a dry run).
 * planned → sending → done, or → polling (async cloud job) and/or → verifying (waiting to see them back) → done.
 */
export type BatchState = 'planned' | 'sending' | 'polling' | 'verifying' | 'done';

export interface Batch {
  jobId: string;
  seq: number;
  /** The rolling wave it belongs to (0 for a job without waves). */
  wave: number;
  ids: string[];
  state: BatchState;
  /** Cloud-side async job id (Huawei) once the call was accepted. */
  asyncJobId: string | null;
  /** When it was marked sending (bot clock): the latest the reboot can have started. */
  sentAt: number | null;
  /** The cloud's clock when it accepted the reboot, else sentAt: verification proves the reboot against it. */
  acceptedAt: number | null;
}

export type Tally = Record<OutcomeStatus, number> & {
  total: number;
  /** Instances with no outcome yet. */
  waiting: number;
};

export function tallyOf(job: Pick<Job, 'ids'>, outcomes: readonly JobOutcome[]): Tally {
  const tally = emptyTally(job.ids.length);
  for (const o of outcomes) tally[o.status] += 1;
  tally.waiting = tally.total - outcomes.length;
  return tally;
}

/** `total` instances, none with an outcome yet. */
export function emptyTally(total: number): Tally {
  return { total, succeeded: 0, verified: 0, unconfirmed: 0, not_back: 0, checked: 0, failed: 0, unknown: 0, not_started: 0, cancelled: 0, waiting: total };
}

/** What the summary counts as failed: refused by the cloud, or never seen running again. */
export function failedCount(t: Tally): number {
  return t.failed + t.not_back;
}

/** Stable per batch across retries and restarts: the provider's idempotency token is derived from it. */
export function idempotencyKey(jobId: string, seq: number): string {
  return `${jobId}-b${seq}`;
}

/**
 * Ids per call: the API's own maximum, and never more than the per-minute instance budget. A batch
 * heavier than the budget's refill could never be scheduled by the limiter (bottleneck only runs a
 * job whose weight fits the reservoir) and would hang the job and every later one in that region.
 */
export function batchSizeFor(maxBatch: number, limits: { instancesPerMinute?: number }): number {
  return Math.max(1, Math.min(maxBatch, limits.instancesPerMinute ?? maxBatch));
}

export function planBatches(ids: readonly string[], maxBatch: number): string[][] {
  const batches: string[][] = [];
  for (let i = 0; i < ids.length; i += maxBatch) batches.push(ids.slice(i, i + maxBatch));
  return batches;
}

export interface PlannedBatch {
  wave: number;
  ids: string[];
}

/**
 * Waves of `rolling` instances (one wave when null), each cut into batches the API takes. A wave never shares
 * a call with the next, so stopping after a wave leaves every later instance untouched.
 */
export function planWaves(ids: readonly string[], maxBatch: number, rolling: number | null): PlannedBatch[] {
  const waveSize = rolling ?? Math.max(ids.length, 1);
  const planned: PlannedBatch[] = [];
  for (let start = 0, wave = 0; start < ids.length; start += waveSize, wave += 1) {
    for (const batch of planBatches(ids.slice(start, start + waveSize), maxBatch)) planned.push({ wave, ids: batch });
  }
  return planned;
}

/** "4 waves of 25", "3 waves of 40 (the last 20)". */
export function wavePlanText(total: number, rolling: number): string {
  const waves = Math.ceil(total / rolling);
  if (waves <= 1) return `1 wave of ${total}`;
  const last = total - (waves - 1) * rolling;
  return `${waves} waves of ${rolling}${last === rolling ? '' : ` (the last ${last})`}`;
}

/** A rolling job's progress: the first wave not yet done, counted from 1, of how many; undefined without waves. */
export function waveProgress(job: Pick<Job, 'rolling'>, batches: readonly Pick<Batch, 'wave' | 'state'>[]): { current: number; total: number } | undefined {
  if (job.rolling === null || batches.length === 0) return undefined;
  const total = Math.max(...batches.map((b) => b.wave)) + 1;
  const open = batches.filter((b) => b.state !== 'done').map((b) => b.wave);
  return { current: (open.length > 0 ? Math.min(...open) : total - 1) + 1, total };
}
