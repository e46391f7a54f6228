/**
 * The shared services of `npm run chaos -- --replicas 2`: PostgreSQL (a fresh database per trial, so a trial's
 * replicas see only its job, as a fresh SQLite file does for one process) and Redis (a key prefix per trial,
 * REBOOT_REDIS_PREFIX). Both must answer; the run fails saying so, it never falls back to one process.
 */
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import pg from 'pg';
import { shownUrl } from '../src/config.js';
import { errorMessage } from '../src/errors.js';

export const CHAOS_DATABASE_URL = process.env.REBOOT_CHAOS_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
export const CHAOS_REDIS_URL = process.env.REBOOT_CHAOS_REDIS_URL ?? 'redis://127.0.0.1:6379';

/**
 * Short, so the survivor's takeover is quick; a replica killed on this host counts as dead at once anyway (its pid
 * is gone), the timeout only bounds how long a silent one is trusted.
 */
export const CHAOS_REPLICA_TIMEOUT = '2s';

async function admin(sql: string): Promise<void> {
  const client = new pg.Client({ connectionString: CHAOS_DATABASE_URL, connectionTimeoutMillis: 5000 });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}

function redisClient(): Redis {
  const client = new Redis(CHAOS_REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 1, connectTimeout: 3000, retryStrategy: () => null });
  client.on('error', () => undefined);
  return client;
}

/** Throws naming the service that does not answer and how to start it. */
export async function requireServices(): Promise<void> {
  try {
    await admin('SELECT 1');
  } catch (err) {
    throw new Error(
      `--replicas 2 needs PostgreSQL at ${shownUrl(CHAOS_DATABASE_URL)} (REBOOT_CHAOS_DATABASE_URL), which did not answer ` +
        `(${errorMessage(err)}); start it (.ci/run shows how)`,
    );
  }
  const redis = redisClient();
  try {
    await redis.connect();
    await redis.ping();
  } catch (err) {
    throw new Error(
      `--replicas 2 needs Redis at ${shownUrl(CHAOS_REDIS_URL)} (REBOOT_CHAOS_REDIS_URL), which did not answer (${errorMessage(err)}); ` +
        'start it: redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no',
    );
  } finally {
    redis.disconnect(false);
  }
}

export interface TrialServices {
  /** What every replica of the trial gets on top of the single-process environment. */
  env: Record<string, string>;
  /** The database (URL without password) and key prefix, for --keep. */
  shown: string;
  /** Drops the database and deletes the prefix's keys. */
  release(): Promise<void>;
}

/** A fresh database and key prefix for one trial. */
export async function trialServices(): Promise<TrialServices> {
  const name = `reboot_chaos_${randomBytes(6).toString('hex')}`;
  const prefix = `reboot-chaos-${name.slice('reboot_chaos_'.length)}`;
  await admin(`CREATE DATABASE ${name}`);
  const url = new URL(CHAOS_DATABASE_URL);
  url.pathname = `/${name}`;
  return {
    env: {
      REBOOT_DATABASE_URL: url.toString(),
      REBOOT_REDIS_URL: CHAOS_REDIS_URL,
      REBOOT_REDIS_PREFIX: prefix,
      REBOOT_REPLICA_TIMEOUT: CHAOS_REPLICA_TIMEOUT,
    },
    shown: `database ${shownUrl(url.toString())} redis ${CHAOS_REDIS_URL} prefix ${prefix}`,
    async release() {
      // WITH (FORCE): a connection a killed replica left behind does not keep it (PostgreSQL 13+).
      await admin(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await deleteKeys(prefix);
    },
  };
}

/** Every key of a prefix: bottleneck's (`b_<prefix>…`) and the pacer's (`<prefix>…`), as test/replicas/redis.ts. */
async function deleteKeys(prefix: string): Promise<void> {
  const redis = redisClient();
  try {
    await redis.connect();
    for (const pattern of [`b_${prefix}*`, `${prefix}*`]) {
      let cursor = '0';
      do {
        const [next, keys] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 500);
        cursor = next;
        if (keys.length > 0) await redis.del(...keys);
      } while (cursor !== '0');
    }
  } finally {
    redis.disconnect(false);
  }
}
