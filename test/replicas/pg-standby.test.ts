/**
 * Two bot processes on one PostgreSQL database (REBOOT_DATABASE_URL): the second stands by while the first holds the
 * database, then takes over when the first stops mid-job, and finishes that job as a restart would: what was sent is
 * not sent again, what was not sent goes out once. (Sharing live work between replicas is issue 12's next step.)
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startBot, type RunningBot } from '../../src/app.js';
import { silentLogger } from '../../src/log.js';
import { buildProviders } from '../../src/providers/registry.js';
import { APPROVER_1, FAST_TUNING, Harness } from '../helpers/harness.js';
import { eventually } from '../helpers/fixtures.js';
import { freshDatabase, requirePostgres } from './pg.js';

const REGION = 'bj';
const LEASE = { leaseHeartbeatMs: 100, leaseStaleMs: 1000 };
const PROVIDER_TUNING = { retry: { maxAttempts: 4, baseDelayMs: 5, maxDelayMs: 20 }, timeoutMs: 2000, poll: { initialDelayMs: 10, maxDelayMs: 40, timeoutMs: 5000 } };

beforeEach(requirePostgres);

describe('a standby replica on PostgreSQL', () => {
  let h: Harness | undefined;
  let standby: RunningBot | undefined;
  let db: { url: string; drop(): Promise<void> } | undefined;

  beforeEach(async () => {
    db = await freshDatabase();
    // A short shutdown grace, so the first replica leaves most of the job planned when it stops.
    h = await Harness.start({ providers: ['baidu'], databaseUrl: db.url, tuning: LEASE, env: { REBOOT_SHUTDOWN_GRACE: '200ms' } });
  });
  afterEach(async () => {
    await standby?.stop();
    // The first replica was stopped by the test already; the harness still closes its fake Slack and simulators.
    await h?.stop().catch(() => undefined);
    await db?.drop();
    h = standby = db = undefined;
  });

  it('waits while the first holds the database, takes over when it stops mid-job, and finishes the job: every instance rebooted once', async () => {
    if (!h) throw new Error('the harness did not start');
    const fleet = h.sims.sims.baidu!.fleet;
    const ids = Array.from({ length: 30 }, (_, i) => `i-stby${String(i).padStart(4, '0')}`);
    for (const id of ids) fleet.add(REGION, id);
    const rebooted = (): number => ids.reduce((n, id) => n + (fleet.get(REGION, id)?.rebootCount ?? 0), 0);

    const { reply, card } = await h.request(`baidu ${REGION} ${ids.join(' ')} --no-verify`);
    const jobId = /`(r-[a-z2-7]{10})`/.exec(reply)?.[1];
    if (!jobId) throw new Error(`no request id in ${reply}`);

    // The second replica, on the same database, Slack and clouds: it stands by.
    let tookOver = false;
    const second = startBot({
      config: h.config,
      providers: buildProviders(h.config.providers, PROVIDER_TUNING),
      log: silentLogger,
      tuning: { ...FAST_TUNING, ...LEASE },
    }).then((bot) => {
      tookOver = true;
      standby = bot;
      return bot;
    });
    await new Promise((r) => setTimeout(r, 500));
    expect(tookOver).toBe(false);

    // Baidu reboots one instance per call, 100 ms apart: the first replica stops a few calls in.
    expect((await h.driver.clickButton(APPROVER_1, card, 'reboot_approve')).status).toBe(200);
    await eventually(async () => rebooted() >= 3, 'the first reboots');
    await h.bot.stop();
    const sentByFirst = rebooted();
    expect(sentByFirst).toBeLessThan(ids.length);

    const bot = await second;
    await eventually(async () => (await bot.store.getJob(jobId))?.state === 'completed', 'the job to finish on the second replica');
    for (const id of ids) expect(fleet.get(REGION, id)?.rebootCount, id).toBe(1);
    expect((await bot.store.outcomes(jobId)).filter((o) => o.status === 'succeeded')).toHaveLength(ids.length);
    await bot.settle();
    // Its thread ends with the summary, posted by the replica that finished the job.
    expect(h.slack.thread(card.ts).filter((m) => m.replyBroadcast)).toHaveLength(1);
  });
});
