/**
 * ReplicaCoordinator (src/replicas/coordinator.ts) on a real PostgreSQL registry: its heartbeat holds while a
 * takeover is slow and while Redis does not answer, so a live replica is never mistaken for a dead one; and a
 * replica removed by another stops.
 */
import { hostname } from 'node:os';
import { beforeEach, describe, expect, it } from 'vitest';
import { HealthBoard } from '../../src/health.js';
import { silentLogger } from '../../src/log.js';
import { ReplicaCoordinator } from '../../src/replicas/coordinator.js';
import type { LeaseHolder, OrphanWork, ReplicaRegistry } from '../../src/store/contract.js';
import type { PgStore } from '../../src/store/pg-store.js';
import { job } from '../store/contract.js';
import { freshSchema, openStore, requirePostgres } from './pg.js';

beforeEach(requirePostgres);

const TIMEOUT_MS = 600;
/** A pid no process has: Linux pids stay below 2^22 (https://man7.org/linux/man-pages/man5/proc.5.html, pid_max). */
const DEAD_PID = 2 ** 22 + 9;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function join(store: PgStore, holder: LeaseHolder): Promise<ReplicaRegistry> {
  const joined = await store.joinReplicas(holder, Date.now(), 30_000, () => true);
  if (joined.kind !== 'joined') throw new Error('refused');
  return joined.registry;
}

describe('the replica coordinator', () => {
  it('keeps its heartbeat while a takeover takes several timeouts and Redis hangs: the others never find it silent', async () => {
    const { schema, drop } = await freshSchema();
    const [a, other, ghostStore] = await Promise.all([openStore(schema), openStore(schema), openStore(schema)]);
    try {
      // A dead replica on this host left an approved job behind.
      const ghost = await join(ghostStore, { id: 'r-ghost', pid: DEAD_PID, host: hostname() });
      await ghostStore.createJob(job({ id: 'r-leftover', expiresAt: 1e12 }), '/reboot');
      await ghostStore.approve('r-leftover', 'U0APPROVER', 2000);
      expect(await ghost.claimRun('r-leftover')).toBe(true);

      const health = new HealthBoard();
      const taken: OrphanWork[] = [];
      let takeoverDone = false;
      const coordinator = new ReplicaCoordinator(await join(a, { id: 'r-slow', pid: process.pid, host: 'slow.example' }), {
        timeoutMs: TIMEOUT_MS,
        log: silentLogger,
        health,
        takeOver: async (work) => {
          taken.push(work);
          await sleep(3 * TIMEOUT_MS);
          takeoverDone = true;
        },
        outboxRequeued: () => undefined,
        // Redis does not answer.
        freeGoneSlots: () => new Promise<number>(() => undefined),
        onLost: () => {
          throw new Error('the coordinator thinks it was found dead');
        },
      });
      const watcher = await join(other, { id: 'r-watcher', pid: process.pid, host: 'watcher.example' });
      const starting = coordinator.start();
      const reapedWhileSlow: string[] = [];
      const deadline = Date.now() + 4 * TIMEOUT_MS;
      while (Date.now() < deadline) {
        reapedWhileSlow.push(...(await watcher.reap(TIMEOUT_MS, () => true)).map((r) => r.id));
        await sleep(50);
      }
      await starting;
      expect(taken).toEqual([{ kind: 'run', jobId: 'r-leftover', state: 'approved' }]);
      expect(takeoverDone).toBe(true);
      expect(reapedWhileSlow).toEqual([]);
      expect(health.report().ok).toBe(true);
      await coordinator.leave();
    } finally {
      await Promise.all([a.close(), other.close(), ghostStore.close()]);
      await drop();
    }
  });

  it('a replica removed by another learns it at its next heartbeat and is told to stop', async () => {
    const { schema, drop } = await freshSchema();
    const [a, b] = await Promise.all([openStore(schema), openStore(schema)]);
    try {
      let lost = 0;
      const health = new HealthBoard();
      const coordinator = new ReplicaCoordinator(await join(a, { id: 'r-paused', pid: process.pid, host: 'paused.example' }), {
        timeoutMs: TIMEOUT_MS,
        log: silentLogger,
        health,
        takeOver: async () => undefined,
        outboxRequeued: () => undefined,
        onLost: () => {
          lost += 1;
        },
      });
      await coordinator.start();
      const other = await join(b, { id: 'r-other', pid: process.pid, host: 'other.example' });
      // As if it had been silent (a paused VM): the other replica removes it.
      expect((await other.reap(TIMEOUT_MS, (r) => r.id !== 'r-paused')).map((r) => r.id)).toEqual(['r-paused']);
      const deadline = Date.now() + 2 * TIMEOUT_MS;
      while (lost === 0 && Date.now() < deadline) await sleep(20);
      expect(lost).toBe(1);
      expect(health.report().ok).toBe(false);
      await coordinator.leave();
    } finally {
      await Promise.all([a.close(), b.close()]);
      await drop();
    }
  });
});
