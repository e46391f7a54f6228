/**
 * RedisChannelPacer: the ChannelPacer contract (test/slack/channel-pacer-suite.ts), then what only a shared
 * schedule does: two replicas (two pacers, each on its own Redis connection) never start writes to one
 * channel within its gap, and share a method's budget. Each pacer of the contract suite gets a fresh prefix.
 */
import type { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { openRedis } from '../../src/redis/client.js';
import { LocalChannelPacer, type ChannelPacer, type PacerLimits } from '../../src/slack/channel-pacer.js';
import { RedisChannelPacer } from '../../src/slack/redis-channel-pacer.js';
import { channelPacerSuite } from '../slack/channel-pacer-suite.js';
import { connectTestRedis, deleteKeys, freePort, sleep, TEST_REDIS_URL, uniquePrefix } from './redis.js';

// At load: a Redis that does not answer fails the whole file with the reason (no test is counted as skipped).
const admin: Redis = await connectTestRedis();
const prefix = uniquePrefix();
const clients: Redis[] = [];
let pacers = 0;

afterAll(async () => {
  for (const client of clients.splice(0)) client.disconnect(false);
  await deleteKeys(admin, prefix);
  admin.disconnect(false);
});

/** One replica's pacer, on its own connection; `shared` names a schedule several replicas use. */
function replicaPacer(limits: PacerLimits, shared: string, url = TEST_REDIS_URL, clientId?: string): RedisChannelPacer {
  const client = openRedis(url, { purpose: 'test' });
  clients.push(client);
  return new RedisChannelPacer(client, limits, `${prefix}:${shared}`, clientId);
}

channelPacerSuite('RedisChannelPacer', (limits) => replicaPacer(limits, `suite-${(pacers += 1)}`));

/**
 * Two replicas' outboxes writing to one channel as fast as their pacers let them, each write taking `sendMs`:
 * every write's start and answer, in the order they started.
 */
async function race(a: ChannelPacer, b: ChannelPacer, durationMs: number, sendMs: number): Promise<Array<{ replica: string; start: number; answered: number }>> {
  const writes: Array<{ replica: string; start: number; answered: number }> = [];
  const end = Date.now() + durationMs;
  const outbox = async (replica: string, pacer: ChannelPacer): Promise<void> => {
    while (Date.now() < end) {
      const slot = await pacer.tryStart('chat.postMessage', 'CRACE', Date.now());
      if (!slot.granted) {
        await sleep(Math.max(1, Math.min(slot.retryAt - Date.now(), 20)));
        continue;
      }
      const start = Date.now();
      await sleep(sendMs);
      const answered = Date.now();
      await pacer.answered('CRACE', answered);
      writes.push({ replica, start, answered });
    }
  };
  await Promise.all([outbox('a', a), outbox('b', b)]);
  return writes.sort((x, y) => x.start - y.start);
}

/** Writes that started before the previous one's gap (its answer plus the interval) was over. */
function tooSoon(writes: ReadonlyArray<{ start: number; answered: number }>, intervalMs: number): number {
  return writes.filter((w, i) => i > 0 && w.start < writes[i - 1]!.answered + intervalMs).length;
}

describe('RedisChannelPacer shared by two replicas', () => {
  const limits: PacerLimits = { channelIntervalMs: 100, perMinute: { 'chat.update': 5 } };

  it('two replicas never start writes to one channel within its gap, nor two at once', async () => {
    const writes = await race(replicaPacer(limits, 'race'), replicaPacer(limits, 'race'), 1500, 30);
    expect(writes.length).toBeGreaterThanOrEqual(5);
    expect(tooSoon(writes, limits.channelIntervalMs)).toBe(0);
  });

  it('control: two unshared pacers (one per process) do start writes within the gap, and the check above sees it', async () => {
    const writes = await race(new LocalChannelPacer(limits), new LocalChannelPacer(limits), 600, 30);
    expect(tooSoon(writes, limits.channelIntervalMs)).toBeGreaterThan(0);
  });

  it("a tiered method's budget is one for both: taken concurrently from two replicas, exactly the budget is granted", async () => {
    const a = replicaPacer(limits, 'budget');
    const b = replicaPacer(limits, 'budget');
    const now = Date.now();
    const slots = await Promise.all(Array.from({ length: 20 }, (_, i) => (i % 2 === 0 ? a : b).tryStart('chat.update', `C${i}`, now)));
    expect(slots.filter((s) => s.granted)).toHaveLength(5);
    expect(await a.methodOpenAt('chat.update', now)).toBeGreaterThan(now);
    expect(await b.methodOpenAt('chat.update', now)).toBeGreaterThan(now);
  });

  it('a 429 seen by one replica pauses the channel for the other', async () => {
    const a = replicaPacer(limits, 'pause');
    const b = replicaPacer(limits, 'pause');
    const now = Date.now();
    await a.tryStart('chat.postMessage', 'C1', now);
    await a.answered('C1', now);
    await a.rateLimited('chat.postMessage', 'C1', 30_000, now);
    expect(await b.tryStart('chat.postMessage', 'C1', now + 1000)).toEqual({ granted: false, retryAt: now + 30_000 });
  });

  it('a write granted and never answered (its replica died) holds the channel for at most a while, not for ever', async () => {
    const a = replicaPacer(limits, 'hold');
    const b = replicaPacer(limits, 'hold');
    expect(await a.tryStart('chat.postMessage', 'C1', Date.now())).toEqual({ granted: true });
    const refused = await b.tryStart('chat.postMessage', 'C1', Date.now());
    expect(refused.granted).toBe(false);
    const held = await admin.pttl(`${prefix}:hold:slack:hold:C1`);
    expect(held).toBeGreaterThan(0);
    expect(held).toBeLessThanOrEqual(60_000);
  });

  it('Redis not answering: the outbox is not granted anything (it waits), never paced by nobody', async () => {
    const pacer = replicaPacer(limits, 'down', `redis://127.0.0.1:${await freePort()}`);
    let settled = false;
    // Closing the connection at the end of the file refuses it then.
    pacer.tryStart('chat.postMessage', 'C1', Date.now()).then(
      () => (settled = true),
      () => undefined,
    );
    await sleep(1000);
    expect(settled).toBe(false);
  });
});

describe('a replica that died holding a channel', () => {
  it("has its holds let go by a survivor at once, and only its own: another live replica's hold stays", async () => {
    const limits: PacerLimits = { channelIntervalMs: 50, perMinute: {} };
    const dead = replicaPacer(limits, 'holds', TEST_REDIS_URL, 'replica-dead');
    const live = replicaPacer(limits, 'holds', TEST_REDIS_URL, 'replica-live');
    const survivor = replicaPacer(limits, 'holds', TEST_REDIS_URL, 'replica-survivor');
    const now = Date.now();
    expect((await dead.tryStart('chat.postMessage', 'CDEAD', now)).granted).toBe(true);
    expect((await live.tryStart('chat.postMessage', 'CLIVE', now)).granted).toBe(true);
    // Granted and never answered: both channels are held (for a minute, were nobody to let go).
    expect((await survivor.tryStart('chat.postMessage', 'CDEAD', now + 1)).granted).toBe(false);
    expect((await survivor.tryStart('chat.postMessage', 'CLIVE', now + 1)).granted).toBe(false);
    expect(await survivor.releaseHoldsOf('replica-dead')).toBe(1);
    expect((await survivor.tryStart('chat.postMessage', 'CDEAD', now + 2)).granted).toBe(true);
    expect((await survivor.tryStart('chat.postMessage', 'CLIVE', now + 2)).granted).toBe(false);
  });
});
