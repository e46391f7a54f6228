import { describe, expect, it } from 'vitest';
import { emptyTally, type Job } from '../../src/domain/job.js';
import { ageText, cardPermalink, listText, statusText } from '../../src/slack/command-replies.js';
import type { JobSummary } from '../../src/store/contract.js';
import { storedJob } from '../helpers/fixtures.js';

const job = (over: Partial<Job> = {}): Job =>
  storedJob({ approvalsNeeded: 2, createdAt: 1_700_000_000_000, expiresAt: 1_700_000_900_000, cardTs: '1700000000.000100', ...over });

describe('statusText', () => {
  it('a pending request: who asked, approvals so far of how many, the link', () => {
    const text = statusText({ job: job({ reason: '<!channel> patch' }), approvals: [{ userId: 'U0A1', at: 1 }], tally: emptyTally(1), cardLink: 'https://fake.slack.com/archives/C0OPS/p1700000000000100' });
    expect(text).toContain('*Request `r-aaaaaaaaaa`*: waiting for approval · reboot of 1 instance on Alibaba Cloud ECS `cn-hangzhou`');
    expect(text).toContain('Requested by <@U0REQ>');
    expect(text).toContain('&lt;!channel&gt; patch');
    expect(text).toContain('Approvals: 1 of 2 (<@U0A1>)');
    expect(text).toContain('<https://fake.slack.com/archives/C0OPS/p1700000000000100|Open the card>');
    expect(text).not.toContain('Results');
  });

  it('a running rolling job: approvers, tally and wave', () => {
    const tally = { ...emptyTally(4), verified: 2, waiting: 2 };
    const text = statusText({
      job: job({ state: 'running', ids: ['a', 'b', 'c', 'd'], rolling: 2, decidedAt: 1_700_000_060_000, decidedBy: 'U0A1,U0A2' }),
      approvals: [{ userId: 'U0A1', at: 1 }, { userId: 'U0A2', at: 2 }],
      tally,
      wave: { current: 2, total: 2 },
      cardLink: null,
    });
    expect(text).toContain('running · reboot of 4 instances');
    expect(text).toContain('Approved by <@U0A1>, <@U0A2> (2 of 2 needed) at <!date^1700000060^');
    expect(text).toContain('Results: 2 verified · 0 running, unconfirmed · 0 not back · 0 failed · 0 unknown · 2 waiting');
    expect(text).toContain('Rolling: wave 2 of 2 (2 at a time)');
    expect(text).toContain('The card is in this channel');
  });

  it('withdrawn, denied and expired say who or what decided', () => {
    expect(statusText({ job: job({ state: 'denied', decidedBy: 'U0REQ', decidedAt: 1 }), approvals: [], tally: emptyTally(1), cardLink: null })).toContain('Withdrawn by <@U0REQ>');
    expect(statusText({ job: job({ state: 'denied', decidedBy: 'U0A1', decidedAt: 1 }), approvals: [], tally: emptyTally(1), cardLink: null })).toContain('Denied by <@U0A1>');
    expect(statusText({ job: job({ state: 'expired', decidedBy: 'system', decidedAt: 1, cardTs: null }), approvals: [], tally: emptyTally(1), cardLink: null })).toMatch(
      /Expired without enough approvals[^]*Its card was never posted/,
    );
  });
});

describe('listText', () => {
  const row = (over: Partial<JobSummary> = {}): JobSummary => ({
    id: 'r-aaaaaaaaaa',
    state: 'completed',
    provider: 'volcengine',
    region: 'cn-beijing',
    instances: 1,
    dryRun: false,
    requester: 'U0REQ',
    channel: 'C0OPS',
    createdAt: 0,
    ...over,
  });

  it('one line each: id, state, provider region, pluralised count, requester, age', () => {
    const text = listText([row(), row({ id: 'r-bbbbbbbbbb', instances: 3, state: 'pending', dryRun: true, createdAt: 0 })], { mine: false, now: 5 * 60_000 });
    expect(text.split('\n')).toEqual([
      '*The last 2 requests in this channel*, newest first:',
      '• `r-aaaaaaaaaa` completed · Volcengine ECS `cn-beijing` · 1 instance · <@U0REQ> · 5 min ago',
      '• `r-bbbbbbbbbb` pending (dry run) · Volcengine ECS `cn-beijing` · 3 instances · <@U0REQ> · 5 min ago',
    ]);
  });

  it('--mine names the channel of each; nothing to list is said plainly', () => {
    expect(listText([row()], { mine: true, now: 0 })).toContain('*Your last 1 request*');
    expect(listText([row()], { mine: true, now: 0 })).toContain('· in <#C0OPS>');
    expect(listText([], { mine: false, now: 0 })).toContain('No requests in this channel');
    expect(listText([], { mine: true, now: 0 })).toContain('You have made no requests');
  });

  it('ages read naturally', () => {
    expect([0, 59_000, 60_000, 3_599_999, 3_600_000, 47 * 3_600_000, 48 * 3_600_000, 30 * 86_400_000].map(ageText)).toEqual([
      'just now',
      'just now',
      '1 min ago',
      '59 min ago',
      '1 h ago',
      '47 h ago',
      '2 days ago',
      '30 days ago',
    ]);
  });
});

describe('cardPermalink', () => {
  it('builds the link Slack gives a message, and nothing from odd input', () => {
    expect(cardPermalink('acme', 'C0OPS', '1700000000.000100')).toBe('https://acme.slack.com/archives/C0OPS/p1700000000000100');
    expect(cardPermalink(undefined, 'C0OPS', '1700000000.000100')).toBeNull();
    expect(cardPermalink('acme', 'C0OPS', null)).toBeNull();
    expect(cardPermalink('evil.com/x?', 'C0OPS', '1.2')).toBeNull();
  });
});
