import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { slackSignatureHeaders } from '../../src/local/slack-driver.js';
import { CHANNEL, Harness, REQUESTER, textOf } from '../helpers/harness.js';
import { rebootCalls } from '../helpers/cloud-requests.js';

const GOOD = 'i-bp1aaaaaaaaaaaaaaaaa';

describe('invalid and hostile commands', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await Harness.start({ providers: ['alibaba'], env: { REBOOT_MAX_INSTANCES: '3' } });
    h.sims.sims.alibaba!.fleet.add('cn-hangzhou', GOOD);
  });
  afterAll(async () => {
    await h.stop();
  });

  const cases: Array<[string, string, string]> = [
    ['unknown provider', `gcp us-east1 ${GOOD}`, 'gcp'],
    ['provider not configured', `huawei cn-north-4 616fb98f-46ca-475e-917e-2563e5a8cd19`, 'not configured'],
    ['unknown region', `alibaba mars-1 ${GOOD}`, 'mars-1'],
    ['malformed id', `alibaba cn-hangzhou ${GOOD} i-NOT_VALID`, 'i-NOT_VALID'],
    ['no ids', `alibaba cn-hangzhou`, 'instance'],
    ['unknown flag', `alibaba cn-hangzhou ${GOOD} --yolo`, '--yolo'],
    ['too many ids', `alibaba cn-hangzhou i-bp1aaaaaaaa1 i-bp1aaaaaaaa2 i-bp1aaaaaaaa3 i-bp1aaaaaaaa4`, '3'],
    ['reason without text', `alibaba cn-hangzhou ${GOOD} --reason`, '--reason'],
    ['unterminated quote', `alibaba cn-hangzhou ${GOOD} --reason "half`, '"'],
    ['empty', ``, 'provider'],
    ['markup injection', `alibaba cn-hangzhou <!channel> ${GOOD}`, 'channel'],
    ['shell injection', `alibaba cn-hangzhou ${GOOD};rm -rf /`, 'rm'],
  ];

  it.each(cases)('%s: a short ephemeral error naming the token, pointing at the usage; nothing stored, posted or sent', async (_name, text, token) => {
    const writes = (): number => h.slack.calls.filter((c) => c.method.startsWith('chat.')).length;
    const before = { calls: writes(), requests: h.sims.sims.alibaba!.requests.length };
    const res = await h.driver.command(REQUESTER, CHANNEL, text);
    expect(res.status).toBe(200);
    const body = JSON.parse(res.body) as { response_type: string; text: string };
    expect(body.response_type).toBe('ephemeral');
    expect(body.text).toContain(token);
    // One or two lines: the problem, then where the usage is (not the usage itself).
    expect(body.text.split('\n').length).toBeLessThanOrEqual(2);
    expect(body.text.endsWith('\n`/reboot help` for usage')).toBe(true);
    expect(body.text).not.toContain('*Usage:*');
    await h.settle();
    expect(h.sqlite.jobsInState('pending')).toHaveLength(0);
    expect(writes()).toBe(before.calls);
    expect(h.slack.responses).toHaveLength(0);
    expect(h.sims.sims.alibaba!.requests.length).toBe(before.requests);
  });

  it('help answers with the usage', async () => {
    const res = await h.driver.command(REQUESTER, CHANNEL, 'help');
    expect((JSON.parse(res.body) as { text: string }).text).toContain('Usage');
  });

  it('a request with a bad Slack signature is refused with 401 and changes nothing', async () => {
    const body = new URLSearchParams({ command: '/reboot', text: `alibaba cn-hangzhou ${GOOD}`, user_id: REQUESTER, channel_id: CHANNEL }).toString();
    const res = await request(`${h.bot.url}/slack/events`, { method: 'POST', headers: slackSignatureHeaders('wrong-secret', body), body });
    expect(res.statusCode).toBe(401);
    await res.body.text();
    const stale = await request(`${h.bot.url}/slack/events`, {
      method: 'POST',
      headers: slackSignatureHeaders('test-signing-secret-0123456789', body, Math.floor(Date.now() / 1000) - 600),
      body,
    });
    expect(stale.statusCode).toBe(401);
    await stale.body.text();
    expect(h.sqlite.jobsInState('pending')).toHaveLength(0);
  });

  it('a forged button value for another channel changes nothing', async () => {
    const { card } = await h.request(`alibaba cn-hangzhou ${GOOD}`);
    const jobId = h.sqlite.jobsInState('pending')[0]!.id;
    const res = await h.driver.click('U0APPROVER1', 'C0OTHER', card.ts, 'reboot_approve', jobId);
    expect(await h.replyTo(res)).toContain('not known');
    const bogus = await h.driver.click('U0APPROVER1', CHANNEL, card.ts, 'reboot_approve', 'r-../../etc');
    expect(await h.replyTo(bogus)).toContain('could not be read');
    await h.settle();
    expect(h.sqlite.jobsInState('pending')).toHaveLength(1);
    expect(textOf(h.slack.message(CHANNEL, card.ts)!)).toContain('Waiting for approval');
  });

  it('GET /healthz answers ok with no problems', async () => {
    const res = await request(`${h.bot.url}/healthz`);
    expect(res.statusCode).toBe(200);
    expect(await res.body.json()).toEqual({ status: 'ok', problems: [] });
  });
});

describe('a channel the bot cannot post in', () => {
  it('cancels the request and tells the requester how to fix it', async () => {
    const h = await Harness.start({ providers: ['alibaba'] });
    try {
      h.slack.channelsWithoutBot.add(CHANNEL);
      const res = await h.driver.command(REQUESTER, CHANNEL, `alibaba cn-hangzhou ${GOOD}`);
      expect(res.status).toBe(200);
      const told = await h.replyTo(res);
      expect(told).toContain('not_in_channel');
      expect(told).toContain('/invite @rebootbot');
      const job = h.sqlite.jobsInState('expired')[0]!;
      // Pre-flight may read the instances meanwhile; nothing that could reboot is sent.
      expect(h.sqlite.auditTrail(job.id).map((e) => e.event).filter((e) => e !== 'preflight')).toEqual(['requested', 'card failed']);
      expect(rebootCalls('alibaba', h.sims.sims.alibaba!.requests)).toHaveLength(0);
    } finally {
      await h.stop();
    }
  });
});
