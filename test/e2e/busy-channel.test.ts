/**
 * A busy channel, through the real bot over HTTP against the fake Slack (which answers a second write to a
 * channel within 1 s with a 429, as Slack does: https://api.slack.com/methods/chat.postMessage#rate_limiting)
 * and the Alibaba simulator: while a 1,000-instance job's results are still queued for the thread, a new
 * request in the same channel gets its card within 2 s, ahead of them (issue 9), and nothing is ever
 * written faster than Slack allows.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { APPROVER_1, CHANNEL, Harness, REQUESTER, waitFor } from '../helpers/harness.js';

const REGION = 'cn-hangzhou';
const ids = (n: number, prefix: string): string[] => Array.from({ length: n }, (_, i) => `i-${prefix}${String(i).padStart(17, '0')}`);

describe('a busy channel', () => {
  let h: Harness;
  afterEach(async () => {
    await h.stop();
  });

  it('a new card is posted within 2 s behind a running 1,000-instance job, ahead of its queued results', async () => {
    h = await Harness.start({
      providers: ['alibaba'],
      slackRateLimitMs: 1000,
      env: { REBOOT_MAX_INSTANCES: '5000' },
      // Slack's own pace: 1 s after the previous answer, as in production.
      tuning: { channelIntervalMs: 1000 },
    });
    const fleet = h.sims.sims.alibaba!.fleet;
    const big = ids(1000, 'bp1');
    big.forEach((id) => fleet.add(REGION, id, 'running'));
    fleet.add(REGION, 'i-bp2000000000000000001', 'running');
    const { card } = await h.request(`alibaba ${REGION} ${big.join(' ')}`);
    await h.driver.clickButton(APPROVER_1, card, 'reboot_approve');
    // The big job is reporting: its first results are in the thread, more are on their way.
    await waitFor(() => h.slack.thread(card.ts).some((m) => m.text.startsWith('Results:')), 'the first results', 60_000);

    const asked = Date.now();
    const res = await h.driver.command(REQUESTER, CHANNEL, `alibaba ${REGION} i-bp2000000000000000001`);
    expect(res.status).toBe(200);
    const second = await waitFor(() => h.cards()[1], 'the second card', 10_000);
    const postedAt = h.slack.calls.find((c) => c.method === 'chat.postMessage' && !c.error && c.args.channel === CHANNEL && c.args.thread_ts === undefined && c.at >= asked)!.at;
    expect(postedAt - asked).toBeLessThan(2000);
    expect(second.ts).not.toBe(card.ts);

    await h.bot.settle(90_000);
    // The card went ahead of the big job's thread: some of its thread came after the new card.
    const thread = h.slack.thread(card.ts);
    expect(thread.some((m) => Number(m.ts) > Number(second.ts))).toBe(true);
    expect(h.slack.violations).toEqual([]);
    expect(h.slack.calls.filter((c) => c.error === 'ratelimited')).toEqual([]);
  }, 120_000);
});
