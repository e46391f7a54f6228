/**
 * LimiterPool on its own: call spacing, calls in flight, isolation per provider and region,
 * configuration overrides and the weighted instance budget. Timing assertions are lower bounds
 * derived from the configuration only (a loaded machine can only make things slower); concurrency
 * is measured by counting tasks in flight, which does not depend on speed at all.
 */
import { performance } from 'node:perf_hooks';
import { afterEach, describe, expect, it } from 'vitest';
import { LimiterPool } from '../../src/jobs/limiters.js';
import type { ProviderInfo } from '../../src/providers/provider.js';
import { providerInfo, until } from '../helpers/fixtures.js';

/**
 * Bottleneck keeps its schedule in whole Date.now() milliseconds and timers may fire a millisecond
 * early against performance.now(); nothing else is allowed.
 */
const TIMER_SLACK_MS = 2;

/**
 * Hang detection only: a call that should not wait at all (or waits one short refill) is given
 * seconds, so that a wrong limiter fails here instead of at the suite's 30 s timeout.
 */
const HANG_MS = 5000;

async function settlesWithin<T>(promise: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const hang = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} still waiting after ${HANG_MS} ms`)), HANG_MS);
  });
  try {
    return await Promise.race([promise, hang]);
  } finally {
    clearTimeout(timer);
  }
}

let pool: LimiterPool;
afterEach(async () => {
  await pool.stop();
});

/** A task that can be held open and released from the test, recording when it started. */
function gate(): { started: number | undefined; release: () => void; task: () => Promise<string> } {
  let release!: () => void;
  const held = new Promise<void>((r) => (release = r));
  const g = {
    started: undefined as number | undefined,
    release: () => release(),
    task: async (): Promise<string> => {
      g.started = performance.now();
      await held;
      return 'done';
    },
  };
  return g;
}

/**
 * Runs `n` tasks of `ms` each through the pool, returning their start times (ms after the first
 * schedule call) and the highest count in flight.
 */
async function measure(info: ProviderInfo, region: string, n: number, ms: number, instances = 1): Promise<{ starts: number[]; maxInFlight: number }> {
  const t0 = performance.now();
  let inFlight = 0;
  let maxInFlight = 0;
  const starts: number[] = [];
  await Promise.all(
    Array.from({ length: n }, () =>
      pool.schedule(info, region, instances, async () => {
        starts.push(performance.now() - t0);
        inFlight += 1;
        maxInFlight = Math.max(maxInFlight, inFlight);
        await new Promise((r) => setTimeout(r, ms));
        inFlight -= 1;
      }),
    ),
  );
  return { starts, maxInFlight };
}

describe('LimiterPool', () => {
  // Bottleneck spaces the calls' scheduled times, not their actual starts: one timer firing late
  // narrows the gap after it. So the bound is on the k-th start from the moment of scheduling.
  it('spaces calls by minTimeMs: the k-th of N calls starts at least k·minTime after they were scheduled', async () => {
    pool = new LimiterPool();
    const minTime = 40;
    const { starts } = await measure(providerInfo({ limits: { maxConcurrent: 10, minTimeMs: minTime } }), 'cn-hangzhou', 5, 0);
    expect(starts).toHaveLength(5);
    starts.forEach((at, k) => expect(at).toBeGreaterThanOrEqual(k * minTime - TIMER_SLACK_MS));
  });

  it('keeps at most maxConcurrent calls in flight, and does use that many', async () => {
    pool = new LimiterPool();
    const { maxInFlight, starts } = await measure(providerInfo({ limits: { maxConcurrent: 2, minTimeMs: 0 } }), 'cn-hangzhou', 6, 30);
    expect(maxInFlight).toBe(2);
    // Six 30 ms calls two at a time: the last starts after two rounds at least.
    expect(Math.max(...starts)).toBeGreaterThanOrEqual(2 * (30 - TIMER_SLACK_MS));
  });

  it('with maxConcurrent 1, a second call waits for the first to finish, however long it takes', async () => {
    pool = new LimiterPool();
    const info = providerInfo({ limits: { maxConcurrent: 1, minTimeMs: 0 } });
    const first = gate();
    const second = gate();
    const p1 = pool.schedule(info, 'cn-hangzhou', 1, first.task);
    const p2 = pool.schedule(info, 'cn-hangzhou', 1, second.task);
    await until(() => first.started !== undefined, 'the first call to start');
    // Give the limiter every chance to (wrongly) start the second one.
    await new Promise((r) => setTimeout(r, 30));
    expect(second.started).toBeUndefined();
    first.release();
    await p1;
    second.release();
    expect(await p2).toBe('done');
    expect(second.started).toBeDefined();
  });

  it('limits each provider and region on its own: a held call blocks neither another region nor another provider', async () => {
    pool = new LimiterPool();
    const alibaba = providerInfo({ name: 'alibaba', limits: { maxConcurrent: 1, minTimeMs: 0 } });
    const volcengine = providerInfo({ name: 'volcengine', limits: { maxConcurrent: 1, minTimeMs: 0 } });
    const held = gate();
    const blocked = gate();
    const heldRun = pool.schedule(alibaba, 'cn-hangzhou', 1, held.task);
    const blockedRun = pool.schedule(alibaba, 'cn-hangzhou', 1, blocked.task);
    // These complete while the first alibaba/cn-hangzhou call is still held open.
    expect(await settlesWithin(pool.schedule(alibaba, 'cn-north-4', 1, async () => 'other region'), 'another region')).toBe('other region');
    expect(await settlesWithin(pool.schedule(volcengine, 'cn-hangzhou', 1, async () => 'other provider'), 'another provider')).toBe('other provider');
    expect(blocked.started).toBeUndefined();
    held.release();
    blocked.release();
    await Promise.all([heldRun, blockedRun]);
  });

  it('each account has its own quota: a held call of one account blocks another account in the same region not at all, and the default account is the plain region', async () => {
    pool = new LimiterPool();
    const info = providerInfo({ name: 'alibaba', limits: { maxConcurrent: 1, minTimeMs: 0 } });
    const held = gate();
    const blocked = gate();
    const heldRun = pool.schedule(info, { account: 'prod', region: 'cn-hangzhou' }, 1, held.task);
    const blockedRun = pool.scheduleRead(info, { account: 'prod', region: 'cn-hangzhou' }, blocked.task);
    expect(await settlesWithin(pool.schedule(info, { account: 'staging', region: 'cn-hangzhou' }, 1, async () => 'staging'), 'another account')).toBe('staging');
    expect(await settlesWithin(pool.schedule(info, 'cn-hangzhou', 1, async () => 'default'), 'the default account')).toBe('default');
    expect(blocked.started).toBeUndefined();
    held.release();
    blocked.release();
    await Promise.all([heldRun, blockedRun]);
    // `default` named or not is one limiter: a held default call blocks a named-default one.
    const heldDefault = gate();
    const run = pool.schedule(info, 'cn-hangzhou', 1, heldDefault.task);
    const named = gate();
    const namedRun = pool.schedule(info, { account: 'default', region: 'cn-hangzhou' }, 1, named.task);
    await new Promise((r) => setTimeout(r, 20));
    expect(named.started).toBeUndefined();
    heldDefault.release();
    named.release();
    await Promise.all([run, namedRun]);
  });

  it('spacing is per region too: calls in two regions are not spaced against each other', async () => {
    pool = new LimiterPool();
    const info = providerInfo({ limits: { maxConcurrent: 1, minTimeMs: 60_000 } });
    // Each region's first call runs at once; were the limiter shared, the second would wait a minute.
    const a = await settlesWithin(pool.schedule(info, 'cn-hangzhou', 1, async () => 'a'), 'the first region');
    const b = await settlesWithin(pool.schedule(info, 'cn-north-4', 1, async () => 'b'), 'the second region');
    expect([a, b]).toEqual(['a', 'b']);
  });

  it('overrides replace the provider’s own limits field by field, for that provider only', async () => {
    pool = new LimiterPool({ alibaba: { maxConcurrent: 1, minTimeMs: 30 } });
    const alibaba = providerInfo({ name: 'alibaba', limits: { maxConcurrent: 5, minTimeMs: 0, instancesPerMinute: 700 } });
    const baidu = providerInfo({ name: 'baidu', limits: { maxConcurrent: 5, minTimeMs: 0 } });
    expect(pool.limitsFor(alibaba)).toEqual({ maxConcurrent: 1, minTimeMs: 30, instancesPerMinute: 700 });
    expect(pool.limitsFor(baidu)).toEqual({ maxConcurrent: 5, minTimeMs: 0 });
    const overridden = await measure(alibaba, 'cn-hangzhou', 4, 5);
    expect(overridden.maxInFlight).toBe(1);
    overridden.starts.forEach((at, k) => expect(at).toBeGreaterThanOrEqual(k * 30 - TIMER_SLACK_MS));
    const untouched = await measure(baidu, 'cn-hangzhou', 4, 30);
    expect(untouched.maxInFlight).toBe(4);
  });

  it('the instance budget is weighted by batch size: what does not fit waits for the next refill', async () => {
    const period = 150;
    pool = new LimiterPool({}, period);
    const info = providerInfo({ name: 'huawei', limits: { maxConcurrent: 5, minTimeMs: 0, instancesPerMinute: 4 } });
    const t0 = performance.now();
    const starts: Record<string, number> = {};
    const run = (name: string, instances: number): Promise<void> =>
      pool.schedule(info, 'cn-north-4', instances, async () => {
        starts[name] = performance.now() - t0;
      });
    // 3 + 1 fill the first period's budget of 4; the next 3 must wait for a refill.
    await Promise.all([run('a', 3), run('b', 1), run('c', 3)]);
    expect(starts.c!).toBeGreaterThanOrEqual(period - TIMER_SLACK_MS);
    expect(Math.max(starts.a!, starts.b!)).toBeLessThan(starts.c!);
  });

  it('the budget is per region: one region spending it leaves another’s untouched', async () => {
    pool = new LimiterPool({}, 60_000);
    const info = providerInfo({ name: 'huawei', limits: { maxConcurrent: 5, minTimeMs: 0, instancesPerMinute: 4 } });
    await pool.schedule(info, 'cn-north-4', 4, async () => undefined);
    // A refill is a minute away: this only runs because cn-east-3 has a budget of its own.
    expect(await settlesWithin(pool.schedule(info, 'cn-east-3', 4, async () => 'east'), 'the other region')).toBe('east');
  });

  it('a batch heavier than the whole budget still runs (after a refill) instead of hanging', async () => {
    const period = 100;
    pool = new LimiterPool({}, period);
    const info = providerInfo({ name: 'huawei', limits: { maxConcurrent: 5, minTimeMs: 0, instancesPerMinute: 3 } });
    const t0 = performance.now();
    await pool.schedule(info, 'cn-north-4', 3, async () => undefined);
    const startedAt = await settlesWithin(
      pool.schedule(info, 'cn-north-4', 10, async () => performance.now() - t0),
      'a batch of 10 under a budget of 3',
    );
    // It waited for the budget spent by the first batch to refill.
    expect(startedAt).toBeGreaterThanOrEqual(period - TIMER_SLACK_MS);
  });

  it('without an instance budget, the instance count does not hold a call back', async () => {
    pool = new LimiterPool({}, 60_000);
    const info = providerInfo({ limits: { maxConcurrent: 2, minTimeMs: 0 } });
    // Were a budget of any size applied with a one-minute refill, the second call would wait a minute.
    expect(await settlesWithin(pool.schedule(info, 'cn-hangzhou', 100_000, async () => 1), 'the first call')).toBe(1);
    expect(await settlesWithin(pool.schedule(info, 'cn-hangzhou', 100_000, async () => 2), 'the second call')).toBe(2);
  });

  it('a task that throws rejects its own call and leaves the limiter usable', async () => {
    pool = new LimiterPool();
    const info = providerInfo({ limits: { maxConcurrent: 1, minTimeMs: 0 } });
    await expect(pool.schedule(info, 'cn-hangzhou', 1, async () => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
    expect(await pool.schedule(info, 'cn-hangzhou', 1, async () => 'next')).toBe('next');
  });
});

describe('LimiterPool: reads', () => {
  it('share the call limit with reboots but go ahead of reboots still queued', async () => {
    pool = new LimiterPool();
    const info = providerInfo({ limits: { maxConcurrent: 1, minTimeMs: 0 } });
    const order: string[] = [];
    // Long enough that the read is queued while the first reboot still runs.
    const task = (name: string) => async (): Promise<void> => {
      order.push(name);
      await new Promise((r) => setTimeout(r, 50));
    };
    const reboots = [1, 2, 3].map((n) => pool.schedule(info, 'r1', 1, task(`reboot-${n}`)));
    // Bottleneck settles jobs submitted in one tick in an order of its own; a real read comes while reboots wait.
    await until(() => order.length === 1, 'the first reboot to start');
    const read = pool.scheduleRead(info, 'r1', task('read'));
    await settlesWithin(Promise.all([...reboots, read]), 'the queue');
    // reboot-1 was already running when the read came; the read then went before the two still waiting.
    expect(order).toEqual(['reboot-1', 'read', 'reboot-2', 'reboot-3']);
  });

  it('take nothing from the instance budget', async () => {
    pool = new LimiterPool({}, 60_000);
    const info = providerInfo({ limits: { maxConcurrent: 5, minTimeMs: 0, instancesPerMinute: 2 } });
    await settlesWithin(pool.schedule(info, 'r1', 2, () => Promise.resolve()), 'the reboot');
    // The budget is spent for a minute; a read still runs at once.
    await settlesWithin(pool.scheduleRead(info, 'r1', () => Promise.resolve()), 'a read after the budget is spent');
  });
});
