/**
 * Group commit for new requests. A burst of slash commands arrives together, and SQLite commits synchronously on
 * the event loop: fifty commits in a row are fifty WAL appends, each rewriting the same table and index pages,
 * while the later commands wait for their acks. The requests that reach the store in one turn of the event loop
 * are stored in one transaction instead (Store.createJobs), and each is answered once that transaction has
 * committed, so an ack still never precedes the commit that makes it true.
 */
import type { CreateResult, NewJobRequest, Store } from './contract.js';

interface Waiting {
  request: NewJobRequest;
  resolve: (result: CreateResult) => void;
  reject: (error: unknown) => void;
}

export class GroupCommit {
  private waiting: Waiting[] = [];

  constructor(private readonly store: Pick<Store, 'createJobs'>) {}

  /** Store.createJob, committed with the other requests of this turn of the event loop. */
  createJob(request: NewJobRequest): Promise<CreateResult> {
    return new Promise((resolve, reject) => {
      this.waiting.push({ request, resolve, reject });
      // In the check phase, after the poll phase has read every request that had arrived
      // (https://nodejs.org/api/timers.html#setimmediatecallback-args).
      if (this.waiting.length === 1) setImmediate(() => void this.commit());
    });
  }

  private async commit(): Promise<void> {
    const group = this.waiting;
    this.waiting = [];
    try {
      const outcomes = await this.store.createJobs(group.map((w) => w.request));
      group.forEach((w, i) => {
        const outcome = outcomes[i];
        if (!outcome) w.reject(new Error('the store gave no answer for this request'));
        else if (outcome.kind === 'failed') w.reject(outcome.error);
        else w.resolve(outcome);
      });
    } catch (error) {
      for (const w of group) w.reject(error);
    }
  }
}
