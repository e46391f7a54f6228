/**
 * Two active replicas in one test process (REBOOT_DATABASE_URL and REBOOT_REDIS_URL both set): both serve Slack at
 * once, a click at one runs the job the other stored exactly once, a replica that stops mid-job hands it to the
 * other, and a request expiring on both updates its card once. The kill -9 of a replica process is in
 * test/replicas/two-replicas.test.ts and `npm run chaos -- --replicas 2`.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startBot, type RunningBot } from '../../src/app.js';
import { silentLogger } from '../../src/log.js';
import { buildProviders } from '../../src/providers/registry.js';
import { APPROVER_1, FAST_TUNING, Harness, hasButtons, textOf } from '../helpers/harness.js';
import { eventually } from '../helpers/fixtures.js';
import { freshDatabase, requirePostgres } from './pg.js';
import { connectTestRedis, deleteKeys, TEST_REDIS_URL, uniquePrefix } from './redis.js';

const REGION = 'bj';
const PROVIDER_TUNING = { retry: { maxAttempts: 4, baseDelayMs: 5, maxDelayMs: 20 }, timeoutMs: 2000, poll: { initialDelayMs: 10, maxDelayMs: 40, timeoutMs: 5000 } };

beforeEach(requirePostgres);

describe('two active replicas on one PostgreSQL and one Redis', () => {
  let h: Harness | undefined;
  let second: RunningBot | undefined;
  let db: { url: string; drop(): Promise<void> } | undefined;
  let prefix = '';

  async function start(env: Record<string, string> = {}): Promise<{ h: Harness; b: RunningBot }> {
    db = await freshDatabase();
    prefix = uniquePrefix();
    // Both replicas share this process's event loop with the harness, so a heartbeat can lag a second under load: with
    // a 1 s timeout one replica then found the other silent and removed it, and nobody was left to finish the job
    // (seen in CI). Nothing here waits for a silent replica: a clean stop hands its work over at once.
    const replicaEnv = { REBOOT_REDIS_URL: TEST_REDIS_URL, REBOOT_REDIS_PREFIX: prefix, REBOOT_REPLICA_TIMEOUT: '10s', REBOOT_SHUTDOWN_GRACE: '200ms', ...env };
    h = await Harness.start({ providers: ['baidu'], databaseUrl: db.url, env: replicaEnv });
    // The second replica: same configuration, same Slack, clouds, database and Redis. It does not wait for the first.
    second = await startBot({ config: h.config, providers: buildProviders(h.config.providers, PROVIDER_TUNING), log: silentLogger, tuning: FAST_TUNING });
    return { h, b: second };
  }

  afterEach(async () => {
    await second?.stop().catch(() => undefined);
    await h?.stop().catch(() => undefined);
    await db?.drop();
    const redis = await connectTestRedis();
    await deleteKeys(redis, prefix);
    redis.disconnect();
    h = second = db = undefined;
  });

  it('both serve at once: the command at one, the approval at the other, and the job runs once', async () => {
    const { h, b } = await start();
    const fleet = h.sims.sims.baidu!.fleet;
    const ids = Array.from({ length: 6 }, (_, i) => `i-aa${String(i).padStart(6, '0')}`);
    for (const id of ids) fleet.add(REGION, id);
    expect((await fetch(`${b.url}/healthz`)).status).toBe(200);

    const { reply, card } = await h.request(`baidu ${REGION} ${ids.join(' ')} --no-verify`);
    const jobId = /`(r-[a-z2-7]{10})`/.exec(reply)?.[1];
    if (!jobId) throw new Error(`no request id in ${reply}`);
    expect((await h.driverAt(b.url).clickButton(APPROVER_1, card, 'reboot_approve')).status).toBe(200);

    await eventually(async () => (await b.store.getJob(jobId))?.state === 'completed', 'the job to complete');
    await h.bot.settle();
    await b.settle();
    for (const id of ids) expect(fleet.get(REGION, id)?.rebootCount, id).toBe(1);
    expect(h.slack.thread(card.ts).filter((m) => m.replyBroadcast)).toHaveLength(1);
    const final = h.slack.message(card.channel, card.ts);
    expect(final && hasButtons(final)).toBe(false);
    expect(final && textOf(final)).toMatch(/finished: 6 reboot accepted · 0 failed/);
  });

  it('a replica that stops mid-job hands the job over; the other finishes it and nothing is sent twice', async () => {
    const { h, b } = await start();
    const fleet = h.sims.sims.baidu!.fleet;
    const ids = Array.from({ length: 30 }, (_, i) => `i-bb${String(i).padStart(6, '0')}`);
    for (const id of ids) fleet.add(REGION, id);
    const rebooted = (): number => ids.reduce((n, id) => n + (fleet.get(REGION, id)?.rebootCount ?? 0), 0);

    const { reply, card } = await h.request(`baidu ${REGION} ${ids.join(' ')} --no-verify`);
    const jobId = /`(r-[a-z2-7]{10})`/.exec(reply)?.[1];
    if (!jobId) throw new Error(`no request id in ${reply}`);
    // Approved at the first replica, which owns the run: Baidu takes one instance per call, so it is stopped a few in.
    expect((await h.driver.clickButton(APPROVER_1, card, 'reboot_approve')).status).toBe(200);
    await eventually(() => rebooted() >= 3, 'the first reboots');
    await h.bot.stop();
    expect(rebooted()).toBeLessThan(ids.length);

    await eventually(async () => (await b.store.getJob(jobId))?.state === 'completed', 'the job to finish on the second replica', 30_000);
    for (const id of ids) expect(fleet.get(REGION, id)?.rebootCount, id).toBe(1);
    expect((await b.store.outcomes(jobId)).filter((o) => o.status === 'succeeded')).toHaveLength(ids.length);
    expect((await b.store.auditTrail(jobId)).some((e) => e.event === 'resumed')).toBe(true);
    await b.settle();
    expect(h.slack.thread(card.ts).filter((m) => m.replyBroadcast)).toHaveLength(1);
  });

  it('a request expiring while both replicas sweep is expired once, and its card rewritten once', async () => {
    const { h, b } = await start({ REBOOT_APPROVAL_TTL: '1s' });
    h.sims.sims.baidu!.fleet.add(REGION, 'i-cc000000');
    const { card } = await h.request(`baidu ${REGION} i-cc000000`);
    const updatesBefore = h.slack.callsTo('chat.update').length;
    await eventually(() => /expired/i.test(textOf(h.slack.message(card.channel, card.ts) ?? card)), 'the card to show the expiry', 10_000);
    await h.bot.settle();
    await b.settle();
    await new Promise((r) => setTimeout(r, 300));
    const expiring = h.slack.callsTo('chat.update').slice(updatesBefore).filter((c) => /expired/i.test(JSON.stringify(c.args)));
    expect(expiring).toHaveLength(1);
  });
});
