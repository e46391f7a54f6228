/**
 * Group commit for what Slack waits on. A burst of slash commands or clicks arrives together, and SQLite commits
 * synchronously on the event loop: fifty commits in a row are fifty WAL appends, each rewriting the same table and
 * index pages, while the later requests wait for their acks. The store calls made in one turn of the event loop
 * are committed together instead (Store.together), and each caller is answered once that commit is done, so an
 * ack still never precedes the commit that makes it true.
 */
import type { Awaitable, GroupedCall, GroupedOutcome, Store } from './contract.js';

interface Waiting {
  call: GroupedCall;
  settle: (outcome: GroupedOutcome) => void;
}

export class GroupCommit {
  private waiting: Waiting[] = [];

  constructor(private readonly store: Pick<Store, 'together'>) {}

  /** Makes `call` (one call of the store's methods) with the others of this turn of the event loop, in one commit. */
  run<T>(call: () => Awaitable<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      let answer = (): void => reject(new Error('the store did not make this call'));
      this.waiting.push({
        call: () => {
          const result = call();
          answer = () => resolve(result);
          return result;
        },
        settle: (outcome) => (outcome.ok ? answer() : reject(outcome.error)),
      });
      // In the check phase, after the poll phase has read every request that had arrived
      // (https://nodejs.org/api/timers.html#setimmediatecallback-args).
      if (this.waiting.length === 1) setImmediate(() => void this.commit());
    });
  }

  private async commit(): Promise<void> {
    const group = this.waiting;
    this.waiting = [];
    try {
      const outcomes = await this.store.together(group.map((w) => w.call));
      group.forEach((w, i) => w.settle(outcomes[i] ?? { ok: false, error: new Error('the store gave no answer for this call') }));
    } catch (error) {
      for (const w of group) w.settle({ ok: false, error });
    }
  }
}
