/**
 * The Redis connection behind the limits shared by replicas (REBOOT_REDIS_URL): bottleneck's clustering
 * (src/jobs/limiters.ts) and the Slack pacer (src/slack/redis-channel-pacer.ts).
 *
 * While Redis cannot be reached, nothing may go out unlimited and nothing may fail for it: every command
 * waits in ioredis' offline queue and is sent once the connection is back (`maxRetriesPerRequest: null`,
 * https://github.com/redis/ioredis#auto-reconnect), reconnecting for as long as it takes. A limited call
 * therefore waits, it is never refused; /healthz says why meanwhile.
 */
import { Redis } from 'ioredis';
import { errorMessage } from '../errors.js';
import type { HealthBoard } from '../health.js';
import type { Logger } from '../log.js';

/** Longest pause between two reconnection attempts. */
const MAX_RECONNECT_DELAY_MS = 2000;

/** While Redis is down, one line every so often, not one per reconnection attempt. */
const ERROR_LOG_EVERY_MS = 30_000;

export interface RedisWatch {
  log?: Logger;
  health?: HealthBoard;
  /** What the connection is for, in its log lines and health entry. */
  purpose: string;
}

/** A client of REBOOT_REDIS_URL that waits through outages instead of failing commands. */
export function openRedis(url: string, watch: RedisWatch): Redis {
  const client = new Redis(url, {
    connectionName: 'reboot-bot',
    maxRetriesPerRequest: null,
    enableOfflineQueue: true,
    retryStrategy: (attempt) => Math.min(100 * attempt, MAX_RECONNECT_DELAY_MS),
  });
  watchRedis(client, watch);
  return client;
}

/** Logs and shows (in /healthz, not fatal: the bot still takes requests) a Redis outage until the client is ready again. */
export function watchRedis(client: Redis, { log, health, purpose }: RedisWatch): void {
  let down = false;
  let lastLogged = 0;
  client.on('error', (err: unknown) => {
    // ioredis' messages name the host and port, never the password; redact() masks it anyway (src/log.ts).
    const reason = errorMessage(err);
    health?.set(`redis:${purpose}`, `Redis for ${purpose} unreachable (${reason}); limited calls wait until it is back`, false);
    if (!down || Date.now() - lastLogged >= ERROR_LOG_EVERY_MS) {
      log?.error('redis unreachable; limited calls wait', { purpose, error: reason });
      lastLogged = Date.now();
    }
    down = true;
  });
  client.on('ready', () => {
    if (down) log?.info('redis reachable again', { purpose });
    down = false;
    health?.clear(`redis:${purpose}`);
  });
}

/** Closes at once: at shutdown nothing queued for a Redis that does not answer is worth waiting for. */
export function closeRedis(client: Redis): void {
  client.disconnect(false);
}
