/**
 * The Redis the replica suites run against: REBOOT_TEST_REDIS_URL, else the CI machine's 127.0.0.1:6379
 * (.ci/run starts it). A Redis that does not answer fails the suite with the reason; it is never skipped.
 * Every run works under a key prefix of its own and deletes its keys afterwards.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { shownUrl } from '../../src/config.js';

export const TEST_REDIS_URL = process.env.REBOOT_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

/** A client of the test Redis, checked to answer PING within a few seconds; throws saying how to start one. */
export async function connectTestRedis(url = TEST_REDIS_URL): Promise<Redis> {
  const client = new Redis(url, { maxRetriesPerRequest: null, lazyConnect: true, retryStrategy: () => 200 });
  client.on('error', () => undefined);
  try {
    await withTimeout(client.connect().then(() => client.ping()), 3000);
    return client;
  } catch (err) {
    client.disconnect(false);
    throw new Error(
      `test:replicas needs Redis at ${shownUrl(url)} (REBOOT_TEST_REDIS_URL), which did not answer (${err instanceof Error ? err.message : String(err)}). ` +
        'Start it: redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no',
    );
  }
}

/** A key prefix no other run uses. */
export function uniquePrefix(): string {
  return `reboot-test-${process.pid}-${randomBytes(4).toString('hex')}`;
}

/** Deletes every key of a run: bottleneck's (`b_<prefix>…`) and the pacer's (`<prefix>…`). */
export async function deleteKeys(client: Redis, prefix: string): Promise<number> {
  let deleted = 0;
  for (const pattern of [`b_${prefix}*`, `${prefix}*`]) {
    let cursor = '0';
    do {
      const [next, keys] = await client.scan(cursor, 'MATCH', pattern, 'COUNT', 500);
      cursor = next;
      if (keys.length > 0) deleted += await client.del(...keys);
    } while (cursor !== '0');
  }
  return deleted;
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
    promise.then(
      (v) => {
        clearTimeout(timer);
        resolve(v);
      },
      (e: unknown) => {
        clearTimeout(timer);
        reject(e instanceof Error ? e : new Error(String(e)));
      },
    );
  });
}

/** A port nothing listens on (it was free a moment ago). */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (address === null || typeof address === 'string') throw new Error('no port');
  return address.port;
}

/** A redis-server of the test's own on `port`, to be stopped and started again (an outage); no persistence. */
export class OwnRedis {
  private process: ChildProcess | undefined;
  private readonly dir = mkdtempSync(join(tmpdir(), 'reboot-redis-'));

  constructor(readonly port: number) {}

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  async start(): Promise<void> {
    const child = spawn('redis-server', ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', this.dir], { stdio: 'ignore' });
    this.process = child;
    const spawned = new Promise<void>((resolve, reject) => {
      child.once('error', (err) => reject(new Error(`cannot start redis-server (is it installed?): ${err.message}`)));
      child.once('spawn', () => resolve());
    });
    await spawned;
    // It takes a moment to listen.
    for (let attempt = 0; ; attempt += 1) {
      try {
        (await connectTestRedis(this.url)).disconnect(false);
        return;
      } catch (err) {
        if (attempt >= 30) throw err;
        await sleep(100);
      }
    }
  }

  /** Gone at once, as in a crash: its connections drop. */
  async kill(): Promise<void> {
    const child = this.process;
    if (!child || child.exitCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill('SIGKILL');
    await exited;
    this.process = undefined;
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
