import { copyFileSync, existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { HealthBoard } from '../../src/health.js';
import { createLogger } from '../../src/log.js';
import { SqliteStore } from '../../src/store/sqlite-store.js';
import { BACKSTOP_CHECKPOINT_PAGES, CHECKPOINT_PROBLEM, checkpointHealth, WalCheckpointer, type CheckpointReport } from '../../src/store/wal-checkpointer.js';
import { job } from './contract.js';

const PAGE = 4096;

/** The jobs the database file holds by itself: a copy of it alone, without its WAL, read on its own. */
function jobsInDatabaseFile(path: string): number {
  const alone = `${path}.alone`;
  copyFileSync(path, alone);
  try {
    const file = new Database(alone, { readonly: true });
    try {
      return (file.prepare('SELECT count(*) AS n FROM jobs').get() as { n: number }).n;
    } finally {
      file.close();
    }
  } catch {
    // Copied while a checkpoint was writing it, or before the jobs table was copied back: not there yet.
    return 0;
  }
}

/** The next report `accept` takes; the listener goes once it has. */
function nextReport(checkpointer: WalCheckpointer, accept: (r: CheckpointReport) => boolean): Promise<CheckpointReport> {
  return new Promise((resolve) => {
    const stop = checkpointer.onReport((r) => {
      if (!accept(r)) return;
      stop();
      resolve(r);
    });
  });
}

describe('WAL checkpoints in a worker thread', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'reboot-ckpt-'));
  });
  afterEach(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it('copies the WAL back into the database long before the commit that would have done it on the event loop', async () => {
    const path = join(dir, 'db.sqlite');
    const store = new SqliteStore(path, { backgroundCheckpoints: { intervalMs: 20 } });
    // The main connection checkpoints only as a backstop, far beyond what the worker lets the WAL reach.
    expect(store.db.pragma('wal_autocheckpoint', { simple: true })).toBe(BACKSTOP_CHECKPOINT_PAGES);
    const checkpointer = store.checkpointer!;
    // A few hundred pages of commits: fewer than SQLite's default automatic checkpoint (1,000 pages) needs to run.
    for (let i = 0; i < 40; i++) store.createJob(job({ id: `r-ckpt${String(i).padStart(6, '0')}`, ids: Array.from({ length: 60 }, (_, k) => `i-${i}x${k}`) }), 'x');
    const walPages = statSync(`${path}-wal`).size / PAGE;
    expect(walPages).toBeGreaterThan(150);
    expect(walPages).toBeLessThan(1000);
    // The worker copies them back: the database file itself, read without the WAL, holds every job.
    await nextReport(checkpointer, (r) => r.kind === 'checkpointed' && jobsInDatabaseFile(path) === 40);
    expect(store.getJob('r-ckpt000039')?.ids).toHaveLength(60);
    store.close();
  });

  it('a reader holding an old snapshot stops the copy short; the next checkpoint after it ends copies the rest', async () => {
    const path = join(dir, 'db.sqlite');
    const store = new SqliteStore(path, { backgroundCheckpoints: { intervalMs: 20 } });
    const checkpointer = store.checkpointer!;
    await nextReport(checkpointer, (r) => r.kind === 'checkpointed');
    // A long read (an export, the copy tool) keeps the database as it was when it began.
    const reader = new Database(path, { readonly: true });
    reader.exec('BEGIN');
    reader.prepare('SELECT count(*) FROM jobs').get();
    for (let i = 0; i < 5; i++) store.createJob(job({ id: `r-held${String(i).padStart(6, '0')}` }), 'x');
    const short = await nextReport(checkpointer, (r) => r.kind === 'checkpointed' && r.walFrames > 0);
    if (short.kind === 'checkpointed') expect(short.copied).toBeLessThan(short.walFrames);
    expect(jobsInDatabaseFile(path)).toBe(0);
    reader.exec('COMMIT');
    reader.close();
    await nextReport(checkpointer, (r) => r.kind === 'checkpointed' && jobsInDatabaseFile(path) === 5);
    store.close();
  });

  it('closes its connection before the store does, so the store, last, removes the WAL before its close returns', async () => {
    const path = join(dir, 'db.sqlite');
    const store = new SqliteStore(path, { backgroundCheckpoints: { intervalMs: 20 } });
    store.createJob(job(), 'x');
    await nextReport(store.checkpointer!, () => true);
    expect(existsSync(`${path}-wal`)).toBe(true);
    store.close();
    // Nothing is left to write in the directory once close returns: it can be removed at once.
    expect(existsSync(`${path}-wal`)).toBe(false);
    await store.checkpointer!.exited;
    const reopened = new SqliteStore(path);
    expect(reopened.getJob(job().id)?.id).toBe(job().id);
    reopened.close();
  });

  it('reports a database it cannot open, and the process goes on', async () => {
    const checkpointer = new WalCheckpointer(join(dir, 'missing', 'db.sqlite'), { intervalMs: 20 });
    const report = await nextReport(checkpointer, () => true);
    expect(report.kind).toBe('failed');
    if (report.kind === 'failed') expect(report.error).toMatch(/directory does not exist|unable to open/);
    await checkpointer.exited;
  });

  it('failing checkpoints are on /healthz, not fatal, and logged once, until one succeeds again', async () => {
    const health = new HealthBoard();
    const lines: string[] = [];
    const listener = checkpointHealth(health, createLogger('info', (line) => lines.push(line)));
    const broken = new WalCheckpointer(join(dir, 'missing', 'db.sqlite'), { intervalMs: 20 });
    broken.onReport(listener);
    const failed = await nextReport(broken, () => true);
    await broken.exited;
    // A worker that goes on failing (here, the same report again) is not logged every second.
    listener(failed);
    expect(health.report()).toMatchObject({ ok: true, problems: [{ key: CHECKPOINT_PROBLEM, fatal: false, reason: expect.stringMatching(/^WAL checkpoints fail: /) }] });

    const store = new SqliteStore(join(dir, 'db.sqlite'), { backgroundCheckpoints: { intervalMs: 20 } });
    store.checkpointer!.onReport(listener);
    await nextReport(store.checkpointer!, (r) => r.kind === 'checkpointed');
    store.close();
    expect(health.report()).toEqual({ ok: true, problems: [] });
    const said = lines.map((line) => JSON.parse(line) as { level: string; msg: string });
    expect(said.map((l) => [l.level, l.msg])).toEqual([
      ['warn', 'WAL checkpoint failed; commits stay in the WAL until one succeeds'],
      ['info', 'WAL checkpoints succeed again'],
    ]);
  });

  it('is off unless asked for: other connections (tools, tests) keep SQLite’s own checkpoint', () => {
    const store = new SqliteStore(join(dir, 'db.sqlite'));
    expect(store.checkpointer).toBeUndefined();
    expect(store.db.pragma('wal_autocheckpoint', { simple: true })).toBe(1000);
    store.close();
  });
});
