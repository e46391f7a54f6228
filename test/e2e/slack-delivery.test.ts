/**
 * Slack delivery under faults (issue 6): long outages are outlasted, permanent refusals are made
 * visible, and a database that cannot be written never ends the process.
 */
import { request } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import { APPROVER_1, CHANNEL, Harness, INCIDENT, REQUESTER, hasButtons, textOf, waitFor } from '../helpers/harness.js';
import { rebootCalls } from '../helpers/cloud-requests.js';

const REGION = 'cn-hangzhou';
const ids = (n: number): string[] => Array.from({ length: n }, (_, i) => `i-bp1${String(i).padStart(17, '0')}`);

let h: Harness;
afterEach(async () => {
  await h.stop();
});

async function healthz(): Promise<{ status: number; body: { status: string; problems: Array<{ key: string; reason: string; fatal: boolean }> } }> {
  const res = await request(`${h.bot.url}/healthz`);
  return { status: res.statusCode, body: (await res.body.json()) as never };
}

describe('a long Slack outage', () => {
  it('transient failures are retried for as long as it takes, far past the old 8 attempts', async () => {
    h = await Harness.start({ providers: ['alibaba'], tuning: { outboxMaxBackoffMs: 20 } });
    const [a] = ids(1);
    h.sims.sims.alibaba!.fleet.add(REGION, a!);
    for (let i = 0; i < 6; i++) h.slack.injectFault('chat.postMessage', { error: 'internal_error' });
    for (let i = 0; i < 6; i++) h.slack.injectFault('chat.postMessage', { status: 500 });
    for (let i = 0; i < 4; i++) h.slack.injectFault('chat.postMessage', { error: 'fatal_error' });
    const { card } = await h.request(`alibaba ${REGION} ${a}`);
    expect(h.slack.callsTo('chat.postMessage').filter((c) => c.error).length).toBe(16);
    await h.driver.clickButton(APPROVER_1, card, 'reboot_approve');
    await h.settle();
    expect(h.slack.thread(card.ts).map(textOf).join('\n')).toContain(a);
    expect(h.slack.topLevel(INCIDENT).map(textOf).join('\n')).toContain('completed');
  });
});

describe('permanent Slack errors', () => {
  it('a channel archived mid-job is logged, listed in /healthz, and the requester is told directly', async () => {
    h = await Harness.start({ providers: ['alibaba'] });
    const [a] = ids(1);
    h.sims.sims.alibaba!.fleet.add(REGION, a!);
    const { card } = await h.request(`alibaba ${REGION} ${a}`);
    h.slack.archivedChannels.add(CHANNEL);
    await h.driver.clickButton(APPROVER_1, card, 'reboot_approve');
    await h.settle();
    expect(h.sims.sims.alibaba!.fleet.get(REGION, a!)?.rebootCount).toBe(1);
    const health = await healthz();
    expect(health.body.problems.some((p) => p.key === `slack:${CHANNEL}` && p.reason.includes('is_archived'))).toBe(true);
    // One channel is not the whole bot: it still serves, so the check itself passes.
    expect(health.status).toBe(200);
    const dm = await waitFor(() => h.slack.topLevel(REQUESTER)[0], 'direct message to the requester');
    expect(textOf(dm)).toContain('is_archived');
    // A later successful write to that channel clears the entry.
    h.slack.archivedChannels.delete(CHANNEL);
    await h.request(`alibaba ${REGION} ${a}`);
    await waitFor(() => !h.bot.health.has(`slack:${CHANNEL}`), 'the entry to clear');
    expect((await healthz()).body.problems).toEqual([]);
  });

  it('a revoked token fails /healthz until a write succeeds again', async () => {
    h = await Harness.start({ providers: ['alibaba'] });
    const [a] = ids(1);
    h.sims.sims.alibaba!.fleet.add(REGION, a!);
    const { card } = await h.request(`alibaba ${REGION} ${a}`);
    h.slack.tokenRevoked = true;
    await h.driver.clickButton(APPROVER_1, card, 'reboot_approve');
    await waitFor(() => h.bot.health.has('slack:auth'), 'health entry');
    const failing = await healthz();
    expect(failing.status).toBe(503);
    expect(failing.body.problems.find((p) => p.key === 'slack:auth')?.reason).toContain('token_revoked');
    await h.bot.runner.idle();
    await h.bot.outbox.drain();
    // Reinstalled: the next write (a new request's card) succeeds and the check passes again.
    h.slack.tokenRevoked = false;
    await h.request(`alibaba ${REGION} ${a}`);
    await waitFor(() => !h.bot.health.has('slack:auth'), 'recovery');
    expect((await healthz()).status).toBe(200);
  });
});

describe('a database that cannot be written', () => {
  it('an outbox loop failing with SQLITE_FULL backs off, fails /healthz with the reason, and recovers', async () => {
    h = await Harness.start({ providers: ['alibaba'] });
    const [a] = ids(1);
    h.sims.sims.alibaba!.fleet.add(REGION, a!);
    const store = h.sqlite;
    const heads = store.outboxHeads.bind(store);
    let failing = true;
    store.outboxHeads = () => {
      if (failing) throw Object.assign(new Error('database or disk is full'), { code: 'SQLITE_FULL' });
      return heads();
    };
    const res = await h.driver.command(REQUESTER, CHANNEL, `alibaba ${REGION} ${a}`);
    expect(res.status).toBe(200);
    await waitFor(() => h.bot.health.has('outbox'), 'outbox problem');
    const health = await healthz();
    expect(health.status).toBe(503);
    expect(health.body.problems.find((p) => p.key === 'outbox')?.reason).toContain('database or disk is full');
    failing = false;
    const card = await waitFor(() => h.cards()[0], 'the card, once the database works again', 10_000);
    expect(hasButtons(card)).toBe(true);
    await waitFor(() => !h.bot.health.has('outbox'), 'recovery');
    expect((await healthz()).status).toBe(200);
  });

  it('an approve click that cannot be stored (disk full) tells the clicker and changes nothing', async () => {
    h = await Harness.start({ providers: ['alibaba'] });
    const [a] = ids(1);
    h.sims.sims.alibaba!.fleet.add(REGION, a!);
    const { card } = await h.request(`alibaba ${REGION} ${a}`);
    await h.settle();
    const db = h.sqlite.db;
    // A real SQLITE_FULL: the database may not grow by a single page, and its pages are filled.
    const pages = db.pragma('page_count', { simple: true }) as number;
    db.pragma(`max_page_count = ${pages}`);
    const filler = db.prepare(`INSERT INTO audit (job_id, event, actor, at, data) VALUES ('filler', 'filler', 'test', 0, ?)`);
    // Smaller and smaller rows, so no page keeps room for an approval's few short rows either.
    for (const size of [200, 64, 16, 1]) {
      expect(() => {
        for (let i = 0; i < 100_000; i++) filler.run('x'.repeat(size));
      }).toThrow(/full/);
    }
    const click = await h.driver.clickButton(APPROVER_1, card, 'reboot_approve');
    expect(await h.replyTo(click)).toContain('could not be recorded');
    expect(h.sqlite.jobsInState('pending')).toHaveLength(1);
    expect(rebootCalls('alibaba', h.sims.sims.alibaba!.requests)).toHaveLength(0);
    db.prepare(`DELETE FROM audit WHERE job_id = 'filler'`).run();
    db.pragma('max_page_count = 1073741823');
  });
});
