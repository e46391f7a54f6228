/**
 * takeLease over a real SQLite store: the holder left by a crashed run that had this process's pid on
 * this host (a restarted container, where the bot is always pid 1) is taken over at once, while a
 * live process on this host still holds the lease.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { HealthBoard } from '../../src/health.js';
import { silentLogger } from '../../src/log.js';
import { DatabaseInUseError, takeLease } from '../../src/store/lease.js';
import { SqliteStore } from '../../src/store/sqlite-store.js';

let dir: string;
let store: SqliteStore;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'lease-'));
  store = new SqliteStore(join(dir, 'db.sqlite'));
});
afterEach(() => {
  store.close();
  rmSync(dir, { recursive: true, force: true });
});

const timing = { heartbeatMs: 60_000, staleMs: 30_000 };
const watch = () => ({ health: new HealthBoard(), log: silentLogger, now: () => 10_000 });

it('a fresh holder with this process pid on this host is a previous run: taken over without waiting for its heartbeat to go stale', async () => {
  await store.acquireLease({ id: 'crashed-run', pid: process.pid, host: hostname() }, 9_000, timing.staleMs, () => true);
  const lease = await takeLease(store, 'db.sqlite', timing, watch());
  expect(lease.holder).toMatchObject({ pid: process.pid, host: hostname() });
  await lease.release();
});

it('a fresh holder that is another live process on this host keeps the lease', async () => {
  // The parent of this test process is alive, and not this process.
  await store.acquireLease({ id: 'other-process', pid: process.ppid, host: hostname() }, 9_000, timing.staleMs, () => true);
  await expect(takeLease(store, 'db.sqlite', timing, watch())).rejects.toThrow(DatabaseInUseError);
});
