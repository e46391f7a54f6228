/**
 * The Slack side of the job core's events: which channel, which kind of message, which rows coalesce.
 * It builds outbox rows that the store commits with the state change they report, reading nothing: the names
 * pre-flight found come with the outcomes, read by the store in the same transaction. Cards and results are rendered at delivery time (cards from the job's current
 * state, so a coalesced update is never stale).
 */
import type { Job } from '../domain/job.js';
import type { JobOutcome } from '../domain/outcome.js';
import type { OutboxMessage, OutboxWrite, ResultsLayout } from '../domain/outbox-message.js';
import type { JobEvents } from '../jobs/events.js';
import type { InstanceNames } from '../store/contract.js';
import { LINES_LAYOUT_MAX_INSTANCES, RESULTS_BUDGET, resultEntry } from './messages.js';

/**
 * How long a large job's part-filled results message waits for more results before it goes anyway. Progress
 * shows on the card meanwhile; a full message, or the job's summary, sends it at once. At one message per
 * second per channel (https://api.slack.com/apis/rate-limits), fewer, fuller messages finish sooner.
 */
export const RESULTS_HOLD_MS = 15_000;

/** Above this many instances, the thread also gets the whole per-instance table as a CSV file. */
export const RESULTS_FILE_MIN_INSTANCES = 1001;

export interface ReporterOptions {
  /** Overrides RESULTS_HOLD_MS. */
  holdMs?: number;
}

export class SlackReporter implements JobEvents {
  private readonly holdMs: number;

  constructor(
    private readonly incidentChannel: string | undefined,
    options: ReporterOptions = {},
  ) {
    this.holdMs = options.holdMs ?? RESULTS_HOLD_MS;
  }

  requested(job: Job): OutboxWrite[] {
    return [this.inChannel(job, { kind: 'post_card' })];
  }

  cardChanged(job: Job): OutboxWrite[] {
    return [this.inChannel(job, { kind: 'update_card' }, `card:${job.id}`)];
  }

  approved(job: Job): OutboxWrite[] {
    return [...this.cardChanged(job), ...this.incident(job, 'approved')];
  }

  /**
   * Results merge into the job's waiting results row up to RESULTS_BUDGET characters. A small job keeps one
   * line per instance; a large one is grouped (successes as ids in code blocks) and its rows are held a
   * while to fill up. Only the grouped layout shows names (`names`, what pre-flight read, as the store hands them over).
   */
  outcomes(job: Job, outcomes: readonly JobOutcome[], names?: InstanceNames): OutboxWrite[] {
    if (outcomes.length === 0) return [];
    const layout: ResultsLayout = job.ids.length <= LINES_LAYOUT_MAX_INSTANCES ? 'lines' : 'grouped';
    const entries = outcomes.map((o) => resultEntry(o, layout === 'grouped' ? names?.get(o.id) : undefined, layout));
    const results: OutboxWrite = {
      channel: job.channel,
      jobId: job.id,
      message: { kind: 'thread_results', layout, entries },
      mergeUpTo: RESULTS_BUDGET,
      ...(layout === 'grouped' ? { holdMs: this.holdMs } : {}),
    };
    return [results, ...this.cardChanged(job)];
  }

  note(job: Job, text: string, key?: string): OutboxWrite[] {
    return [this.inChannel(job, { kind: 'thread_note', text }, key)];
  }

  completed(job: Job): OutboxWrite[] {
    // A job cancelled before it started has no results to tabulate.
    const file = job.ids.length >= RESULTS_FILE_MIN_INSTANCES && job.state !== 'cancelled' ? [this.inChannel(job, { kind: 'results_file' })] : [];
    return [...this.cardChanged(job), ...file, this.inChannel(job, { kind: 'summary' }), ...this.incident(job, 'completed')];
  }

  superseded(job: Job, staleTs: string): OutboxWrite[] {
    return [this.inChannel(job, { kind: 'supersede_card', ts: staleTs }, `supersede:${job.id}:${staleTs}`)];
  }

  undelivered(job: Job, text: string): OutboxWrite[] {
    return [{ channel: job.requester, jobId: job.id, message: { kind: 'requester_notice', text }, coalesceKey: `notice:${job.id}` }];
  }

  auditRequested(job: Job, user: string): OutboxWrite[] {
    return [this.inChannel(job, { kind: 'audit_file', requestedBy: user })];
  }

  private incident(job: Job, event: 'approved' | 'completed'): OutboxWrite[] {
    // A dry run reboots nothing: the incident channel hears only of real reboots.
    if (!this.incidentChannel || job.dryRun) return [];
    return [{ channel: this.incidentChannel, jobId: job.id, message: { kind: 'incident', event } }];
  }

  private inChannel(job: Job, message: OutboxMessage, coalesceKey?: string): OutboxWrite {
    return coalesceKey === undefined ? { channel: job.channel, jobId: job.id, message } : { channel: job.channel, jobId: job.id, message, coalesceKey };
  }
}
