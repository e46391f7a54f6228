/**
 * Active-active replicas (REBOOT_DATABASE_URL and REBOOT_REDIS_URL both set): every process serves Slack, and the
 * work that outlives a request belongs to one replica at a time through the store's registry
 * (src/store/contract.ts ReplicaRegistry, src/store/pg-replicas.ts):
 *
 * - each replica renews its heartbeat every timeout/6; a replica silent for the timeout, or a process on this host
 *   that is gone (kill -9), is removed by whichever replica notices first;
 * - a removed replica's runs and pre-flights are then claimed (FOR UPDATE SKIP LOCKED) and recovered exactly as a
 *   restart recovers them (Runner.resume: a batch caught mid-send is resent only where the cloud has an idempotency
 *   token, otherwise it is `unknown` with what a read can add), and its Slack writes in flight go back to the queue;
 * - a replica that finds itself removed (it was paused, or cut off from the database, for longer than the timeout)
 *   stops at once: its jobs have new owners, and the store already fences its claims of batches (PgStore.markBatchSending).
 *
 * A job's limits and Slack's per-channel pacing are shared through Redis (src/jobs/limiters.ts,
 * src/slack/redis-channel-pacer.ts), which is why active-active needs both URLs.
 */
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { errorMessage } from '../errors.js';
import type { HealthBoard } from '../health.js';
import type { Logger } from '../log.js';
import type { LeaseHolder, OrphanWork, ReplicaRegistry } from '../store/contract.js';
import { DatabaseInUseError, isHolderAlive, isProcessAlive } from '../store/lease.js';
import type { PgStore } from '../store/pg-store.js';

/** Orphans claimed per statement: a dead replica's thousand jobs are taken over in a few round trips, not one huge one. */
const CLAIM_BATCH = 50;

export interface CoordinatorDeps {
  /** REBOOT_REPLICA_TIMEOUT: a replica silent this long is dead. */
  timeoutMs: number;
  log: Logger;
  health: HealthBoard;
  /** Work taken over from a dead replica (or left unowned), to run here. */
  takeOver(work: OrphanWork): Promise<void>;
  /** A dead replica's Slack writes in flight went back to the queue. */
  outboxRequeued(): void;
  /** A dead replica's hold on Slack channels (src/slack/redis-channel-pacer.ts) is let go. */
  releaseHolds?(replica: LeaseHolder): Promise<void>;
  /**
   * Frees the shared provider-limit slots of replicas gone mid-call (LimiterPool.releaseGoneClients): asked every
   * sweep, as the limiter notices a silent client later than the registry does.
   */
  freeGoneSlots?(): Promise<number>;
  /** This replica was found dead by another: the process must stop at once. */
  onLost(): void;
}

/** A fresh replica identity for this process start. */
export function newReplica(): LeaseHolder {
  return { id: randomUUID(), pid: process.pid, host: hostname() };
}

/**
 * Registers a new replica of this process, or throws naming the bot without shared limits that holds the database
 * (a single writer: src/store/lease.ts), which must stop first: it would recover the replicas' jobs as its own.
 */
export async function joinReplicas(store: PgStore, database: string, writerStaleMs: number, now: number): Promise<ReplicaRegistry> {
  const joined = await store.joinReplicas(newReplica(), now, writerStaleMs, isHolderAlive);
  if (joined.kind === 'joined') return joined.registry;
  const { holder } = joined;
  throw new DatabaseInUseError(
    `database ${database} is in use by pid ${holder.pid} on ${holder.host}, a bot without REBOOT_REDIS_URL (one process per database); ` +
      'stop it, or give every process the same REBOOT_DATABASE_URL and REBOOT_REDIS_URL to run them all as replicas',
  );
}

/** Replicas registered by this very process (several only where tests run several bots in one process). */
const replicasHere = new Set<string>();

/**
 * A replica on another host is judged by its heartbeat alone. On this host, one whose process is gone is dead at
 * once; one with this process's own pid is alive only if this process registered it: a container restarts its
 * process with the same pid (https://man7.org/linux/man-pages/man7/pid_namespaces.7.html), so an earlier
 * run's row would otherwise look alive.
 */
export function isReplicaAlive(replica: LeaseHolder, here: string = hostname()): boolean {
  if (replica.host !== here) return true;
  return replica.pid === process.pid ? replicasHere.has(replica.id) : isProcessAlive(replica.pid);
}

export class ReplicaCoordinator {
  private timer: NodeJS.Timeout | undefined;
  /** The heartbeat and the takeover round run apart: a long takeover (hundreds of jobs) must not let the heartbeat lapse. */
  private renewing: Promise<void> | undefined;
  private sweeping: Promise<void> | undefined;
  /** The Redis chores run apart again: a Redis outage makes them wait (src/redis/client.ts), never the database work. */
  private chores: Promise<void> | undefined;
  /** Dead replicas whose Slack channel holds are still to be let go. */
  private readonly holdsToRelease: LeaseHolder[] = [];
  private lost = false;
  /** Shutting down: the heartbeat goes on (in-flight calls are still being answered), nothing new is taken over. */
  private claiming = true;

  constructor(
    private readonly registry: ReplicaRegistry,
    private readonly deps: CoordinatorDeps,
  ) {
    replicasHere.add(registry.me.id);
  }

  get me(): LeaseHolder {
    return this.registry.me;
  }

  /** The first takeover round (what a restart's recovery was), then a heartbeat and a round every timeout/6. */
  async start(): Promise<void> {
    const round = (): Promise<void> => (this.sweeping ??= this.sweep().finally(() => (this.sweeping = undefined)));
    // The heartbeat beats from the start: the first round may take long when a dead replica left many jobs.
    this.timer = setInterval(() => {
      this.renewing ??= this.renew().finally(() => (this.renewing = undefined));
      void round();
    }, Math.max(100, Math.floor(this.deps.timeoutMs / 6)));
    this.timer.unref();
    await round();
  }

  /** From a shutdown's first moment: keeps renewing, takes nothing over. */
  stopClaiming(): void {
    this.claiming = false;
  }

  /** Stops the heartbeat and the rounds; leave() then hands this replica's work to the others. */
  async stop(): Promise<void> {
    clearInterval(this.timer);
    await Promise.all([this.renewing, this.sweeping]);
  }

  async leave(): Promise<void> {
    await this.stop();
    replicasHere.delete(this.registry.me.id);
    if (!this.lost) await this.registry.leave();
  }

  /** The heartbeat. Never throws. */
  async renew(): Promise<void> {
    if (this.lost) return;
    const { log, health } = this.deps;
    try {
      if (await this.registry.renew()) return health.clear('replica heartbeat');
      this.lost = true;
      health.set('replica heartbeat', 'another replica found this one silent and took over its jobs; this process must stop', true);
      log.error('this replica was declared dead by another and its jobs taken over; stopping');
      this.deps.onLost();
    } catch (err) {
      // The database may be down: nobody can take this replica's work meanwhile, and its claims are fenced there.
      health.set('replica heartbeat', `replica heartbeat failed: ${errorMessage(err)}`, true);
      log.error('replica heartbeat failed', { error: errorMessage(err) });
    }
  }

  /** One takeover round: remove the dead, claim what they left, requeue their Slack writes. Never throws. */
  async sweep(): Promise<void> {
    if (this.lost || !this.claiming) return;
    const { log, health } = this.deps;
    try {
      const dead = await this.registry.reap(this.deps.timeoutMs, (r) => isReplicaAlive(r));
      for (const replica of dead) log.warn('replica gone; taking over its work', { replica: replica.id, pid: replica.pid, host: replica.host });
      for (let claimed = CLAIM_BATCH; claimed >= CLAIM_BATCH && this.claiming; ) {
        const orphans = await this.registry.claimOrphans(CLAIM_BATCH);
        claimed = orphans.length;
        for (const work of orphans) {
          log.info(work.kind === 'run' ? 'took over a job run' : "took over a request's pre-flight", { jobId: work.jobId });
          await this.deps.takeOver(work);
        }
      }
      if ((await this.registry.requeueOrphanOutbox()) > 0) this.deps.outboxRequeued();
      health.clear('replica takeover');
      this.holdsToRelease.push(...dead);
      this.chores ??= this.redisChores().finally(() => (this.chores = undefined));
    } catch (err) {
      health.set('replica takeover', `taking over dead replicas' work failed: ${errorMessage(err)}`, false);
      log.error("taking over dead replicas' work failed", { error: errorMessage(err) });
    }
  }

  /** Lets go of dead replicas' Slack channels and frees their provider-limit slots. Never throws. */
  private async redisChores(): Promise<void> {
    const { log } = this.deps;
    try {
      for (let replica = this.holdsToRelease.shift(); replica; replica = this.holdsToRelease.shift()) await this.deps.releaseHolds?.(replica);
      const freed = (await this.deps.freeGoneSlots?.()) ?? 0;
      if (freed > 0) log.warn('freed provider-limit slots of a replica gone mid-call', { slots: freed });
    } catch (err) {
      log.warn("releasing dead replicas' shared limits failed; they expire by themselves", { error: errorMessage(err) });
    }
  }
}
