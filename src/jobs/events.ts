/**
 * The job core's outgoing port: what it has to say about a job, as outbox rows. The Slack reporter
 * implements it; the core hands the rows to the store with the state change they report, so the
 * two commit together. Each method is pure.
 */
import type { Job } from '../domain/job.js';
import type { OutboxWrite } from '../domain/outbox-message.js';
import type { JobOutcome } from '../domain/outcome.js';
import type { InstanceNames } from '../store/contract.js';

export interface JobEvents {
  /** A new request: its card. */
  requested(job: Job): OutboxWrite[];
  /** Anything the card shows changed (approvals, state, tally). */
  cardChanged(job: Job): OutboxWrite[];
  /** The approval that lets the job run: the card and the incident channel. */
  approved(job: Job): OutboxWrite[];
  /** Outcomes stored just now: their thread lines (with the names pre-flight found, when given) and the card's tally. */
  outcomes(job: Job, outcomes: readonly JobOutcome[], names?: InstanceNames): OutboxWrite[];
  /** A line in the job's thread; a newer note with the same key replaces one still waiting. */
  note(job: Job, text: string, key?: string): OutboxWrite[];
  /** The job finished (or, approved, was cancelled before it started): the card, the summary in the thread, the incident channel. */
  completed(job: Job): OutboxWrite[];
  /** A second copy of the card was clicked: rewrite it so its buttons stop looking live. */
  superseded(job: Job, staleTs: string): OutboxWrite[];
  /** News the job's channel cannot receive, sent to the requester directly. */
  undelivered(job: Job, text: string): OutboxWrite[];
  /** Someone asked for the job's audit trail: a file in its thread. */
  auditRequested(job: Job, user: string): OutboxWrite[];
}
