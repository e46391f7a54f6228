/**
 * Retention (REBOOT_RETENTION): jobs that ended, and Slack writes delivered, longer ago than the setting
 * are deleted, so the database stays bounded. A sweep runs shortly after start and then periodically; each
 * `prune` call deletes a bounded chunk in one short transaction and the sweep yields to the event loop
 * between chunks, so slash commands and clicks are still acknowledged in time while it runs.
 */
import { setImmediate as nextTurn } from 'node:timers/promises';
import { errorMessage } from '../errors.js';
import type { Logger } from '../log.js';
import type { PruneLimits, Pruned, Store } from './contract.js';

/**
 * One chunk takes 10 to 20 ms (measured on a 2-core VM: a 5,000-instance job's rows about 19 ms, 200 small
 * jobs about 15 ms, 5,000 delivered outbox rows about 11 ms), so a slash command arriving meanwhile is still
 * acknowledged at once.
 */
export const DEFAULT_PRUNE_LIMITS: PruneLimits = { jobs: 200, instances: 5000, outboxRows: 5000 };

export interface RetentionOptions {
  /** REBOOT_RETENTION: how long ended jobs and delivered rows are kept. */
  retentionMs: number;
  /** The first sweep, after start-up's own work. */
  firstRunMs: number;
  sweepMs: number;
  now: () => number;
  log: Logger;
  limits?: PruneLimits;
}

export class RetentionSweep {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<Pruned> | undefined;
  private stopped = false;

  constructor(
    private readonly store: Pick<Store, 'prune'>,
    private readonly opts: RetentionOptions,
  ) {}

  start(): void {
    this.schedule(this.opts.firstRunMs);
  }

  /** Ends the schedule and waits for a sweep in progress to finish its current chunk. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.running?.catch(() => undefined);
  }

  /** Prunes everything due now, chunk by chunk; the totals. */
  sweep(): Promise<Pruned> {
    this.running ??= this.pruneAll().finally(() => {
      this.running = undefined;
    });
    return this.running;
  }

  private schedule(ms: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      void this.sweep()
        .catch((err: unknown) => {
          // A timer callback that throws would end the process; the next sweep tries again.
          this.opts.log.error('retention sweep failed', { error: errorMessage(err) });
        })
        .finally(() => this.schedule(this.opts.sweepMs));
    }, ms);
    this.timer.unref();
  }

  private async pruneAll(): Promise<Pruned> {
    const before = this.opts.now() - this.opts.retentionMs;
    const limits = this.opts.limits ?? DEFAULT_PRUNE_LIMITS;
    const total: Pruned = { jobs: 0, outboxRows: 0, more: false };
    for (;;) {
      const chunk = await this.store.prune(before, limits);
      total.jobs += chunk.jobs;
      total.outboxRows += chunk.outboxRows;
      if (!chunk.more || this.stopped) {
        total.more = chunk.more;
        break;
      }
      await nextTurn();
    }
    if (total.jobs > 0 || total.outboxRows > 0) {
      this.opts.log.info('retention: pruned old rows', { jobs: total.jobs, outboxRows: total.outboxRows, endedBefore: new Date(before).toISOString() });
    }
    return total;
  }
}
