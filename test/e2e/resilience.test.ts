import { outcomeLines } from '../../chaos/observe.js';
import { afterEach, describe, expect, it } from 'vitest';
import { SqliteStore } from '../../src/store/sqlite-store.js';
import { APPROVER_1, CHANNEL, Harness, INCIDENT, hasButtons, textOf } from '../helpers/harness.js';
import { rebootCalls } from '../helpers/cloud-requests.js';

const REGION = 'cn-hangzhou';
const ids = (n: number): string[] => Array.from({ length: n }, (_, i) => `i-bp1${String(i).padStart(17, '0')}`);

describe('crash recovery', () => {
  let h: Harness;
  afterEach(async () => {
    await h.stop();
  });

  it('a batch caught mid-send on a provider without idempotency is reported unknown, never resent', async () => {
    h = await Harness.start({ providers: ['alibaba'] });
    const [a] = ids(1);
    h.sims.sims.alibaba!.fleet.add(REGION, a!);
    const { card } = await h.request(`alibaba ${REGION} ${a}`);
    // The process "died" right after recording the batch as sending, before the answer came back.
    await h.restart((db) => {
      const store = new SqliteStore(db);
      const job = store.jobsInState('pending')[0]!;
      store.approve(job.id, APPROVER_1, Date.now());
      store.startRun(job.id, [{ wave: 0, ids: [a!] }], Date.now());
      store.markBatchSending(job.id, 0, Date.now());
      store.close();
    });
    await h.settle();
    expect(rebootCalls('alibaba', h.sims.sims.alibaba!.requests)).toHaveLength(0);
    const thread = h.slack.thread(card.ts).map(textOf).join('\n');
    expect(thread).toContain(`\`${a}\` *unknown*`);
    expect(thread).toContain('may or may not');
    expect(textOf(h.slack.message(CHANNEL, card.ts)!)).toContain('1 unknown');
    const job = h.sqlite.jobsInState('completed')[0]!;
    expect(h.sqlite.auditTrail(job.id).map((e) => e.event)).toContain('resumed');
  });

  it('an approved job that had not started yet runs once after the restart', async () => {
    h = await Harness.start({ providers: ['alibaba'] });
    const [a] = ids(1);
    h.sims.sims.alibaba!.fleet.add(REGION, a!);
    const { card } = await h.request(`alibaba ${REGION} ${a}`);
    await h.restart((db) => {
      const store = new SqliteStore(db);
      store.approve(store.jobsInState('pending')[0]!.id, APPROVER_1, Date.now());
      store.close();
    });
    await h.settle();
    expect(h.sims.sims.alibaba!.fleet.get(REGION, a!)?.rebootCount).toBe(1);
    expect(hasButtons(h.slack.message(CHANNEL, card.ts)!)).toBe(false);
  });
});

describe('slack pacing and limits', () => {
  let h: Harness;
  afterEach(async () => {
    await h.stop();
  });

  it('500 instances: 5 batches, coalesced thread replies, every message inside Block Kit limits', async () => {
    h = await Harness.start({ providers: ['alibaba'] });
    const all = ids(500);
    for (const id of all) h.sims.sims.alibaba!.fleet.add(REGION, id);
    const { card } = await h.request(`alibaba ${REGION} ${all.join(',')}`);
    expect(textOf(card)).toContain('… and 460 more');
    await h.driver.clickButton(APPROVER_1, card, 'reboot_approve');
    await h.settle();
    expect(rebootCalls('alibaba', h.sims.sims.alibaba!.requests)).toHaveLength(5);
    expect(h.sims.sims.alibaba!.fleet.totalReboots()).toBe(500);
    const replies = h.slack.thread(card.ts).filter((m) => !m.replyBroadcast);
    // Grouped results filled to Slack's size limits (README, "Thread results"): 500 ids with their names in
    // 3 messages, where 25 lines per message took 20.
    expect(replies).toHaveLength(3);
    expect([...outcomeLines(replies).values()].filter((s) => s.length === 1 && s[0] === 'succeeded')).toHaveLength(500);
    expect(h.slack.violations).toEqual([]);
    expect(textOf(h.slack.message(CHANNEL, card.ts)!)).toContain('500 verified');
  });

  it('keeps to the per-channel pace: no write lands inside the workspace rate limit', async () => {
    h = await Harness.start({ providers: ['alibaba'], slackRateLimitMs: 150, tuning: { channelIntervalMs: 200 } });
    const all = ids(60);
    for (const id of all) h.sims.sims.alibaba!.fleet.add(REGION, id);
    const { card } = await h.request(`alibaba ${REGION} ${all.join(' ')}`);
    await h.driver.clickButton(APPROVER_1, card, 'reboot_approve');
    await h.settle();
    expect(h.slack.violations).toEqual([]);
    const writes = h.slack.calls.filter((c) => (c.method === 'chat.postMessage' || c.method === 'chat.update') && c.args.channel === CHANNEL).map((c) => c.at);
    expect(writes.length).toBeGreaterThanOrEqual(5);
    for (let i = 1; i < writes.length; i++) expect(writes[i]! - writes[i - 1]!).toBeGreaterThanOrEqual(150);
  });

  it('honours 429 Retry-After from Slack and still delivers', async () => {
    h = await Harness.start({ providers: ['alibaba'] });
    const [a] = ids(1);
    h.sims.sims.alibaba!.fleet.add(REGION, a!);
    h.slack.injectFault('chat.postMessage', { status: 429, retryAfter: 1 });
    const started = Date.now();
    const { card } = await h.request(`alibaba ${REGION} ${a}`);
    expect(Date.now() - started).toBeGreaterThanOrEqual(1000);
    const posts = h.slack.callsTo('chat.postMessage');
    expect(posts[0]?.error).toBe('ratelimited');
    expect(posts[1]!.at - posts[0]!.at).toBeGreaterThanOrEqual(1000);
    expect(hasButtons(card)).toBe(true);
  });

  it('a Slack outage during delivery is retried; the incident channel still hears of completion', async () => {
    h = await Harness.start({ providers: ['alibaba'] });
    const [a] = ids(1);
    h.sims.sims.alibaba!.fleet.add(REGION, a!);
    const { card } = await h.request(`alibaba ${REGION} ${a}`);
    h.slack.injectFault('chat.update', { status: 500 });
    h.slack.injectFault('chat.postMessage', { error: 'internal_error' });
    await h.driver.clickButton(APPROVER_1, card, 'reboot_approve');
    await h.settle();
    expect(hasButtons(h.slack.message(CHANNEL, card.ts)!)).toBe(false);
    expect(h.slack.topLevel(INCIDENT).map(textOf).join('\n')).toContain('completed');
  });
});
