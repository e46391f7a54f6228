/** The job model: one /reboot request from posting to its last outcome. */
import type { InstanceOutcome, ProviderName } from '../providers/provider.js';

/**
 * pending → approved → running → completed
 * pending → denied | expired
 * Every arrow is a compare-and-set in the store, so exactly one caller wins each transition.
 */
export type JobState = 'pending' | 'approved' | 'running' | 'completed' | 'denied' | 'expired';

export const OPEN_STATES: readonly JobState[] = ['pending', 'approved', 'running'];

export interface Job {
  id: string;
  state: JobState;
  provider: ProviderName;
  region: string;
  ids: string[];
  force: boolean;
  dryRun: boolean;
  reason: string | null;
  requester: string;
  channel: string;
  approvalsNeeded: number;
  createdAt: number;
  expiresAt: number;
  decidedAt: number | null;
  decidedBy: string | null;
  completedAt: number | null;
  /** ts of the request card in `channel`, once Slack has it. */
  cardTs: string | null;
  /** Set when an approval lapsed and the job waits for approval again: the card says why. */
  reapprovalReason: string | null;
}

export interface Approval {
  userId: string;
  at: number;
}

/** A slice of a job's instances sent in one provider call. */
export type BatchState = 'planned' | 'sending' | 'polling' | 'done';

export interface Batch {
  jobId: string;
  seq: number;
  ids: string[];
  state: BatchState;
  /** Cloud-side async job id (Huawei) once the call was accepted. */
  asyncJobId: string | null;
}

export interface StoredOutcome {
  jobId: string;
  outcome: InstanceOutcome;
  at: number;
}

export interface Tally {
  total: number;
  succeeded: number;
  checked: number;
  failed: number;
  unknown: number;
  /** Instances with no outcome yet. */
  waiting: number;
}

export function tallyOf(job: Pick<Job, 'ids'>, outcomes: readonly InstanceOutcome[]): Tally {
  const tally: Tally = { total: job.ids.length, succeeded: 0, checked: 0, failed: 0, unknown: 0, waiting: 0 };
  for (const o of outcomes) tally[o.status] += 1;
  tally.waiting = tally.total - outcomes.length;
  return tally;
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
