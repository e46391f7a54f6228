/**
 * Counts the transactions committed to a SQLite database in WAL mode by reading its `-wal` file from
 * outside, so a test can tell how many commits (each one a sync under `synchronous = FULL`) an operation
 * made without instrumenting the store. The format: https://www.sqlite.org/fileformat2.html#wal_file_format
 * (a 32-byte header with the page size at offset 8 and two salts at 16 and 20; then frames of a 24-byte
 * header and one page, where a frame's "database size after commit" at offset 4 is non-zero only on the
 * last frame of a commit, and its salts equal the header's while the frame belongs to the current WAL).
 */
import { existsSync, readFileSync } from 'node:fs';
import type Database from 'better-sqlite3';

/** Empties the WAL (a TRUNCATE checkpoint), so that `walCommits` counts from here. */
export function resetWal(db: Database.Database): void {
  db.pragma('wal_checkpoint(TRUNCATE)');
}

export function walCommits(dbPath: string): number {
  const path = `${dbPath}-wal`;
  if (!existsSync(path)) return 0;
  const wal = readFileSync(path);
  if (wal.length < 32) return 0;
  const pageSize = wal.readUInt32BE(8);
  const salt1 = wal.readUInt32BE(16);
  const salt2 = wal.readUInt32BE(20);
  let commits = 0;
  for (let at = 32; at + 24 + pageSize <= wal.length; at += 24 + pageSize) {
    // A frame left over from before the WAL was last restarted carries older salts: the log ends there.
    if (wal.readUInt32BE(at + 8) !== salt1 || wal.readUInt32BE(at + 12) !== salt2) break;
    if (wal.readUInt32BE(at + 4) !== 0) commits += 1;
  }
  return commits;
}
