/**
 * LimiterPool in bottleneck's Clustering mode: two pools, each with its own Redis connection, stand for two
 * replicas of the bot. Together they must keep one provider and region's limits, not one each. Timing
 * assertions are lower bounds from the configuration only (a slow machine only makes calls later); each
 * shared measurement has a control that runs the same calls unshared and must see the limits doubled, so
 * the measurement itself can fail.
 */
import { performance } from 'node:perf_hooks';
import Bottleneck from 'bottleneck';
import type { Redis } from 'ioredis';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { LimiterPool, LimiterPoolStoppedError } from '../../src/jobs/limiters.js';
import type { ProviderInfo } from '../../src/providers/provider.js';
import { openRedis } from '../../src/redis/client.js';
import { providerInfo, until } from '../helpers/fixtures.js';
import { connectTestRedis, deleteKeys, freePort, OwnRedis, sleep, TEST_REDIS_URL, uniquePrefix } from './redis.js';

/** Bottleneck computes waits from Date.now() in whole ms, and a Redis round trip sits between the replicas. */
const SLACK_MS = 15;

// At load: a Redis that does not answer fails the whole file with the reason (no test is counted as skipped).
const admin: Redis = await connectTestRedis();
const prefix = uniquePrefix();
const opened: Array<{ pool: LimiterPool; client: Redis }> = [];

afterEach(async () => {
  for (const { pool, client } of opened.splice(0)) {
    await pool.stop();
    client.disconnect(false);
  }
});

afterAll(async () => {
  await deleteKeys(admin, prefix);
  admin.disconnect(false);
});

/** One replica's pool: its own connection, the run's prefix (or another, for the controls). */
function replica(options: { prefix?: string; budgetPeriodMs?: number; url?: string } = {}): LimiterPool {
  const client = openRedis(options.url ?? TEST_REDIS_URL, { purpose: 'test' });
  const pool = new LimiterPool({}, options.budgetPeriodMs ?? 60_000, { redis: client, prefix: options.prefix ?? prefix });
  opened.push({ pool, client });
  return pool;
}

/** A region name of its own per test, so no two tests share a limiter's state. */
let regions = 0;
function freshRegion(): string {
  regions += 1;
  return `test-region-${regions}`;
}

/** `perReplica` calls pushed at once through each pool; every start (ms after the first push), sorted, and the most in flight. */
async function pushThrough(pools: LimiterPool[], info: ProviderInfo, region: string, perReplica: number, callMs: number): Promise<{ starts: number[]; maxInFlight: number; byReplica: number[] }> {
  const t0 = performance.now();
  const starts: number[] = [];
  const byReplica = pools.map(() => 0);
  let inFlight = 0;
  let maxInFlight = 0;
  await Promise.all(
    pools.flatMap((pool, p) =>
      Array.from({ length: perReplica }, () =>
        pool.schedule(info, region, 1, async () => {
          starts.push(performance.now() - t0);
          byReplica[p] = (byReplica[p] ?? 0) + 1;
          inFlight += 1;
          maxInFlight = Math.max(maxInFlight, inFlight);
          await sleep(callMs);
          inFlight -= 1;
        }),
      ),
    ),
  );
  return { starts: starts.sort((a, b) => a - b), maxInFlight, byReplica };
}

describe('LimiterPool shared through Redis by two replicas', () => {
  const minTime = 100;
  const spaced = providerInfo({ name: 'alibaba', limits: { maxConcurrent: 10, minTimeMs: minTime } });

  it('N calls pushed through both replicas together start minTime apart: the rate is the configured one, not doubled', async () => {
    const region = freshRegion();
    const { starts, byReplica } = await pushThrough([replica(), replica()], spaced, region, 5, 0);
    expect(starts).toHaveLength(10);
    expect(byReplica).toEqual([5, 5]);
    // The k-th start of all ten, whichever replica ran it, comes k·minTime after the first.
    starts.forEach((at, k) => expect(at - starts[0]!).toBeGreaterThanOrEqual(k * minTime - SLACK_MS));
  });

  it('control: two replicas under different prefixes keep a limiter each, and the measurement above sees the doubled rate', async () => {
    const region = freshRegion();
    const { starts } = await pushThrough([replica({ prefix: `${prefix}-a` }), replica({ prefix: `${prefix}-b` })], spaced, region, 5, 0);
    // Two limiters of 100 ms each start ten calls within about 5·100 ms, far below the 9·100 ms one limiter takes.
    expect(starts[9]! - starts[0]!).toBeLessThan(9 * minTime - SLACK_MS);
    await deleteKeys(admin, `${prefix}-a`);
    await deleteKeys(admin, `${prefix}-b`);
  });

  it('maxConcurrent holds across both replicas: never more calls in flight together than configured', async () => {
    const info = providerInfo({ name: 'volcengine', limits: { maxConcurrent: 2, minTimeMs: 0 } });
    const { maxInFlight, byReplica } = await pushThrough([replica(), replica()], info, freshRegion(), 4, 60);
    expect(maxInFlight).toBe(2);
    expect(byReplica).toEqual([4, 4]);
  });

  it("Huawei's per-minute instance budget is one for both replicas: what one spent, the other waits a refill for", async () => {
    const period = 600;
    const info = providerInfo({ name: 'huawei', limits: { maxConcurrent: 5, minTimeMs: 0, instancesPerMinute: 4 } });
    const region = freshRegion();
    const a = replica({ budgetPeriodMs: period });
    const b = replica({ budgetPeriodMs: period });
    const t0 = performance.now();
    // Replica A takes 3 of the 4; replica B's batch of 3 does not fit before the refill.
    const first = await a.schedule(info, region, 3, async () => performance.now() - t0);
    const second = await b.schedule(info, region, 3, async () => performance.now() - t0);
    expect(first).toBeLessThan(period);
    expect(second).toBeGreaterThanOrEqual(period - SLACK_MS);
  });

  it('control: unshared, the second replica would not have waited for the budget', async () => {
    const period = 60_000;
    const info = providerInfo({ name: 'huawei', limits: { maxConcurrent: 5, minTimeMs: 0, instancesPerMinute: 4 } });
    const region = freshRegion();
    await replica({ prefix: `${prefix}-c`, budgetPeriodMs: period }).schedule(info, region, 3, async () => undefined);
    const t0 = performance.now();
    await replica({ prefix: `${prefix}-d`, budgetPeriodMs: period }).schedule(info, region, 3, async () => undefined);
    expect(performance.now() - t0).toBeLessThan(5000);
    await deleteKeys(admin, `${prefix}-c`);
    await deleteKeys(admin, `${prefix}-d`);
  });

  it('keeps its state under stable ids: <prefix>:<provider>:<account>:<region>:calls and :instances', async () => {
    const info = providerInfo({ name: 'huawei', limits: { maxConcurrent: 5, minTimeMs: 0, instancesPerMinute: 4 } });
    const region = freshRegion();
    await replica().schedule(info, region, 1, async () => undefined);
    expect(await admin.exists(`b_${prefix}:huawei:default:${region}:calls_settings`)).toBe(1);
    expect(await admin.hget(`b_${prefix}:huawei:default:${region}:instances_settings`, 'reservoir')).toBe('3');
  });

  it('limiter state lost in Redis (keys flushed, as by a restart or their expiry): both replicas set it up again and keep the rate', async () => {
    const region = freshRegion();
    const pools = [replica(), replica()];
    await pushThrough(pools, spaced, region, 1, 0);
    expect(await deleteKeys(admin, `${prefix}:alibaba:default:${region}:`)).toBeGreaterThan(0);
    const { starts, byReplica } = await pushThrough(pools, spaced, region, 3, 0);
    expect(byReplica).toEqual([3, 3]);
    starts.forEach((at, k) => expect(at - starts[0]!).toBeGreaterThanOrEqual(k * minTime - SLACK_MS));
    expect(await admin.exists(`b_${prefix}:alibaba:default:${region}:calls_settings`)).toBe(1);
  });

  it("a task's own failure rejects its call once, and is not scheduled again", async () => {
    const pool = replica();
    const info = providerInfo({ limits: { maxConcurrent: 1, minTimeMs: 0 } });
    let runs = 0;
    await expect(
      pool.schedule(info, freshRegion(), 1, async () => {
        runs += 1;
        throw new Error('boom');
      }),
    ).rejects.toThrow('boom');
    await sleep(300);
    expect(runs).toBe(1);
  });
});

describe('LimiterPool when Redis does not answer', () => {
  it('a call waits while nothing listens at the Redis address, and is refused (never run) when the pool stops', async () => {
    const pool = replica({ url: `redis://127.0.0.1:${await freePort()}` });
    let ran = false;
    const call = pool.schedule(providerInfo(), 'cn-hangzhou', 1, async () => {
      ran = true;
    });
    const settled = call.then(
      () => 'resolved',
      (err: unknown) => err,
    );
    await sleep(1500);
    expect(ran).toBe(false);
    await pool.stop();
    expect(await settled).toBeInstanceOf(LimiterPoolStoppedError);
    expect(ran).toBe(false);
  });

  it('a Redis that crashes and comes back: the call waits through the outage, then runs exactly once, within the limit', async () => {
    const own = new OwnRedis(await freePort());
    await own.start();
    try {
      const pool = replica({ url: own.url });
      const info = providerInfo({ name: 'baidu', limits: { maxConcurrent: 1, minTimeMs: 0 } });
      expect(await pool.schedule(info, 'bj', 1, async () => 'before')).toBe('before');
      await own.kill();
      let runs = 0;
      const during = pool.schedule(info, 'bj', 1, async () => {
        runs += 1;
        return 'after';
      });
      await sleep(1500);
      expect(runs).toBe(0);
      await own.start();
      expect(await until(() => runs === 1 && 'ran', 'the call to run once Redis is back', 15_000)).toBe('ran');
      expect(await during).toBe('after');
      await sleep(300);
      expect(runs).toBe(1);
    } finally {
      await own.kill();
    }
  });
});

describe('a replica that stops cleanly', () => {
  it('lets go of the slots of calls it had registered but not started: the other replica does not wait for them to expire', async () => {
    // Two slots; each call takes one for as long as it runs. The stopping replica's second call is registered
    // (it holds a slot) while it waits out minTime; stopping drops it before it starts. A long minTime, so that a
    // loaded machine still stops it well before its start.
    const minTime = 1000;
    const info = providerInfo({ name: 'volcengine', limits: { maxConcurrent: 2, minTimeMs: minTime } });
    const region = freshRegion();
    const stopping = replica();
    const other = replica({ budgetPeriodMs: 1000 });
    let firstRan = false;
    let secondRan = false;
    await stopping.schedule(info, region, 1, async () => {
      firstRan = true;
    });
    const dropped = stopping
      .schedule(info, region, 1, async () => {
        secondRan = true;
      })
      .catch((err: unknown) => err);
    await sleep(minTime / 10);
    await stopping.stop();
    expect(await dropped).toBeInstanceOf(LimiterPoolStoppedError);
    expect([firstRan, secondRan]).toEqual([true, false]);

    // Both slots are the other replica's: two calls that hold theirs until released are in flight together.
    // They start minTime apart, after the minTime the dropped call had booked; without the release the second would
    // wait for the dropped call's expiration (ten minutes).
    let inFlight = 0;
    let release = (): void => undefined;
    const held = new Promise<void>((resolve) => (release = resolve));
    const calls = [1, 2].map(() =>
      other.schedule(info, region, 1, async () => {
        inFlight += 1;
        await held;
      }),
    );
    await until(() => inFlight === 2, 'both calls of the other replica to be in flight', 10 * minTime);
    release();
    await Promise.all(calls);
  });
});

describe('a replica killed in the middle of a call', () => {
  it("has its call slot freed by the survivors' sweep once bottleneck counts it gone, instead of after the call's ten-minute expiration", async () => {
    const info = providerInfo({ name: 'huawei', limits: { maxConcurrent: 1, minTimeMs: 0 } });
    const region = freshRegion();
    const survivor = replica();
    // The dying replica, as bottleneck sees it: a client of the same limiter id holding the only slot, then gone
    // without freeing it (its heartbeat stops, as under kill -9).
    const url = new URL(TEST_REDIS_URL);
    const dying = new Bottleneck({
      id: `${prefix}:huawei:default:${region}:calls`,
      datastore: 'ioredis',
      clientOptions: { host: url.hostname, port: Number(url.port || 6379) },
      clearDatastore: false,
      maxConcurrent: 1,
      minTime: 0,
      clientTimeout: 5000,
      heartbeatInterval: 1000,
    });
    let holding = false;
    void dying.schedule({ expiration: 10 * 60_000 }, () => {
      holding = true;
      return new Promise<void>(() => undefined);
    }).catch(() => undefined);
    await until(() => holding, 'the dying replica to hold the slot');
    await dying.disconnect(false);

    let ran = false;
    const call = survivor.schedule(info, region, 1, async () => {
      ran = true;
    });
    // Until bottleneck's clientTimeout has passed, the slot is not the survivor's to free.
    expect(await survivor.releaseGoneClients()).toBe(0);
    await sleep(5500);
    expect(ran).toBe(false);
    expect(await survivor.releaseGoneClients()).toBe(1);
    await call;
    expect(ran).toBe(true);
  }, 20_000);
});
