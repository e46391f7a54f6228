/**
 * The whole bot with REBOOT_REDIS_URL, over signed Slack requests against the fake Slack and the Alibaba
 * simulator (test/helpers/harness.ts): its provider limits and Slack pacing live in Redis, and a Redis
 * outage in the middle of a job makes the reboot wait, neither fail nor go out twice.
 * The Redis here is the test's own redis-server, so it can be killed and started again.
 */
import { Redis } from 'ioredis';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { rebootCalls } from '../helpers/cloud-requests.js';
import { APPROVER_1, CHANNEL, Harness, hasButtons, textOf, waitFor } from '../helpers/harness.js';
import { freePort, OwnRedis, sleep, uniquePrefix } from './redis.js';

const REGION = 'cn-hangzhou';
const A = 'i-bp1aaaaaaaaaaaaaaaaa';

describe('the bot with shared limits in Redis', () => {
  let own: OwnRedis;
  let h: Harness;
  let prefix: string;

  beforeEach(async () => {
    own = new OwnRedis(await freePort());
    await own.start();
    prefix = uniquePrefix();
    h = await Harness.start({ providers: ['alibaba'], env: { REBOOT_REDIS_URL: own.url }, tuning: { redisKeyPrefix: prefix } });
    h.sims.sims.alibaba!.fleet.add(REGION, A);
  });
  afterEach(async () => {
    await h.stop();
    await own.kill();
  });

  it('a reboot goes through end to end, its limits and its channel pacing kept in Redis', async () => {
    const { card } = await h.request(`alibaba ${REGION} ${A}`);
    await h.driver.clickButton(APPROVER_1, card, 'reboot_approve');
    await h.settle();
    expect(h.sims.sims.alibaba!.fleet.get(REGION, A)?.rebootCount).toBe(1);
    expect(textOf(h.slack.message(CHANNEL, card.ts)!)).toContain('Finished');
    expect(h.slack.violations).toEqual([]);
    const redis = new Redis(own.url);
    try {
      expect(await redis.exists(`b_${prefix}:alibaba:default:${REGION}:calls_settings`)).toBe(1);
      expect(Number(await redis.get(`${prefix}:slack:next:${CHANNEL}`))).toBeGreaterThan(0);
    } finally {
      redis.disconnect(false);
    }
  });

  it('Redis crashing after approval: the reboot waits (not failed, not sent), then goes out exactly once when Redis is back', async () => {
    const { card } = await h.request(`alibaba ${REGION} ${A}`);
    await own.kill();
    const click = await h.driver.clickButton(APPROVER_1, card, 'reboot_approve');
    expect(click.status).toBe(200);
    await sleep(2000);
    const sim = h.sims.sims.alibaba!;
    expect(rebootCalls('alibaba', sim.requests)).toHaveLength(0);
    expect(sim.fleet.get(REGION, A)?.rebootCount).toBe(0);
    const [job] = h.sqlite.jobsInState('running');
    expect(job?.ids).toEqual([A]);
    expect(h.sqlite.outcomes(job!.id)).toEqual([]);
    expect(h.bot.health.has('redis:provider limits')).toBe(true);

    await own.start();
    await waitFor(() => sim.fleet.get(REGION, A)?.rebootCount === 1, 'the reboot once Redis is back', 20_000);
    await h.settle();
    await waitFor(() => h.sqlite.jobsInState('completed').length === 1, 'the job to complete', 20_000);
    expect(rebootCalls('alibaba', sim.requests)).toHaveLength(1);
    expect(sim.fleet.get(REGION, A)?.rebootCount).toBe(1);
    const finalCard = h.slack.message(CHANNEL, card.ts)!;
    expect(hasButtons(finalCard)).toBe(false);
    expect(textOf(finalCard)).toContain('Finished');
  });

  // Its stop waits out two bounded 5 s waits on Redis by design, and the completion may take 20 s more: past the
  // suite's 30 s default on a loaded machine.
  it('a restart while Redis is down: the stop does not hang on it, and the next process reboots once Redis is back', { timeout: 60_000 }, async () => {
    const { card } = await h.request(`alibaba ${REGION} ${A}`);
    await own.kill();
    await h.driver.clickButton(APPROVER_1, card, 'reboot_approve');
    await waitFor(() => h.sqlite.jobsInState('running').length === 1, 'the run to start');
    const stopping = Date.now();
    await h.restart();
    // At most 5 s for the outbox to drain and 5 s for it to stop, well within REBOOT_SHUTDOWN_GRACE (20 s); a stop
    // waiting on Redis would never end.
    expect(Date.now() - stopping).toBeLessThan(15_000);
    const sim = h.sims.sims.alibaba!;
    await sleep(1000);
    expect(sim.fleet.get(REGION, A)?.rebootCount).toBe(0);
    await own.start();
    await waitFor(() => h.sqlite.jobsInState('completed').length === 1, 'the job to complete', 20_000);
    expect(rebootCalls('alibaba', sim.requests)).toHaveLength(1);
    expect(sim.fleet.get(REGION, A)?.rebootCount).toBe(1);
  });
});
