import { request } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import { FakeSlack, TRIGGER_TTL_MS } from '../../src/local/fake-slack.js';
import { SLACK_LIMITS, SlackRateLimiter } from '../../src/local/slack-limits.js';

const started: FakeSlack[] = [];

async function fake(withLimits: boolean): Promise<FakeSlack> {
  const slack = new FakeSlack(withLimits ? { slackLimits: SLACK_LIMITS } : {});
  await slack.start();
  started.push(slack);
  return slack;
}

async function call(slack: FakeSlack, method: string, args: Record<string, unknown>): Promise<{ status: number; retryAfter: string | undefined; body: Record<string, unknown> }> {
  const res = await request(`${slack.apiUrl}${method}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${slack.botToken}`, 'content-type': 'application/json; charset=utf-8' },
    body: JSON.stringify(args),
  });
  const retry = res.headers['retry-after'];
  return { status: res.statusCode, retryAfter: typeof retry === 'string' ? retry : undefined, body: (await res.body.json()) as Record<string, unknown> };
}

afterEach(async () => {
  await Promise.all(started.splice(0).map((s) => s.stop()));
});

describe('FakeSlack with Slack rate limits', () => {
  it('answers a second chat.postMessage to one channel within a second with 429 and Retry-After; another channel is free', async () => {
    const slack = await fake(true);
    expect((await call(slack, 'chat.postMessage', { channel: 'C0ONE', text: 'a' })).status).toBe(200);
    const second = await call(slack, 'chat.postMessage', { channel: 'C0ONE', text: 'b' });
    expect(second.status).toBe(429);
    expect(second.retryAfter).toBe('1');
    expect(second.body).toEqual({ ok: false, error: 'ratelimited' });
    expect((await call(slack, 'chat.postMessage', { channel: 'C0TWO', text: 'c' })).status).toBe(200);
    expect(slack.rateLimitedCalls()).toHaveLength(1);
    expect(slack.messages.map((m) => m.text)).toEqual(['a', 'c']);
  });

  it('lets the channel write again once a second has passed', async () => {
    const slack = await fake(true);
    await call(slack, 'chat.postMessage', { channel: 'C0ONE', text: 'a' });
    await new Promise((r) => setTimeout(r, 1010));
    expect((await call(slack, 'chat.postMessage', { channel: 'C0ONE', text: 'b' })).status).toBe(200);
  });

  it('holds chat.update to Tier 3 (50 a minute) across channels, counting only admitted calls', async () => {
    const slack = await fake(true);
    const posted = await call(slack, 'chat.postMessage', { channel: 'C0ONE', text: 'card' });
    const ts = String(posted.body.ts);
    const answers = [];
    for (let i = 0; i < 51; i++) answers.push((await call(slack, 'chat.update', { channel: 'C0ONE', ts, text: `v${i}` })).status);
    expect(answers.filter((s) => s === 200)).toHaveLength(50);
    expect(answers[50]).toBe(429);
    expect(slack.message('C0ONE', ts)?.text).toBe('v49');
  });

  it('stays permissive without the option', async () => {
    const slack = await fake(false);
    for (let i = 0; i < 5; i++) expect((await call(slack, 'chat.postMessage', { channel: 'C0ONE', text: String(i) })).status).toBe(200);
    expect(slack.rateLimitedCalls()).toHaveLength(0);
  });
});

describe('SlackRateLimiter', () => {
  it('frees a tier slot a minute after the oldest admitted call, and says how long to wait', () => {
    const limiter = new SlackRateLimiter({ channelWriteMs: 1000, channelWriteMethods: [], perMinute: { 'chat.getPermalink': 2 } });
    expect(limiter.admit('chat.getPermalink', undefined, 0)).toBeUndefined();
    expect(limiter.admit('chat.getPermalink', undefined, 10_000)).toBeUndefined();
    expect(limiter.admit('chat.getPermalink', undefined, 30_000)).toEqual({ rule: expect.stringContaining('2 calls') as unknown, retryAfterS: 30 });
    expect(limiter.admit('chat.getPermalink', undefined, 60_001)).toBeUndefined();
    expect(limiter.admit('users.info', undefined, 60_001)).toBeUndefined();
  });

  it('paces files.* by tier and chat.postMessage per channel', () => {
    const limiter = new SlackRateLimiter(SLACK_LIMITS);
    for (let i = 0; i < 100; i++) expect(limiter.admit('files.completeUploadExternal', `C${i}`, i)).toBeUndefined();
    expect(limiter.admit('files.completeUploadExternal', 'C0X', 200)?.retryAfterS).toBe(60);
    expect(limiter.admit('chat.postMessage', 'C0X', 0)).toBeUndefined();
    expect(limiter.admit('chat.postMessage', 'C0X', 999)?.retryAfterS).toBe(1);
    expect(limiter.admit('chat.postMessage', 'C0X', 1000)).toBeUndefined();
  });
});

describe('FakeSlack views and users.conversations', () => {
  const modal = (over: Record<string, unknown> = {}): Record<string, unknown> => ({
    type: 'modal',
    title: { type: 'plain_text', text: 'Ids' },
    blocks: [{ type: 'section', text: { type: 'mrkdwn', text: 'x' } }],
    ...over,
  });

  it('views.open exchanges a trigger it issued once; unknown, used and stale triggers are refused as Slack does', async () => {
    const slack = await fake(false);
    const trigger = slack.issueTriggerId();
    expect((await call(slack, 'views.open', { trigger_id: '1.2.3', view: modal() })).body.error).toBe('invalid_trigger_id');
    expect((await call(slack, 'views.open', { view: modal() })).body.error).toBe('invalid_arguments');
    expect((await call(slack, 'views.open', { trigger_id: trigger, view: JSON.stringify(modal()) })).body.ok).toBe(true);
    expect((await call(slack, 'views.open', { trigger_id: trigger, view: modal() })).body.error).toBe('exchanged_trigger_id');
    const stale = slack.issueTriggerId();
    await new Promise((r) => setTimeout(r, TRIGGER_TTL_MS + 50));
    expect((await call(slack, 'views.open', { trigger_id: stale, view: modal() })).body.error).toBe('expired_trigger_id');
    expect(slack.views).toHaveLength(1);
  }, 10_000);

  it('refuses a view over 100 blocks, a title over 24 characters, a section over 3,000, a view over 250 kB, and a home view sent as a modal', async () => {
    const slack = await fake(false);
    const section = (n: number) => ({ type: 'section', text: { type: 'mrkdwn', text: 'x'.repeat(n) } });
    const refused = async (view: Record<string, unknown>): Promise<unknown> => (await call(slack, 'views.open', { trigger_id: slack.issueTriggerId(), view })).body.error;
    expect(await refused(modal({ blocks: Array.from({ length: 101 }, () => section(1)) }))).toBe('invalid_arguments');
    expect(await refused(modal({ title: { type: 'plain_text', text: 'x'.repeat(25) } }))).toBe('invalid_arguments');
    expect(await refused(modal({ blocks: [section(3001)] }))).toBe('invalid_arguments');
    expect(await refused(modal({ blocks: Array.from({ length: 90 }, () => section(2900)) }))).toBe('view_too_large');
    expect(await refused(modal({ type: 'home' }))).toBe('invalid_arguments');
    expect(slack.violations).toHaveLength(5);
    expect((await call(slack, 'views.open', { trigger_id: slack.issueTriggerId(), view: modal({ blocks: Array.from({ length: 100 }, () => section(2400)) }) })).body.ok).toBe(true);
  });

  it('views.publish keeps the newest home view per user', async () => {
    const slack = await fake(false);
    expect((await call(slack, 'views.publish', { user_id: 'nobody', view: { type: 'home', blocks: [] } })).body.error).toBe('invalid_arguments');
    expect((await call(slack, 'views.publish', { user_id: 'U0A', view: modal() })).body.error).toBe('invalid_arguments');
    await call(slack, 'views.publish', { user_id: 'U0A', view: { type: 'home', blocks: [{ type: 'divider' }] } });
    await call(slack, 'views.publish', { user_id: 'U0A', view: { type: 'home', blocks: [] } });
    expect(slack.homeViewOf('U0A')?.view.blocks).toEqual([]);
  });

  it('users.conversations pages through a user\'s channels with a cursor', async () => {
    const slack = await fake(false);
    slack.memberships.set('U0A', Array.from({ length: 5 }, (_, i) => `C0${i}`));
    const first = (await call(slack, 'users.conversations', { user: 'U0A', limit: 3 })).body as { channels: Array<{ id: string }>; response_metadata: { next_cursor: string } };
    expect(first.channels.map((c) => c.id)).toEqual(['C00', 'C01', 'C02']);
    const second = (await call(slack, 'users.conversations', { user: 'U0A', limit: 3, cursor: first.response_metadata.next_cursor })).body as typeof first;
    expect(second.channels.map((c) => c.id)).toEqual(['C03', 'C04']);
    expect(second.response_metadata.next_cursor).toBe('');
    expect((await call(slack, 'users.conversations', { user: 'U0A', cursor: 'bogus' })).body.error).toBe('invalid_cursor');
    expect((await call(slack, 'users.conversations', { user: 'U0A', limit: 0 })).body.error).toBe('invalid_limit');
  });
});
