/**
 * Per provider, account and region rate limiting with bottleneck: each account of a cloud has its own API quota
 * (e.g. ECS flow control is per account and region: https://www.alibabacloud.com/help/en/ecs/developer-reference/api-throttling). Bottleneck counts a job's weight against
 * both maxConcurrent and the reservoir, so the per-minute instance budget (weighted by batch size)
 * lives in a second limiter with no concurrency bound; the first one bounds calls in flight.
 */
import Bottleneck from 'bottleneck';
import { DEFAULT_ACCOUNT } from '../domain/job.js';
import type { ProviderInfo, ProviderName, RateLimits } from '../providers/provider.js';

/** Bottleneck runs lower numbers first; jobs scheduled without a priority get 5. */
const READ_PRIORITY = 1;

/** Where a call goes: a region of the default account, or of a named one (src/policy/accounts.ts). */
export type LimitScope = string | { account: string; region: string };

function scopeKey(info: ProviderInfo, scope: LimitScope): string {
  return typeof scope === 'string' ? `${info.name}:${DEFAULT_ACCOUNT}:${scope}` : `${info.name}:${scope.account}:${scope.region}`;
}

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
  schedule<T>(info: ProviderInfo, scope: LimitScope, instances: number, task: () => Promise<T>): Promise<T> {
    const { calls, instances: budget } = this.limitersFor(info, scope);
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
  scheduleRead<T>(info: ProviderInfo, scope: LimitScope, task: () => Promise<T>): Promise<T> {
    return this.limitersFor(info, scope).calls.schedule({ priority: READ_PRIORITY }, task);
  }

  limitsFor(info: ProviderInfo): RateLimits {
    return { ...info.limits, ...this.overrides[info.name] };
  }

  private limitersFor(info: ProviderInfo, scope: LimitScope): RegionLimiters {
    const key = scopeKey(info, scope);
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
