/**
 * The whole bot on PostgreSQL (REBOOT_DATABASE_URL): the Harness's real Bolt app over signed HTTP, the fake
 * Slack and the Alibaba simulator, with a PgStore in a database of its own. One full flow, request → approve →
 * reboot → thread results, and what the database then holds.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { AlibabaSimulator } from '../../src/providers/alibaba/simulator.js';
import { PgStore } from '../../src/store/pg-store.js';
import { APPROVER_1, CHANNEL, Harness, INCIDENT, hasButtons, textOf } from '../helpers/harness.js';
import { freshDatabase, requirePostgres } from './pg.js';

const REGION = 'cn-hangzhou';
const A = 'i-bp1aaaaaaaaaaaaaaaaa';
const B = 'i-bp1bbbbbbbbbbbbbbbbb';

// Each test fails, naming the server, when PostgreSQL does not answer.
beforeEach(requirePostgres);

describe('the bot on PostgreSQL, end to end', () => {
  let h: Harness | undefined;
  let db: { url: string; drop(): Promise<void> } | undefined;

  beforeEach(async () => {
    db = await freshDatabase();
    h = await Harness.start({ providers: ['alibaba'], databaseUrl: db.url });
    const sim = h.sims.sims.alibaba as AlibabaSimulator;
    for (const id of [A, B]) sim.fleet.add(REGION, id);
  });
  afterEach(async () => {
    // Absent when PostgreSQL did not answer: that failure is the one to read.
    await h?.stop();
    await db?.drop();
    h = undefined;
    db = undefined;
  });

  it('request → approve → reboot → thread results and summary, all stored in PostgreSQL; a restart finds the job done', async () => {
    if (!h) throw new Error('the harness did not start');
    const store = h.bot.store;
    expect(store).toBeInstanceOf(PgStore);
    const { reply, card } = await h.request(`alibaba ${REGION} ${A},${B} --reason "kernel patch"`);
    expect(reply).toContain('posted for approval');
    expect(hasButtons(card)).toBe(true);

    expect((await h.driver.clickButton(APPROVER_1, card, 'reboot_approve')).status).toBe(200);
    await h.settle();

    const fleet = (h.sims.sims.alibaba as AlibabaSimulator).fleet;
    expect([fleet.get(REGION, A)?.rebootCount, fleet.get(REGION, B)?.rebootCount]).toEqual([1, 1]);
    const thread = h.slack.thread(card.ts);
    const results = thread.map(textOf).join('\n');
    expect(results).toContain(`\`${A}\` back up, running`);
    expect(results).toContain(`\`${B}\` back up, running`);
    const summary = thread.filter((m) => m.replyBroadcast);
    expect(summary).toHaveLength(1);
    expect(textOf(summary[0]!)).toContain('2 verified');
    const finalCard = h.slack.message(CHANNEL, card.ts)!;
    expect(hasButtons(finalCard)).toBe(false);
    expect(textOf(finalCard)).toContain('Finished');
    expect(h.slack.topLevel(INCIDENT)).toHaveLength(2);
    expect(h.slack.violations).toEqual([]);

    const [done] = await store.jobsInState('completed');
    expect(done).toMatchObject({ ids: [A, B], cardTs: card.ts, decidedBy: APPROVER_1 });
    expect((await store.auditTrail(done!.id)).map((e) => e.event)).toEqual([
      'requested', 'preflight', 'approval', 'approved', 'started', 'batch sent', 'verifying', 'outcome', 'outcome', 'completed',
    ]);
    expect(await store.outboxPendingCount()).toBe(0);

    // A new process on the same database: nothing to resume, nothing sent again.
    const posted = h.slack.thread(card.ts).length;
    await h.restart();
    await h.settle();
    expect(h.bot.store).not.toBe(store);
    expect((await h.bot.store.getJob(done!.id))?.state).toBe('completed');
    expect(fleet.get(REGION, A)?.rebootCount).toBe(1);
    expect(h.slack.thread(card.ts)).toHaveLength(posted);
  });
});
