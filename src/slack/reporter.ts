/**
 * Turns job events into outbox entries. It only writes to the store; the outbox worker delivers.
 * Cards are rendered at delivery time from the job's current state, so a coalesced update is
 * never stale.
 */
import type { Job } from '../jobs/job.js';
import type { InstanceOutcome } from '../providers/provider.js';
import type { Store } from '../store/store.js';
import { outcomeLine } from './messages.js';

/** Result lines per thread message: few enough to read, many enough to keep under ~1 message/s. */
export const LINES_PER_MESSAGE = 25;

export class Reporter {
  constructor(
    private readonly store: Store,
    private readonly incidentChannel: string | undefined,
    private readonly now: () => number,
  ) {}

  postCard(job: Job): void {
    this.store.enqueue({ channel: job.channel, kind: 'post_card', jobId: job.id, payload: {}, now: this.now() });
  }

  updateCard(job: Job): void {
    this.store.enqueue({
      channel: job.channel,
      kind: 'update_card',
      jobId: job.id,
      payload: {},
      now: this.now(),
      coalesceKey: `card:${job.id}`,
    });
  }

  outcomes(job: Job, outcomes: readonly InstanceOutcome[]): void {
    if (outcomes.length === 0) return;
    this.store.appendThreadLines(job.id, job.channel, outcomes.map(outcomeLine), LINES_PER_MESSAGE, this.now());
  }

  /** A thread note that a newer one of the same key replaces while still waiting (async job progress). */
  threadNote(job: Job, text: string, coalesceKey?: string): void {
    this.store.enqueue({
      channel: job.channel,
      kind: 'thread_note',
      jobId: job.id,
      payload: { text },
      now: this.now(),
      ...(coalesceKey ? { coalesceKey } : {}),
    });
  }

  summary(job: Job): void {
    this.store.enqueue({ channel: job.channel, kind: 'summary', jobId: job.id, payload: {}, now: this.now() });
  }

  /** Rewrites a second copy of the card (posted twice across a crash) so its buttons stop looking live. */
  supersedeCard(job: Job, staleTs: string): void {
    this.store.enqueue({
      channel: job.channel,
      kind: 'supersede_card',
      jobId: job.id,
      payload: { ts: staleTs },
      now: this.now(),
      coalesceKey: `supersede:${job.id}:${staleTs}`,
    });
  }

  /** A direct message to the requester, for news that cannot reach the request's channel. */
  requesterNotice(job: Job, text: string): void {
    this.store.enqueue({
      channel: job.requester,
      kind: 'requester_notice',
      jobId: job.id,
      payload: { text },
      now: this.now(),
      coalesceKey: `notice:${job.id}`,
    });
  }

  incident(job: Job, event: 'approved' | 'completed'): void {
    if (!this.incidentChannel) return;
    this.store.enqueue({ channel: this.incidentChannel, kind: 'incident', jobId: job.id, payload: { event }, now: this.now() });
  }
}
