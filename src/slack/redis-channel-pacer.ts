/**
 * The Slack write schedule of LocalChannelPacer (src/slack/channel-pacer.ts), kept in Redis so that every
 * replica's outbox follows one schedule: one channel gap, one pause per channel or method, one sliding-minute
 * budget per tiered method for the whole workspace (https://api.slack.com/apis/rate-limits).
 *
 * Each step is one Lua script, which Redis runs atomically (https://redis.io/docs/latest/develop/interact/programmability/eval-intro/):
 * tryStart checks the channel's gap, its pause, the method's pause and budget, and reserves in the same step,
 * so two replicas can never both take the last unit of a budget or both start a write to one channel. Unlike
 * one process, where the outbox sends one write per channel at a time (Outbox.inFlight), replicas do not see
 * each other's writes in flight: a grant also holds the channel until Slack answered (`answered`), the write
 * was given up (`released`), or HOLD_MS passed (a replica that died mid-write).
 *
 * Redis down: every command waits for it (src/redis/client.ts), so the outbox waits; it never writes unpaced.
 */
import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import { z } from 'zod';
import { WINDOW_MS, type ChannelPacer, type PacerLimits, type SlackMethod, type Slot } from './channel-pacer.js';

/** Longest a granted write holds its channel without an answer: past the WebClient's 15 s timeout of each of an upload's three calls (src/slack/outbox.ts). */
const HOLD_MS = 60_000;

/** Keys naming a time stay this much longer than that time, then go by themselves. */
const KEY_MARGIN_MS = 60_000;

/**
 * KEYS: method pause, method window, channel next, channel hold (the last two absent without a channel).
 * ARGV: now, budget (-1: none), window, member, hold ms (0: do not hold), margin, look only (1: reserve nothing).
 * Returns 0 when granted (and reserved), else the time to ask again; looking only, when a call could start.
 */
const TRY_START = `
local now = tonumber(ARGV[1])
local budget = tonumber(ARGV[2])
local window = tonumber(ARGV[3])
local at = now
local paused = tonumber(redis.call('GET', KEYS[1]) or '0')
if paused > at then at = paused end
if budget >= 0 then
  redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now - window)
  local count = redis.call('ZCARD', KEYS[2])
  if count >= budget then
    local leaves = now + window
    if budget > 0 then
      local oldest = redis.call('ZRANGE', KEYS[2], count - budget, count - budget, 'WITHSCORES')
      leaves = tonumber(oldest[2]) + window
    end
    if leaves > at then at = leaves end
  end
end
if #KEYS == 4 then
  local nextAt = tonumber(redis.call('GET', KEYS[3]) or '0')
  if nextAt > at then at = nextAt end
  local held = redis.call('PTTL', KEYS[4])
  if held > 0 and now + math.min(held, 1000) > at then at = now + math.min(held, 1000) end
end
if ARGV[7] == '1' or at > now then return at end
if budget >= 0 then
  redis.call('ZADD', KEYS[2], now, ARGV[4])
  redis.call('PEXPIRE', KEYS[2], window + tonumber(ARGV[6]))
end
if #KEYS == 4 and tonumber(ARGV[5]) > 0 then
  redis.call('SET', KEYS[4], ARGV[4], 'PX', tonumber(ARGV[5]))
end
return 0
`;

/** KEYS: a time key, then optionally a hold to let go. ARGV: the time, now, margin. Moves the time later, never earlier. */
const PUSH_LATER = `
local value = tonumber(ARGV[1])
local current = tonumber(redis.call('GET', KEYS[1]) or '0')
if current > value then value = current end
redis.call('SET', KEYS[1], value, 'PX', math.max(1, value - tonumber(ARGV[2]) + tonumber(ARGV[3])))
if #KEYS == 2 then redis.call('DEL', KEYS[2]) end
return value
`;

/** KEYS: a hold. ARGV: the owner's id. Deletes the hold only if that owner's grant holds it. */
const RELEASE_IF_OWNER = `
local member = redis.call('GET', KEYS[1])
if member and string.match(member, '^[^:]*:([^:]*):') == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`;

const Millis = z.coerce.number().int();

export class RedisChannelPacer implements ChannelPacer {
  private counter = 0;

  constructor(
    private readonly redis: Redis,
    private readonly limits: PacerLimits,
    /** Start of every key (`<prefix>:slack:…`); replicas sharing a workspace use the same. */
    private readonly prefix: string,
    /**
     * Makes each reservation's member unique across replicas and names whose grant holds a channel: the replica's
     * id (src/replicas/coordinator.ts), so its holds can be let go when it dies. No colons.
     */
    private readonly clientId: string = randomBytes(6).toString('hex'),
  ) {
    if (clientId.includes(':')) throw new Error('a pacer client id has no colons');
  }

  async tryStart(method: SlackMethod, channel: string | undefined, now: number): Promise<Slot> {
    const member = `${now}:${this.clientId}:${(this.counter += 1)}`;
    const keys = [this.key('paused', method), this.key('recent', method), ...(channel === undefined ? [] : [this.key('next', channel), this.key('hold', channel)])];
    const args = [now, this.budget(method), WINDOW_MS, member, channel === undefined ? 0 : HOLD_MS, KEY_MARGIN_MS, 0];
    const retryAt = Millis.parse(await this.redis.eval(TRY_START, keys.length, ...keys, ...args));
    return retryAt === 0 ? { granted: true } : { granted: false, retryAt };
  }

  async methodOpenAt(method: SlackMethod, now: number): Promise<number> {
    const keys = [this.key('paused', method), this.key('recent', method)];
    return Millis.parse(await this.redis.eval(TRY_START, keys.length, ...keys, now, this.budget(method), WINDOW_MS, '', 0, KEY_MARGIN_MS, 1));
  }

  async answered(channel: string, now: number): Promise<void> {
    await this.redis.eval(PUSH_LATER, 2, this.key('next', channel), this.key('hold', channel), now + this.limits.channelIntervalMs, now, KEY_MARGIN_MS);
  }

  async released(channel: string): Promise<void> {
    await this.redis.del(this.key('hold', channel));
  }

  /**
   * A replica died holding channels (a write granted, never answered): its holds go now instead of after HOLD_MS, so
   * the survivors write to those channels again at once. The write itself, if Slack got it, shows twice at worst.
   */
  async releaseHoldsOf(clientId: string): Promise<number> {
    let released = 0;
    const stream = this.redis.scanStream({ match: `${this.prefix}:slack:hold:*`, count: 200 });
    for await (const keys of stream as AsyncIterable<string[]>) {
      for (const key of keys) released += Number(await this.redis.eval(RELEASE_IF_OWNER, 1, key, clientId));
    }
    return released;
  }

  async rateLimited(method: SlackMethod, channel: string | undefined, retryAfterMs: number, now: number): Promise<void> {
    const key = method === 'chat.postMessage' && channel !== undefined ? this.key('next', channel) : this.key('paused', method);
    await this.redis.eval(PUSH_LATER, 1, key, now + retryAfterMs, now, KEY_MARGIN_MS);
  }

  private budget(method: SlackMethod): number {
    return this.limits.perMinute[method] ?? -1;
  }

  private key(kind: 'paused' | 'recent' | 'next' | 'hold', name: string): string {
    return `${this.prefix}:slack:${kind}:${name}`;
  }
}
