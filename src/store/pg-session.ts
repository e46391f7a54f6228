/** The query helpers PgStore (src/store/pg-store.ts) and the replica registry (src/store/pg-replicas.ts) share. */
import type pg from 'pg';
import type { PoolClient } from 'pg';

/** Queries on one connection (inside a transaction) or on the pool (one statement each). */
export class Session {
  /** Set when the transaction queued outbox rows; listeners hear of them after the commit. */
  queued = false;
  /** Jobs whose thread lock this transaction holds. */
  readonly threadLocks = new Set<string>();

  constructor(private readonly db: pg.Pool | PoolClient) {}

  async rows<T>(text: string, values: readonly unknown[] = []): Promise<T[]> {
    return (await this.db.query(text, [...values])).rows as T[];
  }

  async one<T>(text: string, values: readonly unknown[] = []): Promise<T | undefined> {
    return (await this.rows<T>(text, values))[0];
  }

  /** The number of rows the statement changed. */
  async run(text: string, values: readonly unknown[] = []): Promise<number> {
    return (await this.db.query(text, [...values])).rowCount ?? 0;
  }
}

/** The database's clock in epoch ms: replicas on different hosts compare heartbeats on one clock, not on their own. */
export const DB_NOW_MS = `(extract(epoch from clock_timestamp()) * 1000)::bigint`;
