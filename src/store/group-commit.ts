/**
 * Group commit for what Slack waits on. A burst of slash commands or clicks arrives together, and SQLite commits
 * synchronously on the event loop: fifty commits in a row are fifty WAL appends, each rewriting the same table and
 * index pages, while the later requests wait for their acks. Store calls made close together are committed
 * together instead (Store.together), and each caller is answered once that commit is done, so an ack still never
 * precedes the commit that makes it true.
 *
 * A group waits a moment for more: it commits once no call has joined it for `lullMs`, or once its first call has
 * waited `maxDelayMs`. A burst reaches the bot over a few milliseconds, not in one read of the sockets, so committing
 * at the end of each turn made a commit for every one or two clicks of a hundred (each a WAL append of the same
 * pages); with the lull, about ten. A request on its own waits `lullMs` more for its ack. PostgreSQL's
 * `commit_delay` trades the same way (https://www.postgresql.org/docs/current/runtime-config-wal.html#GUC-COMMIT-DELAY).
 */
import { performance } from 'node:perf_hooks';
import type { Awaitable, GroupedCall, GroupedOutcome, Store } from './contract.js';

interface Waiting {
  call: GroupedCall;
  settle: (outcome: GroupedOutcome) => void;
}

export interface GroupCommitOptions {
  /** A group commits once no call has joined it for this long (ms)… */
  lullMs?: number;
  /** …or once its first call has waited this long (ms). */
  maxDelayMs?: number;
}

export const GROUP_LULL_MS = 1;
export const GROUP_MAX_DELAY_MS = 10;

export class GroupCommit {
  private waiting: Waiting[] = [];
  private firstJoinedAt = 0;
  private lastJoinedAt = 0;
  private readonly lullMs: number;
  private readonly maxDelayMs: number;

  constructor(
    private readonly store: Pick<Store, 'together' | 'togetherIsOneCommit'>,
    options: GroupCommitOptions = {},
  ) {
    // A store that commits each call of a group on its own (PostgreSQL) gains nothing from a lull: only the end of the turn.
    this.lullMs = options.lullMs ?? (store.togetherIsOneCommit ? GROUP_LULL_MS : 0);
    this.maxDelayMs = options.maxDelayMs ?? GROUP_MAX_DELAY_MS;
  }

  /** Makes `call` (one call of the store's methods) with the others that join before the group commits, in one commit. */
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
      this.lastJoinedAt = performance.now();
      if (this.waiting.length > 1) return;
      this.firstJoinedAt = this.lastJoinedAt;
      // First in the check phase, after the poll phase has read every request that had arrived
      // (https://nodejs.org/api/timers.html#setimmediatecallback-args).
      setImmediate(this.due);
    });
  }

  /** Commits the group if it is due, else looks again when it will be. */
  private readonly due = (): void => {
    const now = performance.now();
    const quietFor = now - this.lastJoinedAt;
    const waited = now - this.firstJoinedAt;
    if (quietFor >= this.lullMs || waited >= this.maxDelayMs) void this.commit();
    else setTimeout(this.due, Math.min(this.lullMs - quietFor, this.maxDelayMs - waited));
  };

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
