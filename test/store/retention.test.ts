import { afterEach, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/log.js';
import type { Store } from '../../src/store/contract.js';
import { RetentionSweep } from '../../src/store/retention.js';
import { SqliteStore } from '../../src/store/sqlite-store.js';
import { APPROVER_2, Harness, waitFor } from '../helpers/harness.js';
import { job } from './contract.js';

const REGION = 'cn-hangzhou';
const A = 'i-bp1aaaaaaaaaaaaaaaaa';
const B = 'i-bp1bbbbbbbbbbbbbbbbb';

describe('retention sweep in the running bot', () => {
  let h: Harness | undefined;
  afterEach(async () => {
    await h?.stop();
    h = undefined;
  });

  it('prunes a job denied longer ago than REBOOT_RETENTION, with its audit trail; a pending job stays', async () => {
    h = await Harness.start({
      providers: ['alibaba'],
      env: { REBOOT_RETENTION: '1s' },
      tuning: { retentionFirstRunMs: 50, retentionSweepMs: 100 },
    });
    const bot = h;
    const { card } = await bot.request(`alibaba ${REGION} ${A}`);
    await bot.driver.clickButton(APPROVER_2, card, 'reboot_deny');
    await bot.settle();
    const [denied] = bot.sqlite.jobsInState('denied');
    expect(denied).toBeDefined();
    await bot.request(`alibaba ${REGION} ${B}`);
    const [pending] = bot.sqlite.jobsInState('pending');
    expect(pending).toBeDefined();
    // Still there right after it ended: the retention period has not passed.
    expect(bot.sqlite.getJob(denied!.id)).toBeDefined();

    await waitFor(() => bot.sqlite.getJob(denied!.id) === undefined, 'denied job pruned', 10_000);
    expect(bot.sqlite.auditTrail(denied!.id)).toEqual([]);
    expect(bot.sqlite.getJob(pending!.id)?.state).toBe('pending');
    expect(bot.sqlite.auditTrail(pending!.id).map((e) => e.event)).toContain('requested');
    // The delivered rows went too; nothing undelivered was lost.
    await waitFor(() => (bot.sqlite.db.prepare(`SELECT COUNT(*) AS n FROM outbox WHERE state = 'done'`).get() as { n: number }).n === 0, 'delivered rows pruned', 10_000);
    expect(bot.sqlite.outboxPendingCount()).toBe(0);
  });
});

describe('RetentionSweep', () => {
  it('prunes chunk by chunk until nothing is left, logs the totals, and stops its timer', async () => {
    const store = new SqliteStore(':memory:');
    for (let i = 0; i < 7; i++) {
      store.createJob(job({ id: `r-old${String(i).padStart(7, '0')}` }), 'x');
      store.deny(`r-old${String(i).padStart(7, '0')}`, 'U1', 2000);
    }
    store.createJob(job({ id: 'r-live000000' }), 'x');
    const lines: string[] = [];
    const calls: number[] = [];
    // The real store, each call to it noted.
    const noted: Pick<Store, 'prune'> = { prune: (before, limits) => (calls.push(before), store.prune(before, limits)) };
    const sweep = new RetentionSweep(noted, {
      retentionMs: 1000,
      firstRunMs: 60_000,
      sweepMs: 60_000,
      now: () => 10_000,
      log: createLogger('info', (line) => lines.push(line)),
      limits: { jobs: 3, instances: 100, outboxRows: 10 },
    });
    sweep.start();
    expect(await sweep.sweep()).toMatchObject({ jobs: 7, more: false });
    // 3 + 3 + 1: each call bounded, the sweep going on while a call said there was more.
    expect(calls).toEqual([9000, 9000, 9000]);
    expect(lines.map((l) => JSON.parse(l) as Record<string, unknown>)).toContainEqual(expect.objectContaining({ msg: 'retention: pruned old rows', jobs: 7 }));
    expect(store.jobsInState('denied')).toEqual([]);
    expect(store.getJob('r-live000000')?.state).toBe('pending');
    await sweep.stop();
    store.close();
  });
});
