/**
 * PostgreSQL for the replica suites (`npm run test:replicas`): the server named by REBOOT_TEST_DATABASE_URL
 * (default: the dev and CI machines' trust-auth server, database `test`), and a fresh schema per test.
 * When the server does not answer, the suites fail with a message saying so: they never skip.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { shownUrl } from '../../src/config.js';
import { PgStore } from '../../src/store/pg-store.js';

export const TEST_DATABASE_URL = process.env.REBOOT_TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';


let answering: Promise<void> | undefined;

/**
 * Throws a clear error when PostgreSQL does not answer within a few seconds. Run before each test (the server is
 * asked once per file), so every test fails with that message: a failed beforeAll would leave them "skipped".
 */
export function requirePostgres(): Promise<void> {
  answering ??= checkPostgres();
  return answering;
}

async function checkPostgres(): Promise<void> {
  const client = new pg.Client({ connectionString: TEST_DATABASE_URL, connectionTimeoutMillis: 5000 });
  try {
    await client.connect();
    await client.query('SELECT 1');
  } catch (err) {
    throw new Error(
      `PostgreSQL does not answer at ${shownUrl(TEST_DATABASE_URL)} (${err instanceof Error ? err.message : String(err)}). ` +
        'The replica suites need it: start it (.ci/run shows how) or set REBOOT_TEST_DATABASE_URL.',
    );
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** A schema of its own for one test, and its removal. */
export async function freshSchema(): Promise<{ schema: string; drop(): Promise<void> }> {
  const schema = `reboot_test_${randomBytes(6).toString('hex')}`;
  await admin(`CREATE SCHEMA ${schema}`);
  return {
    schema,
    async drop() {
      await admin(`DROP SCHEMA ${schema} CASCADE`);
    },
  };
}

/** A database of its own (for a whole bot, which takes the connection's default schema), and its removal. */
export async function freshDatabase(): Promise<{ url: string; drop(): Promise<void> }> {
  const name = `reboot_test_${randomBytes(6).toString('hex')}`;
  await admin(`CREATE DATABASE ${name}`);
  const url = new URL(TEST_DATABASE_URL);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    async drop() {
      // WITH (FORCE): a connection the bot left behind does not keep it (PostgreSQL 13+).
      await admin(`DROP DATABASE ${name} WITH (FORCE)`);
    },
  };
}

export async function admin(sql: string): Promise<pg.QueryResult> {
  const client = new pg.Client({ connectionString: TEST_DATABASE_URL, connectionTimeoutMillis: 5000 });
  await client.connect();
  try {
    return await client.query(sql);
  } finally {
    await client.end();
  }
}

export function openStore(schema: string): Promise<PgStore> {
  return PgStore.open({ url: TEST_DATABASE_URL, schema, maxConnections: 4 });
}
