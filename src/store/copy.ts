/**
 * The one-off move from SQLite (REBOOT_DB) to PostgreSQL (REBOOT_DATABASE_URL): `npm run db:copy -- --from
 * <file> --to <url>` (src/db-copy.ts). Every row of every table, in one PostgreSQL transaction, so a failed
 * copy leaves the target as it was.
 *
 * - The source is held with the bot's own single-writer lease (src/store/lease.ts) for the whole copy: a bot
 *   running on the file refuses the copy, and a bot started during it refuses to start.
 * - The target must be empty: a copy never merges into a database a bot has used.
 * - The types follow src/store/pg-migrations.ts (migration 1 is SQLite's final schema in PostgreSQL's types):
 *   0/1 flags become booleans, `jobs.instances` is counted from `ids`, `seq` on approvals and outcomes (SQLite's
 *   rowid order) is assigned by inserting in rowid order, and audit and outbox keep their ids, after which
 *   their identity sequences are moved past the largest (setval), so the bot's next row does not collide.
 * - Both schemas are compared with what this file knows before anything is written: a column added by a later
 *   migration that this copy does not map stops it, rather than being left behind.
 */
import { existsSync } from 'node:fs';
import Database from 'better-sqlite3';
import pg from 'pg';
import { HealthBoard } from '../health.js';
import { silentLogger } from '../log.js';
import { DatabaseInUseError, takeLease } from './lease.js';
import { MIGRATIONS } from './migrations.js';
import { PgStore } from './pg-store.js';
import { parseIds, StatusSchema } from './rows.js';
import { SqliteStore } from './sqlite-store.js';

/** Refused before anything was written; the message says why and what to do. */
export class CopyRefusedError extends Error {}

export interface CopyOptions {
  /** The SQLite file (REBOOT_DB). */
  from: string;
  /** postgres://… A secret: it may hold a password, and is never part of a message. */
  to: string;
  /** A schema in the target other than the connection's default (tests). */
  schema?: string;
  now?: () => number;
}

export interface TableCount {
  table: string;
  rows: number;
}

type Row = Record<string, unknown>;

interface TableSpec {
  table: string;
  /** Read in this order: rowid where PostgreSQL's `seq` records the order of arrival. */
  orderBy: string;
  /** 0/1 in SQLite, boolean in PostgreSQL. */
  booleans?: readonly string[];
  /** Columns only PostgreSQL has, computed from the SQLite row. */
  computed?: Readonly<Record<string, (row: Row) => unknown>>;
  /** Columns whose SQLite value may need filling in for PostgreSQL's NOT NULL. */
  filled?: Readonly<Record<string, (row: Row) => unknown>>;
  /** PostgreSQL identity columns left to PostgreSQL (rows go in in `orderBy` order). */
  generated?: readonly string[];
  /** An identity `id` copied as it is, its sequence moved past the largest afterwards. */
  keepsIds?: boolean;
}

/** In foreign-key order: jobs before what refers to them. */
const TABLES: readonly TableSpec[] = [
  {
    table: 'jobs',
    orderBy: 'rowid',
    booleans: ['force', 'dry_run', 'verify'],
    // Owners are replicas' (PostgreSQL migration 3): a copied job has none, and the first replica to sweep claims it.
    computed: { instances: (row) => parseIds(String(row.ids)).length, run_owner: () => null, preflight_owner: () => null },
  },
  { table: 'approvals', orderBy: 'rowid', generated: ['seq'] },
  { table: 'batches', orderBy: 'job_id, seq' },
  {
    table: 'outcomes',
    orderBy: 'rowid',
    generated: ['seq'],
    // Rows from before SQLite migration 4 may lack it; it is the outcome's own status.
    filled: { status: (row) => row.status ?? StatusSchema.parse((JSON.parse(String(row.outcome)) as { status?: unknown }).status) },
  },
  { table: 'instance_state', orderBy: 'rowid' },
  { table: 'audit', orderBy: 'id', keepsIds: true },
  { table: 'outbox', orderBy: 'id', keepsIds: true, computed: { claimed_by: () => null } },
];

/**
 * Not copied: the lease belongs to the process holding each database; sqlite_sequence is SQLite's own
 * AUTOINCREMENT bookkeeping (https://www.sqlite.org/autoinc.html), which the setval above replaces.
 */
const NOT_COPIED = new Set(['lease', 'sqlite_sequence']);

/** The bot's lease timing (src/app.ts, DEFAULT_TUNING): a holder silent for 30 s is gone. */
const LEASE_TIMING = { heartbeatMs: 5000, staleMs: 30_000 };

/** Copies every table; returns the rows copied per table. Throws CopyRefusedError when it must not copy. */
export async function copySqliteToPostgres(options: CopyOptions): Promise<TableCount[]> {
  const now = options.now ?? Date.now;
  checkSource(options.from);
  // Opening the store brings an older file up to the final schema, as starting the bot would.
  const source = new SqliteStore(options.from);
  try {
    const lease = await takeLease(source, options.from, LEASE_TIMING, { health: new HealthBoard(), log: silentLogger, now }).catch((err: unknown) => {
      if (err instanceof DatabaseInUseError) throw new CopyRefusedError(`${err.message} Stop the bot first, then copy.`);
      throw err;
    });
    try {
      return await copyInto(options, now);
    } finally {
      await lease.release();
    }
  } finally {
    source.close();
  }
}

function checkSource(path: string): void {
  if (!existsSync(path)) throw new CopyRefusedError(`no SQLite database at ${path}`);
  const db = new Database(path, { readonly: true, fileMustExist: true });
  try {
    const version = db.pragma('user_version', { simple: true }) as number;
    if (version === 0) throw new CopyRefusedError(`${path} is not a reboot-bot database (it has no migrations applied)`);
    if (version > MIGRATIONS.length) {
      throw new CopyRefusedError(`${path} was written by a newer reboot-bot (schema ${version}, this one knows ${MIGRATIONS.length}); copy with that version`);
    }
  } finally {
    db.close();
  }
}

async function copyInto(options: CopyOptions, now: () => number): Promise<TableCount[]> {
  // Opening the store creates or completes the target's schema (src/store/pg-migrations.ts) under its lock.
  const target = await PgStore.open({ url: options.to, maxConnections: 1, ...(options.schema !== undefined ? { schema: options.schema } : {}) });
  await target.close();
  const client = new pg.Client({
    connectionString: options.to,
    // https://www.postgresql.org/docs/current/libpq-connect.html#LIBPQ-CONNECT-OPTIONS
    ...(options.schema !== undefined ? { options: `-c search_path=${options.schema}` } : {}),
  });
  await client.connect();
  const reader = new Database(options.from, { readonly: true, fileMustExist: true });
  try {
    await client.query('BEGIN');
    try {
      // EXCLUSIVE: nobody else writes these tables until the commit, and the emptiness checked next still holds then.
      // https://www.postgresql.org/docs/current/explicit-locking.html#LOCKING-TABLES
      await client.query(`LOCK TABLE ${[...TABLES.map((t) => t.table), 'lease'].join(', ')} IN EXCLUSIVE MODE`);
      await refuseUnlessEmpty(client, now());
      await checkSchemas(reader, client);
      // One snapshot of the source for the whole copy (https://www.sqlite.org/isolation.html).
      reader.exec('BEGIN');
      const counts: TableCount[] = [];
      for (const spec of TABLES) counts.push({ table: spec.table, rows: await copyTable(reader, client, spec) });
      reader.exec('COMMIT');
      await client.query('COMMIT');
      return counts;
    } catch (err) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw err;
    }
  } finally {
    reader.close();
    await client.end().catch(() => undefined);
  }
}

async function refuseUnlessEmpty(client: pg.Client, now: number): Promise<void> {
  const lease = await client.query<{ pid: number; host: string; heartbeat_at: string }>(`SELECT pid, host, heartbeat_at FROM lease WHERE name = 'writer'`);
  const holder = lease.rows[0];
  if (holder && now - Number(holder.heartbeat_at) < LEASE_TIMING.staleMs) {
    throw new CopyRefusedError(`a bot (pid ${holder.pid} on ${holder.host}) is running on the target database; stop it first. The copy only goes into an empty database.`);
  }
  const filled: string[] = [];
  for (const { table } of TABLES) {
    const { rows } = await client.query<{ n: string }>(`SELECT count(*) AS n FROM ${table}`);
    const n = Number(rows[0]?.n ?? 0);
    if (n > 0) filled.push(`${table}: ${n}`);
  }
  if (filled.length > 0) {
    throw new CopyRefusedError(
      `the target database already has rows (${filled.join(', ')}); the copy only goes into an empty database, so it never mixes two histories. Nothing was changed.`,
    );
  }
}

/** Both sides must have exactly the columns this file maps: otherwise a later migration left it behind. */
async function checkSchemas(reader: Database.Database, client: pg.Client): Promise<void> {
  const known = new Set([...TABLES.map((t) => t.table), ...NOT_COPIED]);
  const sqliteTables = reader.prepare(`SELECT name FROM sqlite_master WHERE type = 'table'`).pluck().all() as string[];
  const unknown = sqliteTables.filter((t) => !known.has(t));
  if (unknown.length > 0) throw new Error(`the SQLite database has tables this copy does not know (${unknown.join(', ')}); src/store/copy.ts needs them`);
  for (const spec of TABLES) {
    const sqliteColumns = sqliteColumnsOf(reader, spec.table);
    const { rows } = await client.query<{ column_name: string }>(
      'SELECT column_name FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = $1',
      [spec.table],
    );
    const expected = [...sqliteColumns, ...Object.keys(spec.computed ?? {}), ...(spec.generated ?? [])].sort();
    const actual = rows.map((r) => r.column_name).sort();
    if (expected.join() !== actual.join()) {
      throw new Error(`table ${spec.table} differs between SQLite and PostgreSQL (SQLite + computed: ${expected.join(', ')}; PostgreSQL: ${actual.join(', ')}); src/store/copy.ts needs updating`);
    }
  }
}

function sqliteColumnsOf(reader: Database.Database, table: string): string[] {
  return (reader.prepare(`SELECT name FROM pragma_table_info(?)`).pluck().all(table) as string[]);
}

async function copyTable(reader: Database.Database, client: pg.Client, spec: TableSpec): Promise<number> {
  const sourceColumns = sqliteColumnsOf(reader, spec.table);
  const computed = Object.entries(spec.computed ?? {});
  const columns = [...sourceColumns, ...computed.map(([name]) => name)];
  const booleans = new Set(spec.booleans ?? []);
  const filled = spec.filled ?? {};
  const text =
    `INSERT INTO ${spec.table} (${columns.join(', ')})` +
    // https://www.postgresql.org/docs/current/sql-insert.html: a value for a GENERATED ALWAYS identity column.
    (spec.keepsIds ? ' OVERRIDING SYSTEM VALUE' : '') +
    ` VALUES (${columns.map((_, i) => `$${i + 1}`).join(', ')})`;
  let copied = 0;
  for (const row of reader.prepare(`SELECT ${sourceColumns.join(', ')} FROM ${spec.table} ORDER BY ${spec.orderBy}`).iterate() as IterableIterator<Row>) {
    const values = sourceColumns.map((name) => {
      const fill = filled[name];
      const value = fill ? fill(row) : row[name];
      return booleans.has(name) && value !== null ? value === 1 : value;
    });
    for (const [, compute] of computed) values.push(compute(row));
    // A named statement is parsed once per table (https://node-postgres.com/features/queries#prepared-statements).
    await client.query({ name: `copy-${spec.table}`, text, values });
    copied += 1;
  }
  if (spec.keepsIds) {
    // The next id the bot takes is one past the largest copied (or 1 for an empty table).
    await client.query(
      `SELECT setval(pg_get_serial_sequence('${spec.table}', 'id'), COALESCE((SELECT MAX(id) FROM ${spec.table}), 1), (SELECT MAX(id) FROM ${spec.table}) IS NOT NULL)`,
    );
  }
  const { rows } = await client.query<{ n: string }>(`SELECT count(*) AS n FROM ${spec.table}`);
  if (Number(rows[0]?.n) !== copied) throw new Error(`table ${spec.table}: ${copied} rows read but ${rows[0]?.n ?? '?'} in PostgreSQL`);
  return copied;
}
