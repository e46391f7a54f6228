/**
 * The Slack side of the job core's events: which channel, which kind of message, which rows coalesce.
 * Pure: it builds outbox rows that the store commits with the state change they report. Cards are
 * rendered at delivery time from the job's current state, so a coalesced update is never stale.
 */
import type { Job } from '../domain/job.js';
import type { JobOutcome } from '../domain/outcome.js';
import type { OutboxMessage, OutboxWrite } from '../domain/outbox-message.js';
import type { JobEvents } from '../jobs/events.js';
import { outcomeLine } from './messages.js';

/** Result lines per thread message: few enough to read, many enough to keep under ~1 message/s. */
export const LINES_PER_MESSAGE = 25;

export class SlackReporter implements JobEvents {
  constructor(private readonly incidentChannel: string | undefined) {}

  requested(job: Job): OutboxWrite[] {
    return [this.inChannel(job, { kind: 'post_card' })];
  }

  cardChanged(job: Job): OutboxWrite[] {
    return [this.inChannel(job, { kind: 'update_card' }, `card:${job.id}`)];
  }

  approved(job: Job): OutboxWrite[] {
    return [...this.cardChanged(job), ...this.incident(job, 'approved')];
  }

  outcomes(job: Job, outcomes: readonly JobOutcome[]): OutboxWrite[] {
    if (outcomes.length === 0) return [];
    const lines: OutboxWrite = { channel: job.channel, jobId: job.id, message: { kind: 'thread_lines', lines: outcomes.map(outcomeLine) }, mergeUpTo: LINES_PER_MESSAGE };
    return [lines, ...this.cardChanged(job)];
  }

  note(job: Job, text: string, key?: string): OutboxWrite[] {
    return [this.inChannel(job, { kind: 'thread_note', text }, key)];
  }

  completed(job: Job): OutboxWrite[] {
    return [...this.cardChanged(job), this.inChannel(job, { kind: 'summary' }), ...this.incident(job, 'completed')];
  }

  superseded(job: Job, staleTs: string): OutboxWrite[] {
    return [this.inChannel(job, { kind: 'supersede_card', ts: staleTs }, `supersede:${job.id}:${staleTs}`)];
  }

  undelivered(job: Job, text: string): OutboxWrite[] {
    return [{ channel: job.requester, jobId: job.id, message: { kind: 'requester_notice', text }, coalesceKey: `notice:${job.id}` }];
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
