/**
 * The single-writer lease: one bot process per database. On start-up the process takes it (or
 * learns who holds it); while running it renews a heartbeat, and hears when another process took
 * over, in which case it must stop at once: two writers would report each other's in-flight
 * batches as unknown.
 */
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { errorMessage } from '../errors.js';
import type { HealthBoard } from '../health.js';
import type { Logger } from '../log.js';
import type { LeaseHolder, Store } from './contract.js';

export class DatabaseInUseError extends Error {}

export interface LeaseTiming {
  heartbeatMs: number;
  /** A holder silent this long may be taken over. */
  staleMs: number;
}

export interface HeldLease {
  holder: LeaseHolder;
  /** Stops renewing and gives the lease up. */
  release(): Promise<void>;
}

export interface LeaseWatch {
  health: HealthBoard;
  log: Logger;
  now: () => number;
  onLost?: () => void;
}

/** Takes the lease or throws a message naming the database and the process that holds it. */
export async function takeLease(store: Store, dbPath: string, timing: LeaseTiming, watch: LeaseWatch): Promise<HeldLease> {
  const me: LeaseHolder = { id: randomUUID(), pid: process.pid, host: hostname() };
  const result = await store.acquireLease(me, watch.now(), timing.staleMs, isHolderAlive);
  if (result.kind === 'held') {
    const { holder, heartbeatAgeMs } = result;
    throw new DatabaseInUseError(
      `database ${dbPath} is in use by pid ${holder.pid} on ${holder.host} (heartbeat ${Math.round(heartbeatAgeMs / 1000)} s ago); ` +
        `one bot process per database. It is taken over once that heartbeat is ${Math.round(timing.staleMs / 1000)} s old.`,
    );
  }
  const { health, log } = watch;
  const heartbeat = setInterval(() => {
    void (async () => {
      try {
        if (await store.renewLease(me.id, watch.now())) return health.clear('lease');
        health.set('lease', `another process took over ${dbPath}`, true);
        log.error('database lease lost to another process; this process must stop', { db: dbPath });
        watch.onLost?.();
      } catch (err) {
        health.set('lease', `cannot renew the database lease: ${errorMessage(err)}`, true);
        log.error('database lease renewal failed', { error: errorMessage(err) });
      }
    })();
  }, timing.heartbeatMs);
  heartbeat.unref();
  leasesHeldHere += 1;
  let released = false;
  return {
    holder: me,
    async release() {
      clearInterval(heartbeat);
      if (!released) leasesHeldHere -= 1;
      released = true;
      await store.releaseLease(me.id);
    },
  };
}

/**
 * takeLease for a standby replica (a shared PostgreSQL database): while another live process holds the lease this
 * one waits, asking again every heartbeat, and takes over once the holder lets go (a clean stop) or falls silent for
 * `staleMs` (a crash). What the holder left in flight is then recovered as at a restart (Runner.recover). Each new
 * holder is logged once. `shouldStop` ends the wait (a shutdown signal while standing by).
 */
export async function waitForLease(
  store: Store,
  dbPath: string,
  timing: LeaseTiming,
  watch: LeaseWatch,
  shouldStop: () => boolean = () => false,
): Promise<HeldLease> {
  let announced: string | undefined;
  for (;;) {
    try {
      return await takeLease(store, dbPath, timing, watch);
    } catch (err) {
      if (!(err instanceof DatabaseInUseError) || shouldStop()) throw err;
      if (announced !== err.message.split(' (heartbeat')[0]) {
        announced = err.message.split(' (heartbeat')[0];
        watch.log.info('standing by: another replica holds the database; this one takes over when it stops or falls silent', { reason: err.message });
      }
      await new Promise((resolve) => setTimeout(resolve, timing.heartbeatMs));
    }
  }
}

/** Leases this process holds now (more than one only where tests run several bots in one process). */
let leasesHeldHere = 0;

/**
 * A holder with this process's own pid (on this host) is alive only if this process holds a lease:
 * otherwise it is an earlier run that had the same pid. In a container the bot starts with the same
 * pid every time (1, or a small fixed one under an init; PIDs start at 1 in each container,
 * https://man7.org/linux/man-pages/man7/pid_namespaces.7.html), so after a crash and `docker restart`
 * the dead holder would otherwise look alive and keep the bot out until its heartbeat went stale.
 */
export function isHolderAlive(pid: number): boolean {
  return pid === process.pid ? leasesHeldHere > 0 : isProcessAlive(pid);
}

/** Whether a process with this pid exists on this host (signal 0 only checks: https://man7.org/linux/man-pages/man2/kill.2.html). */
export function isProcessAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: it exists but belongs to someone else.
    return (err as { code?: unknown }).code !== 'ESRCH';
  }
}
