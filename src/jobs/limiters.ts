/**
 * Per provider and region rate limiting with bottleneck. Bottleneck counts a job's weight against
 * both maxConcurrent and the reservoir, so the per-minute instance budget (weighted by batch size)
 * lives in a second limiter with no concurrency bound; the first one bounds calls in flight.
 */
import Bottleneck from 'bottleneck';
import type { ProviderInfo, ProviderName, RateLimits } from '../providers/provider.js';

/** Bottleneck runs lower numbers first; jobs scheduled without a priority get 5. */
const READ_PRIORITY = 1;

interface RegionLimiters {
  calls: Bottleneck;
  instances?: Bottleneck;
}

export class LimiterPool {
  private readonly limiters = new Map<string, RegionLimiters>();

  constructor(
    private readonly overrides: Partial<Record<ProviderName, Partial<RateLimits>>> = {},
    /** The instance budget's refill period; the clouds count per minute, tests shorten it. */
    private readonly budgetPeriodMs = 60_000,
  ) {}

  /** Runs `task` once both the call limit and the instance budget allow `instances` more. */
  schedule<T>(info: ProviderInfo, region: string, instances: number, task: () => Promise<T>): Promise<T> {
    const { calls, instances: budget } = this.limitersFor(info, region);
    const limited = (): Promise<T> => calls.schedule(task);
    if (!budget) return limited();
    // The runner plans batches within the budget (batchSizeFor); a batch planned before the budget
    // was lowered still waits for a full refill instead of never running.
    const perPeriod = this.limitsFor(info).instancesPerMinute ?? instances;
    return budget.schedule({ weight: Math.min(instances, perPeriod) }, limited);
  }

  /**
   * A read call (pre-flight, dry run, verification) under the same call limit as the reboots of that provider and
   * region: the clouds count every API call of an account. Reads go ahead of queued reboots: behind the rest of a
   * large job (a thousand one-instance Baidu calls queue for 100 s) a verification read would come long after the
   * reboot it should see. They are few (one per read batch and round), so reboots are delayed, never starved.
   * Reads reboot nothing, so they take nothing from the instance budget.
   */
  scheduleRead<T>(info: ProviderInfo, region: string, task: () => Promise<T>): Promise<T> {
    return this.limitersFor(info, region).calls.schedule({ priority: READ_PRIORITY }, task);
  }

  limitsFor(info: ProviderInfo): RateLimits {
    return { ...info.limits, ...this.overrides[info.name] };
  }

  private limitersFor(info: ProviderInfo, region: string): RegionLimiters {
    const key = `${info.name}:${region}`;
    let entry = this.limiters.get(key);
    if (!entry) {
      const limits = this.limitsFor(info);
      entry = {
        calls: new Bottleneck({ maxConcurrent: limits.maxConcurrent, minTime: limits.minTimeMs }),
        ...(limits.instancesPerMinute
          ? {
              instances: new Bottleneck({
                reservoir: limits.instancesPerMinute,
                reservoirRefreshAmount: limits.instancesPerMinute,
                reservoirRefreshInterval: this.budgetPeriodMs,
              }),
            }
          : {}),
      };
      this.limiters.set(key, entry);
    }
    return entry;
  }

  async stop(): Promise<void> {
    const all = [...this.limiters.values()].flatMap((e) => (e.instances ? [e.calls, e.instances] : [e.calls]));
    await Promise.all(all.map((l) => l.disconnect()));
  }
}
