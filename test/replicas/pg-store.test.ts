/**
 * The store contract against a real PostgreSQL (test/store/contract.ts), two PgStores standing for two bot
 * processes, each test in a schema of its own; and what only PostgreSQL has: migrations under a lock, and
 * transitions racing from two processes at once.
 */
import { beforeEach, describe, expect, it } from 'vitest';
import type { OutboxWrite } from '../../src/domain/outbox-message.js';
import { HealthBoard } from '../../src/health.js';
import { silentLogger } from '../../src/log.js';
import { DatabaseInUseError, takeLease } from '../../src/store/lease.js';
import { PG_MIGRATIONS } from '../../src/store/pg-migrations.js';
import type { PgStore } from '../../src/store/pg-store.js';
import { describeStoreContract, job } from '../store/contract.js';
import { admin, freshSchema, openStore, requirePostgres } from './pg.js';

// Each test fails, naming the server, when PostgreSQL does not answer.
beforeEach(requirePostgres);

describeStoreContract('PostgreSQL', async () => {
  const { schema, drop } = await freshSchema();
  const a = await openStore(schema);
  const b = await openStore(schema);
  return {
    a,
    b,
    async close() {
      await a.close();
      await b.close();
      await drop();
    },
  };
});

/** Two processes on one fresh schema, for the test in `body`. */
async function withTwo(body: (a: PgStore, b: PgStore, schema: string) => Promise<void>): Promise<void> {
  const { schema, drop } = await freshSchema();
  const [a, b] = await Promise.all([openStore(schema), openStore(schema)]);
  try {
    await body(a, b, schema);
  } finally {
    await a.close();
    await b.close();
    await drop();
  }
}

describe('PostgreSQL store specifics', () => {
  it('two processes opening a fresh database at once migrate it once, under the lock', async () => {
    await withTwo(async (a, b, schema) => {
      expect([a.migrationsApplied, b.migrationsApplied].sort()).toEqual([0, PG_MIGRATIONS.length]);
      const versions = await admin(`SELECT version FROM ${schema}.schema_migrations ORDER BY version`);
      expect(versions.rows.map((r: { version: number }) => r.version)).toEqual(PG_MIGRATIONS.map((_, i) => i + 1));
      const again = await openStore(schema);
      expect(again.migrationsApplied).toBe(0);
      await again.close();
    });
  });

  it('the single-writer lease holds across two processes on one database: the second is refused until the first lets go', async () => {
    await withTwo(async (a, b) => {
      const watch = { health: new HealthBoard(), log: silentLogger, now: Date.now };
      const timing = { heartbeatMs: 60_000, staleMs: 30_000 };
      const first = await takeLease(a, 'postgres://db/test', timing, watch);
      await expect(takeLease(b, 'postgres://db/test', timing, watch)).rejects.toThrow(DatabaseInUseError);
      await first.release();
      const second = await takeLease(b, 'postgres://db/test', timing, watch);
      expect(await a.renewLease(first.holder.id, Date.now())).toBe(false);
      await second.release();
    });
  });

  it('approvals racing from two processes: exactly one click moves the job to approved', async () => {
    await withTwo(async (a, b) => {
      await a.createJob(job({ approvalsNeeded: 2 }), '…');
      const users = Array.from({ length: 12 }, (_, i) => `U${i}`);
      const results = await Promise.all(users.map((u, i) => (i % 2 === 0 ? a : b).approve('r-aaaaaaaaaa', u, 2000 + i)));
      expect(results.filter((r) => r.kind === 'approved')).toHaveLength(1);
      expect(results.filter((r) => r.kind === 'recorded')).toHaveLength(1);
      expect(results.filter((r) => r.kind === 'not-pending')).toHaveLength(10);
      expect(await a.approvals('r-aaaaaaaaaa')).toHaveLength(2);
    });
  });

  it('two processes expiring the same requests at once: each expires once, with one card update', async () => {
    await withTwo(async (a, b, schema) => {
      const ids = Array.from({ length: 5 }, (_, i) => `r-expire000${i}`);
      for (const id of ids) await a.createJob(job({ id, createdAt: 1000, expiresAt: 2000 }), '…');
      const cardUpdate = (j: { id: string; channel: string }): OutboxWrite[] => [{ channel: j.channel, jobId: j.id, message: { kind: 'update_card' } }];
      const [byA, byB] = await Promise.all([a.expireDue(5000, cardUpdate), b.expireDue(5000, cardUpdate)]);
      expect([...byA, ...byB].map((j) => j.id).sort()).toEqual(ids);
      const rows = await admin(`SELECT job_id FROM ${schema}.outbox WHERE kind = 'update_card' ORDER BY job_id`);
      expect(rows.rows.map((r: { job_id: string }) => r.job_id)).toEqual(ids);
      for (const id of ids) expect((await b.getJob(id))?.state).toBe('expired');
    });
  });

  it('a batch claimed from two processes at once is sent by one; a cancel racing the claims closes only the rest', async () => {
    await withTwo(async (a, b) => {
      const ids = Array.from({ length: 6 }, (_, i) => `i-bp1${String(i).padStart(17, '0')}`);
      await a.createJob(job({ ids }), '…');
      await a.approve('r-aaaaaaaaaa', 'U1', 2000);
      await a.startRun('r-aaaaaaaaaa', ids.map((id, wave) => ({ wave, ids: [id] })), 2001);
      const claims = await Promise.all([0, 1, 2].flatMap((seq) => [a.markBatchSending('r-aaaaaaaaaa', seq, 2002), b.markBatchSending('r-aaaaaaaaaa', seq, 2002)]));
      expect(claims.filter(Boolean)).toHaveLength(3);
      const [cancel, ...late] = await Promise.all([b.cancel('r-aaaaaaaaaa', 'U0REQ', 2003, 'cancelled'), ...[3, 4, 5].map((seq) => a.markBatchSending('r-aaaaaaaaaa', seq, 2003))]);
      const sentLate = late.filter(Boolean).length;
      expect(cancel).toMatchObject({ kind: 'stopping', inFlight: 3 + sentLate });
      expect(cancel?.kind === 'stopping' ? cancel.cancelled.length : -1).toBe(3 - sentLate);
      const batches = await b.batches('r-aaaaaaaaaa');
      expect(batches.filter((x) => x.state === 'sending')).toHaveLength(3 + sentLate);
      expect(batches.filter((x) => x.state === 'done')).toHaveLength(3 - sentLate);
    });
  });

  it('thread lines queued from two processes at once merge without losing or repeating one', async () => {
    await withTwo(async (a, b) => {
      await a.createJob(job(), '…');
      const line = (n: number): OutboxWrite => ({ channel: 'C0OPS', jobId: 'r-aaaaaaaaaa', message: { kind: 'thread_lines', lines: [`line ${n}`] }, mergeUpTo: 5 });
      await Promise.all(Array.from({ length: 40 }, (_, n) => (n % 2 === 0 ? a : b).enqueue([line(n)])));
      const sent: string[] = [];
      for (let heads = await a.outboxHeads(); heads.length > 0; heads = await a.outboxHeads()) {
        for (const row of heads) {
          expect(await b.claimOutbox(row.id)).toBe(true);
          if (row.message.kind === 'thread_lines') sent.push(...row.message.lines);
          await a.finishOutbox(row.id, 'done');
        }
      }
      expect(sent.sort()).toEqual(Array.from({ length: 40 }, (_, n) => `line ${n}`).sort());
    });
  });
});
