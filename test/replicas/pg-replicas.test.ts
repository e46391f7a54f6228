/**
 * The replica registry of PgStore (src/store/pg-replicas.ts) against a real PostgreSQL: heartbeats, removing dead
 * replicas, claiming what they left with SKIP LOCKED, the fences on batch and run claims, and the outbox rows of a
 * dead sender. Each PgStore stands for one replica process.
 */
import { hostname } from 'node:os';
import { beforeEach, describe, expect, it } from 'vitest';
import type { OutboxWrite } from '../../src/domain/outbox-message.js';
import { isReplicaAlive } from '../../src/replicas/coordinator.js';
import type { LeaseHolder, ReplicaRegistry } from '../../src/store/contract.js';
import type { PgStore } from '../../src/store/pg-store.js';
import { job } from '../store/contract.js';
import { freshSchema, openStore, requirePostgres } from './pg.js';

beforeEach(requirePostgres);

const HERE = hostname();
/** A pid no process has: Linux pids stay below 2^22 (https://man7.org/linux/man-pages/man5/proc.5.html, pid_max). */
const DEAD_PID = 2 ** 22 + 7;
const replica = (id: string, over: Partial<LeaseHolder> = {}): LeaseHolder => ({ id, pid: process.pid, host: HERE, ...over });

async function withStores(n: number, body: (stores: PgStore[]) => Promise<void>): Promise<void> {
  const { schema, drop } = await freshSchema();
  const stores = await Promise.all(Array.from({ length: n }, () => openStore(schema)));
  try {
    await body(stores);
  } finally {
    await Promise.all(stores.map((s) => s.close()));
    await drop();
  }
}

/** Registers `holder` as a replica on `store`; fails the test when it is refused. */
async function join(store: PgStore, holder: LeaseHolder): Promise<ReplicaRegistry> {
  const joined = await store.joinReplicas(holder, Date.now(), 30_000, () => true);
  if (joined.kind !== 'joined') throw new Error(`refused: held by ${joined.holder.id}`);
  return joined.registry;
}

/** A job stored and approved through `store`, so its run may start. */
async function approvedJob(store: PgStore, id: string, createdAt = 1000): Promise<void> {
  await store.createJob(job({ id, createdAt, expiresAt: createdAt + 1e9 }), `/reboot ${id}`);
  expect((await store.approve(id, 'U0APPROVER', createdAt + 1)).kind).toBe('approved');
}

describe('the replica registry on PostgreSQL', () => {
  it('a replica on this host whose process is gone is removed at once; one elsewhere only once its heartbeat is older than the timeout', async () => {
    await withStores(3, async ([a, ghost, far]) => {
      if (!a || !ghost || !far) throw new Error('stores');
      const me = await join(a, replica('r-me'));
      await join(ghost, replica('r-ghost', { pid: DEAD_PID }));
      const farAway = await join(far, replica('r-far', { host: 'elsewhere.example' }));
      // The test's predicate is the coordinator's own: a dead pid here is gone, another host is judged by its heartbeat.
      const judge = (r: LeaseHolder): boolean => isReplicaAlive(r, HERE);
      expect((await me.reap(60_000, judge)).map((r) => r.id)).toEqual(['r-ghost']);
      expect(await me.reap(300, judge)).toEqual([]);
      await new Promise((r) => setTimeout(r, 450));
      expect(await me.renew()).toBe(true);
      expect((await me.reap(300, judge)).map((r) => r.id)).toEqual(['r-far']);
      // The removed replica learns it at its next renewal, and must stop.
      expect(await farAway.renew()).toBe(false);
      expect(await me.renew()).toBe(true);
    });
  });

  it("a replica that renews in time is never removed, and a row with this process's pid that this process did not register is dead", async () => {
    await withStores(2, async ([a, b]) => {
      if (!a || !b) throw new Error('stores');
      const me = await join(a, replica('r-me2'));
      const other = await join(b, replica('r-other', { host: 'elsewhere.example' }));
      for (let i = 0; i < 4; i++) {
        await new Promise((r) => setTimeout(r, 120));
        expect(await other.renew()).toBe(true);
        expect(await me.reap(300, (r) => isReplicaAlive(r, HERE))).toEqual([]);
      }
      // An earlier run of a container restarted with the same pid: not registered by this process, so not alive.
      expect(isReplicaAlive(replica('r-earlier-run'), HERE)).toBe(false);
    });
  });

  it('two replicas claiming the orphans of a dead one at the same moment share them out: each job gets exactly one new owner', async () => {
    await withStores(3, async ([dying, a, b]) => {
      if (!dying || !a || !b) throw new Error('stores');
      const dead = await join(dying, replica('r-dead', { pid: DEAD_PID }));
      const ids = Array.from({ length: 60 }, (_, i) => `r-orph${String(i).padStart(5, 'a')}`.slice(0, 12));
      for (const [i, id] of ids.entries()) {
        await approvedJob(dying, id, 1000 + i);
        expect(await dead.claimRun(id)).toBe(true);
      }
      const ra = await join(a, replica('r-a', { host: 'a.example' }));
      const rb = await join(b, replica('r-b', { host: 'b.example' }));
      // While the owner is registered, its runs are not orphans.
      expect(await ra.claimOrphans(100)).toEqual([]);
      expect(await ra.claimRun(ids[0] ?? '')).toBe(false);
      expect((await ra.reap(60_000, (r) => isReplicaAlive(r, HERE))).map((r) => r.id)).toEqual(['r-dead']);
      const claimedA: string[] = [];
      const claimedB: string[] = [];
      // Small batches, so both are claiming while the other is.
      const drain = async (r: typeof ra, into: string[]): Promise<void> => {
        for (;;) {
          const got = await r.claimOrphans(7);
          if (got.length === 0) return;
          into.push(...got.map((w) => w.jobId));
        }
      };
      await Promise.all([drain(ra, claimedA), drain(rb, claimedB)]);
      expect(claimedA.length).toBeGreaterThan(0);
      expect(claimedB.length).toBeGreaterThan(0);
      expect([...claimedA, ...claimedB].sort()).toEqual([...ids].sort());
      expect(new Set([...claimedA, ...claimedB]).size).toBe(ids.length);
    });
  });

  it('a replica that lost a run can neither start it nor claim one of its batches; the new owner can', async () => {
    await withStores(2, async ([a, b]) => {
      if (!a || !b) throw new Error('stores');
      const ra = await join(a, replica('r-first'));
      const rb = await join(b, replica('r-second', { host: 'elsewhere.example' }));
      await approvedJob(a, 'r-fencedjob');
      expect(await ra.claimRun('r-fencedjob')).toBe(true);
      expect(await rb.claimRun('r-fencedjob')).toBe(false);
      // The second replica is not the owner: its start is refused, the owner's goes through.
      expect(await b.startRun('r-fencedjob', [{ ids: ['i-1'], wave: 0 }, { ids: ['i-2'], wave: 0 }], 2000)).toBe(false);
      expect(await a.startRun('r-fencedjob', [{ ids: ['i-1'], wave: 0 }, { ids: ['i-2'], wave: 0 }], 2000)).toBe(true);
      expect(await b.markBatchSending('r-fencedjob', 0, 2001)).toBe(false);
      expect(await a.markBatchSending('r-fencedjob', 0, 2001)).toBe(true);
      // The first is found silent and removed; the second takes the run over, and from then on only it may send.
      expect((await rb.reap(60_000, () => false)).map((r) => r.id)).toEqual(['r-first']);
      expect(await rb.claimOrphans(10)).toEqual([{ kind: 'run', jobId: 'r-fencedjob', state: 'running' }]);
      expect(await a.markBatchSending('r-fencedjob', 1, 2002)).toBe(false);
      expect(await b.markBatchSending('r-fencedjob', 1, 2002)).toBe(true);
      expect(await ra.renew()).toBe(false);
    });
  });

  it("a pending request's pre-flight belongs to the replica that stored it, and passes to another when that one dies", async () => {
    await withStores(2, async ([a, b]) => {
      if (!a || !b) throw new Error('stores');
      const ra = await join(a, replica('r-reader', { pid: DEAD_PID }));
      const rb = await join(b, replica('r-heir'));
      await a.createJob(job({ id: 'r-preflight', expiresAt: 1e12 }), '/reboot');
      expect(await ra.claimPreflight('r-preflight')).toBe(true);
      expect(await rb.claimPreflight('r-preflight')).toBe(false);
      expect(await rb.claimOrphans(10)).toEqual([]);
      await rb.reap(60_000, (r) => isReplicaAlive(r, HERE));
      expect(await rb.claimOrphans(10)).toEqual([{ kind: 'preflight', jobId: 'r-preflight' }]);
      // Once read, it is nobody's work any more.
      await b.recordPreflight('r-preflight', { readings: [], errors: [], done: true }, 3000);
      expect(await rb.claimPreflight('r-preflight')).toBe(false);
    });
  });

  it("only a dead replica's outbox rows in flight go back to the queue; a live one's stay with it", async () => {
    await withStores(3, async ([a, b, c]) => {
      if (!a || !b || !c) throw new Error('stores');
      const ra = await join(a, replica('r-live', { host: 'elsewhere.example' }));
      await join(b, replica('r-gone', { pid: DEAD_PID }));
      const rc = await join(c, replica('r-sweeper'));
      const note = (channel: string): OutboxWrite => ({ channel, jobId: null, message: { kind: 'thread_lines', lines: ['x'] } });
      await a.enqueue([note('C0AAA'), note('C0BBB')]);
      const [first, second] = (await a.outboxHeads()).sort((x, y) => x.id - y.id);
      if (!first || !second) throw new Error('rows');
      expect(await a.claimOutbox(first.id)).toBe(true);
      expect(await b.claimOutbox(second.id)).toBe(true);
      expect(await rc.requeueOrphanOutbox()).toBe(0);
      await rc.reap(60_000, (r) => isReplicaAlive(r, HERE));
      expect(await rc.requeueOrphanOutbox()).toBe(1);
      const waiting = await c.outboxHeads();
      expect(waiting.map((r) => r.id)).toEqual([second.id]);
      // A replica starting up requeues its own and dead replicas' rows, never a live one's.
      expect(await c.requeueInterruptedOutbox()).toBe(0);
      expect(await ra.renew()).toBe(true);
    });
  });

  it("an approval makes its replica the run's owner in the same commit: another replica's sweep never finds the job unowned", async () => {
    await withStores(2, async ([a, b]) => {
      if (!a || !b) throw new Error('stores');
      const ra = await join(a, replica('r-approver', { host: 'elsewhere.example' }));
      const rb = await join(b, replica('r-sweeper', { host: 'elsewhere.example' }));
      // Approved at a, whose runner has not claimed the run yet (it waits for its turn): b's sweep leaves it alone.
      await approvedJob(a, 'r-approved');
      expect(await rb.claimOrphans(10)).toEqual([]);
      expect(await rb.claimRun('r-approved')).toBe(false);
      expect(await ra.claimRun('r-approved')).toBe(true);
      // A dry run is approved as it is stored: it is the storing replica's run from the start.
      await a.createJob(job({ id: 'r-dryrun', dryRun: true, approvalsNeeded: 0, createdAt: 1000, expiresAt: 1e9 }), '/reboot r-dryrun --dry-run');
      expect((await a.getJob('r-dryrun'))?.state).toBe('approved');
      expect(await rb.claimOrphans(10)).toEqual([]);
      expect(await ra.claimRun('r-dryrun')).toBe(true);
    });
  });

  it("a clean leave hands the replica's runs to the others at once, without waiting for the timeout", async () => {
    await withStores(2, async ([a, b]) => {
      if (!a || !b) throw new Error('stores');
      const ra = await join(a, replica('r-leaving', { host: 'elsewhere.example' }));
      const rb = await join(b, replica('r-staying', { host: 'elsewhere.example' }));
      await approvedJob(a, 'r-handover');
      expect(await ra.claimRun('r-handover')).toBe(true);
      expect(await rb.claimOrphans(10)).toEqual([]);
      await ra.leave();
      expect(await rb.claimOrphans(10)).toEqual([{ kind: 'run', jobId: 'r-handover', state: 'approved' }]);
    });
  });

  it('replicas and a single writer (a bot without Redis) never share a database: whichever came first keeps it', async () => {
    await withStores(2, async ([a, b]) => {
      if (!a || !b) throw new Error('stores');
      const writer = replica('w-writer', { host: 'elsewhere.example' });
      expect(await a.acquireLease(writer, Date.now(), 30_000, () => true)).toEqual({ kind: 'acquired' });
      const refused = await b.joinReplicas(replica('r-late', { host: 'elsewhere.example' }), Date.now(), 30_000, () => true);
      expect(refused).toMatchObject({ kind: 'held', holder: { id: 'w-writer' } });
      await a.releaseLease('w-writer');
      await join(b, replica('r-first', { host: 'elsewhere.example' }));
      // With a replica registered and alive, a single writer is held off as by another writer.
      expect(await a.acquireLease(replica('w-late', { host: 'elsewhere.example' }), Date.now(), 30_000, () => true)).toMatchObject({ kind: 'held', holder: { id: 'r-first' } });
    });
  });
});
