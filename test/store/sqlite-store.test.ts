import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { MIGRATIONS } from '../../src/store/migrations.js';
import { SqliteStore } from '../../src/store/sqlite-store.js';
import { describeStoreContract, job } from './contract.js';
import { resetWal, walCommits } from './wal-commits.js';

describeStoreContract('SQLite', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'reboot-store-'));
  // Two connections to one file stand for two bot processes.
  const a = new SqliteStore(join(dir, 'db.sqlite'));
  const b = new SqliteStore(join(dir, 'db.sqlite'));
  return {
    a,
    b,
    async close() {
      a.close();
      b.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
});

describe('SQLite store specifics', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'reboot-store-'));
  });
  afterEach(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it('runs WAL with synchronous NORMAL, and is back on NORMAL after the durable batch-sending commit', () => {
    const store = new SqliteStore(join(dir, 'db.sqlite'));
    expect(store.db.pragma('journal_mode', { simple: true })).toBe('wal');
    expect(store.db.pragma('synchronous', { simple: true })).toBe(1);
    store.createJob(job({ approvalsNeeded: 0 }), 'x');
    store.startRun(job().id, [{ wave: 0, ids: job().ids }], 2000);
    // Observed, not replaced: the sending mark's transaction runs with synchronous = FULL around it.
    const pragmas = vi.spyOn(store.db, 'pragma');
    expect(store.markBatchSending(job().id, 0, 2001)).toBe(true);
    expect(pragmas.mock.calls.map((c) => c[0])).toEqual(['synchronous = FULL', 'synchronous = NORMAL']);
    pragmas.mockRestore();
    expect(store.markBatchSending(job().id, 0, 2002)).toBe(false);
    expect(store.db.pragma('synchronous', { simple: true })).toBe(1);
    store.close();
  });

  it('a database from before the status column gets its outcomes counted after the upgrade', () => {
    const path = join(dir, 'db.sqlite');
    const older = new Database(path);
    for (const [v, sql] of MIGRATIONS.slice(0, 3).entries()) {
      older.exec(sql);
      older.pragma(`user_version = ${v + 1}`);
    }
    older
      .prepare(`INSERT INTO jobs (id, state, provider, region, ids, force, dry_run, requester, channel, approvals_needed, created_at, expires_at) VALUES (?, 'running', 'alibaba', 'cn-hangzhou', ?, 0, 0, 'U0REQ', 'C0OPS', 1, 1000, 10000)`)
      .run('r-older00000', JSON.stringify(['i-1', 'i-2', 'i-3']));
    const insert = older.prepare('INSERT INTO outcomes (job_id, instance_id, outcome, at) VALUES (?, ?, ?, 2000)');
    insert.run('r-older00000', 'i-1', JSON.stringify({ id: 'i-1', status: 'succeeded' }));
    insert.run('r-older00000', 'i-2', JSON.stringify({ id: 'i-2', status: 'failed', code: 'X', message: 'no' }));
    older.close();
    const store = new SqliteStore(path);
    expect(store.tally('r-older00000')).toMatchObject({ total: 3, succeeded: 1, failed: 1, waiting: 1 });
    store.close();
  });

  it('the WAL commit counter the request tests rely on counts each commit, and none for a read', () => {
    const path = join(dir, 'db.sqlite');
    const store = new SqliteStore(path);
    resetWal(store.db);
    expect(walCommits(path)).toBe(0);
    store.createJob(job(), 'x');
    expect(walCommits(path)).toBe(1);
    store.getJob(job().id);
    store.auditTrail(job().id);
    expect(walCommits(path)).toBe(1);
    store.enqueue([{ channel: 'C0OPS', jobId: job().id, message: { kind: 'update_card' } }]);
    store.setCardTs(job().id, '1.2');
    expect(walCommits(path)).toBe(3);
    store.close();
  });

  it('a job pruned and created again under the same id is read with its new ids, not the cached ones', () => {
    const store = new SqliteStore(join(dir, 'db.sqlite'));
    store.createJob(job(), 'x');
    store.deny(job().id, 'U1', 2000);
    expect(store.getJob(job().id)?.ids).toEqual(job().ids);
    expect(store.prune(Date.now(), { jobs: 10, instances: 100, outboxRows: 10 }).jobs).toBe(1);
    store.createJob(job({ ids: ['i-bp1cccccccccccccccccc'] }), 'x');
    expect(store.getJob(job().id)?.ids).toEqual(['i-bp1cccccccccccccccccc']);
    store.close();
  });

  it('a job read again is a fresh copy: changing its ids does not change what the store answers next', () => {
    const store = new SqliteStore(join(dir, 'db.sqlite'));
    store.createJob(job(), 'x');
    const first = store.requireJob(job().id);
    first.ids.push('i-intruder');
    expect(store.getJob(job().id)?.ids).toEqual(job().ids);
    store.close();
  });
});
