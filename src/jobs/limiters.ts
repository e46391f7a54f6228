/**
 * Per provider, account and region rate limiting with bottleneck: each account of a cloud has its own API quota
 * (e.g. ECS flow control is per account and region: https://www.alibabacloud.com/help/en/ecs/developer-reference/api-throttling). Bottleneck counts a job's weight against
 * both maxConcurrent and the reservoir, so the per-minute instance budget (weighted by batch size)
 * lives in a second limiter with no concurrency bound; the first one bounds calls in flight.
 *
 * With REBOOT_REDIS_URL every limiter is clustered in Redis (bottleneck's Clustering mode,
 * https://github.com/SGrondin/bottleneck#clustering): one state per provider, account and region, whatever the
 * number of replicas, so two replicas together keep one minTime, one maxConcurrent and one instance
 * budget. While Redis does not answer, calls wait (src/redis/client.ts); a scheduling that Redis refuses
 * before the call started is tried again, never run unlimited, so an outage can neither send a reboot
 * twice nor fail one.
 */
import Bottleneck from 'bottleneck';
import { DEFAULT_ACCOUNT } from '../domain/job.js';
import { Redis } from 'ioredis';
import { errorMessage } from '../errors.js';
import type { Logger } from '../log.js';
import type { ProviderInfo, ProviderName, RateLimits } from '../providers/provider.js';
import { watchRedis } from '../redis/client.js';
import type { HealthBoard } from '../health.js';

/** Bottleneck runs lower numbers first; jobs scheduled without a priority get 5. */
const READ_PRIORITY = 1;

/** Where a call goes: a region of the default account, or of a named one (src/policy/accounts.ts). */
export type LimitScope = string | { account: string; region: string };

function scopeKey(info: ProviderInfo, scope: LimitScope): string {
  return typeof scope === 'string' ? `${info.name}:${DEFAULT_ACCOUNT}:${scope}` : `${info.name}:${scope.account}:${scope.region}`;
}

/**
 * A clustered call that has not freed its slot after this long is counted as finished by every replica:
 * without it a replica dying mid-call would hold one of maxConcurrent for ever (bottleneck's README,
 * "Important considerations when Clustering", recommends an expiration on every job). The call itself is
 * not cut short: its own answer still reaches the caller.
 */
const CALL_EXPIRATION_MS = 10 * 60_000;

/** How often a clustered limiter checks Redis for capacity freed elsewhere (e.g. a refilled budget). */
const HEARTBEAT_MS = 1000;

/** A clustered limiter's keys leave Redis after this long unused (bottleneck's `timeout`), at least two budget periods. */
const KEY_TTL_MS = 30 * 60_000;

/**
 * bottleneck's clientTimeout (https://github.com/SGrondin/bottleneck#clustering; its default is 10 s): a client whose
 * heartbeat (at most every HEARTBEAT_MS) has been silent this long is unresponsive. Until then a stopped or killed
 * replica that had calls queued keeps the capacity offered to it first, so the survivors wait this long at most.
 * Five heartbeats: a live replica is not dropped for one slow beat (if it is, LimiterSlot renews its registration).
 */
const CLIENT_TIMEOUT_MS = 5_000;

/**
 * KEYS: a clustered limiter's job_expirations, job_clients and client_last_seen (bottleneck 2.19's key layout,
 * lib/Scripts.js). ARGV: the last-seen time before which a client is gone, and optionally a client of this process
 * that is leaving, which is marked gone first (its last-seen set to 0, as bottleneck's blacklist_client.lua does).
 * Every job of a gone client is made due to expire now; bottleneck's own next tick (src/redis/process_tick.lua,
 * "Process 'running' changes") then frees its slot as it frees any expired job, and offers the capacity to clients
 * that are not gone. Returns how many jobs were made due.
 */
const EXPIRE_GONE_CLIENTS_JOBS = `
if ARGV[2] and redis.call('zscore', KEYS[3], ARGV[2]) then
  redis.call('zadd', KEYS[3], 0, ARGV[2])
end
local gone = {}
local any = false
for _, client in ipairs(redis.call('zrangebyscore', KEYS[3], '-inf', ARGV[1])) do
  gone[client] = true
  any = true
end
if not any then return 0 end
local made = 0
local jobs = redis.call('hgetall', KEYS[2])
for i = 1, #jobs, 2 do
  if gone[jobs[i + 1]] and redis.call('zscore', KEYS[1], jobs[i]) then
    redis.call('zadd', KEYS[1], 0, jobs[i])
    made = made + 1
  end
end
return made
`;

/** How long a clean stop waits for its limiters to free the slots of calls that finished (Redis may not answer). */
const STOP_FREE_WAIT_MS = 2000;

/** Pause before handing a call to the limiter again after Redis refused to schedule it: doubles up to the last. */
const RESCHEDULE_MS = [250, 500, 1000, 2000, 5000, 10_000] as const;

/** Limits kept in Redis, shared with every replica using the same Redis and prefix. */
export interface SharedLimits {
  /** A client of REBOOT_REDIS_URL (src/redis/client.ts); the pool works on copies of it and closes only those. */
  redis: Redis;
  /** Start of every limiter's id: `<prefix>:<provider>:<account>:<region>:calls` and `…:instances`. */
  prefix: string;
  log?: Logger;
  health?: HealthBoard;
}

/** A call still waiting for its turn when the pool was stopped: it never ran. */
export class LimiterPoolStoppedError extends Error {
  constructor() {
    super('the limiter pool was stopped before this call could start');
  }
}

/**
 * One limiter of a provider and region. Clustered, it can be renewed: bottleneck 2.19 does not recognise the
 * errors Redis 7 returns for state it has lost (a restarted Redis, keys expired, a client dropped after an
 * outage longer than its clientTimeout): they come prefixed "ERR " and the limiter stays broken
 * (https://github.com/SGrondin/bottleneck/issues/205, https://github.com/SGrondin/bottleneck/issues/212).
 * A new limiter of the same id sets the state up again; the old one's waiting calls are dropped and handed
 * to the new one (runShared).
 */
class LimiterSlot {
  constructor(
    public current: Bottleneck,
    private readonly create: () => Bottleneck,
  ) {}

  renew(stale: Bottleneck): void {
    if (this.current !== stale) return;
    // First off the pool's connection (its heartbeat and its subscription to the id's channel), so that the new
    // limiter's subscription to the same channel comes after; then its waiting jobs are dropped, to be handed over.
    // (With a shared connection bottleneck 2.19 returns nothing here, whatever its typings say.)
    void Promise.resolve(stale.disconnect(false)).catch(() => undefined);
    this.current = this.create();
    stale.stop({ dropWaitingJobs: true }).catch(() => undefined);
  }
}

interface RegionLimiters {
  calls: LimiterSlot;
  instances?: LimiterSlot;
}

/** Redis' answer when a limiter's state or client registration is gone (see LimiterSlot). */
const LOST_STATE = /SETTINGS_KEY_NOT_FOUND|UNKNOWN_CLIENT/;

export class LimiterPool {
  private readonly limiters = new Map<string, RegionLimiters>();
  /** Clustered mode only: the pool's own Redis connection, shared by all its limiters. */
  private readonly connection: Bottleneck.IORedisConnection | undefined;
  /** Clustered mode only: that connection's client, and the ids of the limiters created on it. */
  private readonly client: Redis | undefined;
  private readonly clusteredIds = new Set<string>();
  /** Clustered mode only: calls not yet started, to be refused when the pool stops. */
  private readonly waiting = new Set<(err: Error) => void>();
  private stopped = false;
  private lastErrorLogged = 0;

  constructor(
    private readonly overrides: Partial<Record<ProviderName, Partial<RateLimits>>> = {},
    /** The instance budget's refill period; the clouds count per minute, tests shorten it. */
    private readonly budgetPeriodMs = 60_000,
    /** Absent: every limiter lives in this process only. */
    private readonly shared?: SharedLimits,
  ) {
    if (shared) {
      const client = shared.redis.duplicate();
      this.client = client;
      watchRedis(client, { purpose: 'provider limits', ...(shared.log ? { log: shared.log } : {}), ...(shared.health ? { health: shared.health } : {}) });
      this.connection = new Bottleneck.IORedisConnection({ client, Redis });
      this.connection.on('error', (err) => this.limiterError(err));
    }
  }

  /** Runs `task` once both the call limit and the instance budget allow `instances` more. */
  schedule<T>(info: ProviderInfo, scope: LimitScope, instances: number, task: () => Promise<T>): Promise<T> {
    const { calls, instances: budget } = this.limitersFor(info, scope);
    const limited = (): Promise<T> => this.run(calls, this.callOptions({}), task);
    if (!budget) return limited();
    // The runner plans batches within the budget (batchSizeFor); a batch planned before the budget
    // was lowered still waits for a full refill instead of never running.
    const perPeriod = this.limitsFor(info).instancesPerMinute ?? instances;
    return this.run(budget, { weight: Math.min(instances, perPeriod) }, limited);
  }

  /**
   * A read call (pre-flight, dry run, verification) under the same call limit as the reboots of that provider and
   * region: the clouds count every API call of an account. Reads go ahead of queued reboots: behind the rest of a
   * large job (a thousand one-instance Baidu calls queue for 100 s) a verification read would come long after the
   * reboot it should see. They are few (one per read batch and round), so reboots are delayed, never starved.
   * Reads reboot nothing, so they take nothing from the instance budget.
   */
  scheduleRead<T>(info: ProviderInfo, scope: LimitScope, task: () => Promise<T>): Promise<T> {
    return this.run(this.limitersFor(info, scope).calls, this.callOptions({ priority: READ_PRIORITY }), task);
  }

  /** A call's job options: clustered, with the expiration that frees a dead replica's slot. */
  private callOptions(options: Bottleneck.JobOptions): Bottleneck.JobOptions {
    return this.shared ? { ...options, expiration: CALL_EXPIRATION_MS } : options;
  }

  private run<T>(slot: LimiterSlot, options: Bottleneck.JobOptions, task: () => Promise<T>): Promise<T> {
    return this.shared ? this.runShared(slot, options, task) : slot.current.schedule(options, task);
  }

  /**
   * A clustered job, answered by the task itself once it started: neither a job expiration nor a Redis failure
   * while freeing the slot afterwards can lose a provider's answer. Before the start, a scheduling Redis refused
   * (bottleneck rejects the job, e.g. on an error reply) is handed over again after a pause: the call waits, it is
   * neither run without the limit nor failed. Only stopping the pool refuses it (LimiterPoolStoppedError).
   */
  private runShared<T>(slot: LimiterSlot, options: Bottleneck.JobOptions, task: () => Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      if (this.stopped) return reject(new LimiterPoolStoppedError());
      let started = false;
      let refusals = 0;
      const abandon = (err: Error): void => reject(err);
      this.waiting.add(abandon);
      const start = (): Promise<T> => {
        if (this.stopped) return Promise.reject(new LimiterPoolStoppedError());
        started = true;
        this.waiting.delete(abandon);
        const answer = task();
        answer.then(resolve, reject);
        return answer;
      };
      const submit = (): void => {
        const limiter = slot.current;
        limiter.schedule(options, start).catch((err: unknown) => {
          if (started) return;
          if (this.stopped) return reject(new LimiterPoolStoppedError());
          if (LOST_STATE.test(errorMessage(err))) slot.renew(limiter);
          const pause = RESCHEDULE_MS[Math.min(refusals, RESCHEDULE_MS.length - 1)] ?? 10_000;
          refusals += 1;
          this.shared?.log?.warn('shared limiter could not schedule a call; it waits and is handed over again', { error: errorMessage(err), refusals, pauseMs: pause });
          setTimeout(submit, pause);
        });
      };
      submit();
    });
  }

  /** Errors bottleneck reports outside any one job (a heartbeat, a capacity message): logged, at most every 30 s. */
  private limiterError(err: unknown, slot?: LimiterSlot, limiter?: Bottleneck): void {
    if (slot && limiter) {
      if (slot.current !== limiter) return;
      if (LOST_STATE.test(errorMessage(err))) slot.renew(limiter);
    }
    if (Date.now() - this.lastErrorLogged < 30_000) return;
    this.lastErrorLogged = Date.now();
    this.shared?.log?.warn('shared limiter error; calls wait until Redis answers', { error: errorMessage(err) });
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
        calls: this.slot(`${key}:calls`, { maxConcurrent: limits.maxConcurrent, minTime: limits.minTimeMs }),
        ...(limits.instancesPerMinute
          ? {
              instances: this.slot(`${key}:instances`, {
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

  /**
   * A local limiter, or with Redis a clustered one under a stable id. Bottleneck keeps the settings of the first
   * limiter of an id that reaches Redis and never clears them here (`clearDatastore: false`, or a starting replica
   * would reset the running count and the budget of the others); changed limits apply once the keys have expired,
   * KEY_TTL_MS after the last call (README, "Shared limits (Redis)").
   */
  private slot(name: string, settings: Bottleneck.ConstructorOptions): LimiterSlot {
    const slot: LimiterSlot = new LimiterSlot(this.limiter(name, settings, () => slot), () => this.limiter(name, settings, () => slot));
    return slot;
  }

  private limiter(name: string, settings: Bottleneck.ConstructorOptions, slotOf: () => LimiterSlot): Bottleneck {
    if (!this.shared || !this.connection) return new Bottleneck(settings);
    const clustered: Bottleneck.ConstructorOptions & { heartbeatInterval: number } = {
      ...settings,
      id: `${this.shared.prefix}:${name}`,
      datastore: 'ioredis',
      connection: this.connection,
      clearDatastore: false,
      timeout: Math.max(KEY_TTL_MS, 2 * this.budgetPeriodMs),
      clientTimeout: CLIENT_TIMEOUT_MS,
      // A refilled budget is only noticed on a heartbeat (bottleneck's process_tick): a short period needs short beats.
      heartbeatInterval: Math.max(20, Math.min(HEARTBEAT_MS, Math.floor(this.budgetPeriodMs / 10))),
    };
    this.clusteredIds.add(clustered.id ?? name);
    const limiter = new Bottleneck(clustered);
    limiter.on('error', (err) => this.limiterError(err, slotOf(), limiter));
    return limiter;
  }

  /**
   * Frees, across replicas, the call slots of a replica that died mid-call (kill -9): bottleneck frees a running job
   * of a vanished client only when the job expires (CALL_EXPIRATION_MS, ten minutes), which would hold a Huawei region
   * (one call at a time) for that long after a takeover. A client silent past bottleneck's own clientTimeout is gone:
   * its jobs are made to expire now. The rare client that is alive but cut off from Redis that long loses its slot
   * early: at worst one call more than maxConcurrent at once, never a call sent twice. Called by every replica sweep
   * (src/replicas/coordinator.ts); returns how many slots were freed.
   */
  async releaseGoneClients(): Promise<number> {
    const client = this.client;
    if (!client || this.stopped) return 0;
    let freed = 0;
    for (const id of this.clusteredIds) freed += await expireGoneJobs(client, id);
    return freed;
  }

  /**
   * What a stopped clustered limiter still holds in Redis: bottleneck's stop with dropWaitingJobs drops the jobs it
   * had registered but not yet started (waiting out minTime) without freeing their slots, so the other replicas would
   * wait for this client's timeout, or the call expiration where nobody sweeps. Its client counts as gone at once.
   */
  private async releaseClientJobs(limiter: Bottleneck): Promise<number> {
    const clientId = redisClientId(limiter);
    if (!this.client || clientId === undefined) return 0;
    return expireGoneJobs(this.client, limiter.channel().slice('b_'.length), clientId);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    const all = [...this.limiters.values()].flatMap((e) => (e.instances ? [e.calls.current, e.instances.current] : [e.calls.current]));
    if (!this.connection) {
      await Promise.all(all.map((l) => l.disconnect()));
      return;
    }
    for (const abandon of this.waiting) abandon(new LimiterPoolStoppedError());
    this.waiting.clear();
    // Queued calls are dropped, and calls that finished free their slots in Redis before the connection goes: a slot
    // left taken would hold the other replicas back until it expired. Once a limiter has stopped, none of its calls
    // runs any more, so what it still holds in Redis is only what bottleneck dropped without freeing: let go too.
    // Bounded: Redis may not answer.
    const release = (l: Bottleneck): Promise<unknown> => l.stop({ dropWaitingJobs: true }).then(() => this.releaseClientJobs(l));
    await Promise.race([Promise.all(all.map((l) => release(l).catch(() => undefined))), delay(STOP_FREE_WAIT_MS)]);
    // At once, not after a QUIT Redis may never answer; slots of calls cut short here expire (CALL_EXPIRATION_MS).
    await this.connection.disconnect(false);
    await Promise.all(all.map((l) => l.disconnect(false)));
  }
}

/**
 * A clustered limiter's client id in Redis, which its typings do not expose: bottleneck 2.19 names the client's own
 * channel `b_<id>_<clientId>` (lib/Bottleneck.js, channel_client). Undefined where that is not so.
 */
function redisClientId(limiter: Bottleneck): string | undefined {
  const channelClient: unknown = Reflect.get(limiter, 'channel_client');
  if (typeof channelClient !== 'function') return undefined;
  const name: unknown = channelClient.call(limiter);
  const prefix = `${limiter.channel()}_`;
  return typeof name === 'string' && name.startsWith(prefix) && name.length > prefix.length ? name.slice(prefix.length) : undefined;
}

/** EXPIRE_GONE_CLIENTS_JOBS on the limiter `id`'s keys; `leaving`: a client of this process to count as gone now. */
async function expireGoneJobs(client: Redis, id: string, leaving?: string): Promise<number> {
  const keys = [`b_${id}_job_expirations`, `b_${id}_job_clients`, `b_${id}_client_last_seen`];
  const args = [Date.now() - CLIENT_TIMEOUT_MS, ...(leaving === undefined ? [] : [leaving])];
  return Number(await client.eval(EXPIRE_GONE_CLIENTS_JOBS, keys.length, ...keys, ...args));
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}
