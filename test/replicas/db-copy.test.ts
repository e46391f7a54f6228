/**
 * `npm run db:copy` (src/store/copy.ts): a SQLite database built through the real SqliteStore, copied into a
 * fresh PostgreSQL schema, then read back through the Store contract on a PgStore.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { OutboxWrite } from '../../src/domain/outbox-message.js';
import { HealthBoard } from '../../src/health.js';
import { silentLogger } from '../../src/log.js';
import type { Store } from '../../src/store/contract.js';
import { copySqliteToPostgres, CopyRefusedError } from '../../src/store/copy.js';
import { takeLease } from '../../src/store/lease.js';
import { SqliteStore } from '../../src/store/sqlite-store.js';
import { job } from '../store/contract.js';
import { admin, freshSchema, openStore, requirePostgres, TEST_DATABASE_URL } from './pg.js';

beforeEach(requirePostgres);

const DONE = 'r-done000001';
const WAITING = 'r-wait000001';
const [X, Y] = job().ids as [string, string];

let dir: string;
let schema: { schema: string; drop(): Promise<void> } | undefined;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'reboot-copy-'));
});
afterEach(async () => {
  await schema?.drop();
  schema = undefined;
  rmSync(dir, { recursive: true, force: true });
});

const lines = (jobId: string, l: string[]): OutboxWrite => ({ channel: 'C0OPS', jobId, message: { kind: 'thread_lines', lines: l }, mergeUpTo: 1 });
const card = (jobId: string): OutboxWrite => ({ channel: 'C0OPS', jobId, message: { kind: 'update_card' }, coalesceKey: `card:${jobId}` });

/** A completed job (force, pre-flight, two outcomes, delivered and waiting outbox rows) and a pending one with one of two approvals. */
async function buildSqlite(path: string): Promise<SqliteStore> {
  const s = new SqliteStore(path);
  s.createJob(job({ id: DONE, force: true, account: 'prod', approvers: { users: ['U1'], groups: ['S0G'] } }), 'alibaba cn-hangzhou …', 'trigger-1');
  const reading = { id: X, found: true as const, name: 'web-1', phase: 'running' as const, rawStatus: 'Running', rebooting: false };
  s.recordPreflight(DONE, { readings: [reading, { id: Y, found: false }], errors: [], done: true }, 1500);
  s.approve(DONE, 'U1', 2000);
  s.startRun(DONE, [{ wave: 0, ids: [X, Y] }], 2001);
  s.markBatchSending(DONE, 0, 2002);
  s.recordOutcomes(DONE, 0, [{ id: X, status: 'succeeded' }, { id: Y, status: 'failed', code: 'InvalidInstance.NotFound', message: 'not found' }], { state: 'done' }, 2003);
  s.completeRun(DONE, 2004);
  s.enqueue([card(DONE), lines(DONE, ['sent'])]);
  const [first] = s.outboxHeads();
  if (!first || !s.claimOutbox(first.id)) throw new Error('no outbox row to deliver');
  s.finishOutbox(first.id, 'done');
  s.createJob(job({ id: WAITING, verify: false, approvalsNeeded: 2, rolling: 1, createdAt: 2500 }), 'alibaba cn-hangzhou …');
  s.approve(WAITING, 'U2', 3000);
  s.enqueue([card(WAITING)]);
  return s;
}

/** What the Store contract shows of both jobs. */
async function snapshot(s: Store): Promise<unknown> {
  const of = async (id: string) => ({
    job: await s.getJob(id),
    approvals: await s.approvals(id),
    batches: await s.batches(id),
    outcomes: await s.outcomes(id),
    tally: await s.tally(id),
    preflight: await s.preflight(id),
    audit: await s.auditTrail(id),
  });
  return { done: await of(DONE), waiting: await of(WAITING), heads: await s.outboxHeads(), pending: await s.outboxPendingCount() };
}

async function countRows(name: string): Promise<number[]> {
  const tables = ['jobs', 'approvals', 'batches', 'outcomes', 'instance_state', 'audit', 'outbox'];
  const { rows } = await admin(tables.map((t) => `SELECT count(*)::int AS n FROM ${name}.${t}`).join(' UNION ALL '));
  return rows.map((r: { n: number }) => r.n);
}

describe('db:copy, SQLite to PostgreSQL', () => {
  it('copies every job with its approvals, outcomes, readings, audit and outbox; PgStore reads them as SqliteStore did and carries on after them', async () => {
    const path = join(dir, 'reboot-bot.db');
    const sqlite = await buildSqlite(path);
    const before = await snapshot(sqlite);
    const maxOutboxId = Math.max(...sqlite.outboxHeads().map((r) => r.id));
    sqlite.close();

    schema = await freshSchema();
    const counts = await copySqliteToPostgres({ from: path, to: TEST_DATABASE_URL, schema: schema.schema });
    expect(counts).toEqual([
      { table: 'jobs', rows: 2 },
      { table: 'approvals', rows: 2 },
      { table: 'batches', rows: 1 },
      { table: 'outcomes', rows: 2 },
      { table: 'instance_state', rows: 2 },
      { table: 'audit', rows: expect.any(Number) as number },
      { table: 'outbox', rows: 3 },
    ]);

    const pgStore = await openStore(schema.schema);
    try {
      expect(await snapshot(pgStore)).toEqual(before);
      expect(await pgStore.getJob(DONE)).toMatchObject({ force: true, verify: true, state: 'completed', account: 'prod' });
      expect(await pgStore.recentJobs({ channel: 'C0OPS' }, 5)).toEqual([
        expect.objectContaining({ id: WAITING, instances: 2 }),
        expect.objectContaining({ id: DONE, instances: 2 }),
      ]);
      // The identity sequences were moved past the copied ids: the next rows follow them.
      await pgStore.enqueue([lines(WAITING, ['after the move'])]);
      const { rows } = await admin(`SELECT max(id)::int AS id FROM ${schema.schema}.outbox`);
      expect((rows[0] as { id: number }).id).toBeGreaterThan(maxOutboxId);
      const trailBefore = (await pgStore.auditTrail(WAITING)).length;
      expect((await pgStore.approve(WAITING, 'U3', 4000)).kind).toBe('approved');
      const trail = await pgStore.auditTrail(WAITING);
      expect(trail.length).toBeGreaterThan(trailBefore);
      expect(trail.at(-1)).toMatchObject({ actor: 'U3' });
      expect((await pgStore.approvals(WAITING)).map((a) => a.userId)).toEqual(['U2', 'U3']);
    } finally {
      await pgStore.close();
    }
  });

  it('a second copy into the same database is refused, and changes nothing', async () => {
    const path = join(dir, 'reboot-bot.db');
    (await buildSqlite(path)).close();
    schema = await freshSchema();
    await copySqliteToPostgres({ from: path, to: TEST_DATABASE_URL, schema: schema.schema });
    const rowsAfterFirst = await countRows(schema.schema);

    const second = copySqliteToPostgres({ from: path, to: TEST_DATABASE_URL, schema: schema.schema });
    await expect(second).rejects.toThrow(CopyRefusedError);
    await expect(second).rejects.toThrow(/already has rows \(jobs: 2,.*Nothing was changed/);
    expect(await countRows(schema.schema)).toEqual(rowsAfterFirst);
  });

  it('refuses while a bot holds the SQLite file: stop the bot first', async () => {
    const path = join(dir, 'reboot-bot.db');
    const running = await buildSqlite(path);
    const lease = await takeLease(running, path, { heartbeatMs: 60_000, staleMs: 30_000 }, { health: new HealthBoard(), log: silentLogger, now: Date.now });
    schema = await freshSchema();
    try {
      await expect(copySqliteToPostgres({ from: path, to: TEST_DATABASE_URL, schema: schema.schema })).rejects.toThrow(/in use by pid .*Stop the bot first/);
      // Refused before the target was touched: not even its schema was created.
      const { rows } = await admin(`SELECT count(*)::int AS n FROM information_schema.tables WHERE table_schema = '${schema.schema}'`);
      expect(rows).toEqual([{ n: 0 }]);
    } finally {
      await lease.release();
      running.close();
    }
  });

  it('refuses a file that is not there rather than creating one', async () => {
    schema = await freshSchema();
    await expect(copySqliteToPostgres({ from: join(dir, 'missing.db'), to: TEST_DATABASE_URL, schema: schema.schema })).rejects.toThrow(/no SQLite database at/);
  });
});
