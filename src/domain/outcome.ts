/**
 * What became of one instance of a job. The provider's answer to the call is one half; the bot's own
 * follow-up (verification, a rolling stop) is the other, so this widens the provider's InstanceOutcome.
 */
import type { InstanceOutcome } from '../providers/provider.js';

export type JobOutcome =
  | InstanceOutcome
  /** Seen running again after the reboot call, with proof that it restarted (a reboot state or a moved time field). */
  | { id: string; status: 'verified'; detail: string }
  /** Running, but nothing the cloud shows proves it restarted: not a success. */
  | { id: string; status: 'unconfirmed'; detail: string }
  /** Not seen running within the verification timeout: counted as failed. */
  | { id: string; status: 'not_back'; detail: string }
  /** Never sent: a rolling job stopped after a failure in an earlier wave. */
  | { id: string; status: 'not_started'; reason: string }
  /** Never sent: someone cancelled the request before this instance's batch or wave went out. */
  | { id: string; status: 'cancelled'; reason: string };

export type OutcomeStatus = JobOutcome['status'];

export const OUTCOME_STATUSES: readonly OutcomeStatus[] = ['verified', 'succeeded', 'unconfirmed', 'checked', 'not_back', 'failed', 'unknown', 'not_started', 'cancelled'];

/** An outcome that stops a rolling job: the wave did not come back as asked, or nobody knows whether it did. */
export function stopsRollout(outcome: JobOutcome): boolean {
  return outcome.status === 'failed' || outcome.status === 'not_back' || outcome.status === 'unknown';
}
