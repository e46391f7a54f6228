import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SqliteStore } from '../../src/store/sqlite-store.js';
import { describeStoreContract } from './contract.js';

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
