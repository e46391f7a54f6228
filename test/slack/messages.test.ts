import { describe, expect, it } from 'vitest';
import type { Job } from '../../src/domain/job.js';
import { tallyOf } from '../../src/domain/job.js';
import { idListText, outcomeLine, requestCard, resultLinesMessage, escapeMrkdwn } from '../../src/slack/messages.js';

const job = (over: Partial<Job> = {}): Job => ({
  id: 'r-aaaaaaaaaa',
  state: 'pending',
  provider: 'alibaba',
  region: 'cn-hangzhou',
  ids: ['i-bp1aaaaaaaaaaaaaaaaa'],
  force: false,
  dryRun: false,
  verify: true,
  rolling: null,
  reason: null,
  requester: 'U0REQ',
  channel: 'C0OPS',
  approvalsNeeded: 1,
  createdAt: 0,
  expiresAt: 900_000,
  decidedAt: null,
  decidedBy: null,
  completedAt: null,
  cardTs: null,
  reapprovalReason: null,
  ...over,
});

function sectionTexts(blocks: unknown[]): string[] {
  return (blocks as Array<{ type: string; text?: { text: string } }>).filter((b) => b.type === 'section' && b.text).map((b) => b.text!.text);
}

describe('Block Kit builders', () => {
  it('collapse a long id list and keep every section under 3,000 characters', () => {
    const ids = Array.from({ length: 500 }, (_, i) => `i-bp1${String(i).padStart(17, '0')}`);
    const card = requestCard({ job: job({ ids, reason: 'x'.repeat(500) }), approvals: [] });
    expect(card.blocks.length).toBeLessThanOrEqual(50);
    for (const text of sectionTexts(card.blocks)) expect(text.length).toBeLessThanOrEqual(3000);
    expect(idListText(ids)).toContain('… and 460 more');
  });

  it('escape user text that would otherwise ping a channel or forge a link', () => {
    const card = requestCard({ job: job({ reason: '<!channel> & <https://evil|click>' }), approvals: [] });
    const reason = sectionTexts(card.blocks).find((t) => t.startsWith('*Reason*'))!;
    expect(reason).toContain('&lt;!channel&gt; &amp; &lt;https://evil|click&gt;');
    expect(escapeMrkdwn('<>&')).toBe('&lt;&gt;&amp;');
  });

  it('show buttons only while pending, with a danger confirm for --force', () => {
    const pending = requestCard({ job: job({ force: true, approvalsNeeded: 2 }), approvals: [] });
    const actions = pending.blocks.find((b) => b.type === 'actions') as { elements: Array<{ action_id: string; confirm?: { style: string } }> };
    expect(actions.elements.map((e) => e.action_id)).toEqual(['reboot_approve', 'reboot_deny']);
    expect(actions.elements[0]!.confirm?.style).toBe('danger');
    for (const state of ['approved', 'running', 'completed', 'denied', 'expired'] as const) {
      expect(requestCard({ job: job({ state }), approvals: [] }).blocks.some((b) => b.type === 'actions')).toBe(false);
    }
  });

  it('pack result lines into sections of at most 3,000 characters and escape cloud messages', () => {
    const lines = Array.from({ length: 25 }, (_, i) =>
      outcomeLine({ id: `i-${i}`, status: 'failed', code: 'Code<x>', message: 'm'.repeat(400) }),
    );
    const msg = resultLinesMessage(lines);
    for (const text of sectionTexts(msg.blocks)) expect(text.length).toBeLessThanOrEqual(3000);
    expect(msg.blocks.length).toBeGreaterThan(1);
    expect(lines[0]).toContain('Code&lt;x&gt;');
  });

  it('tally counts every status and what is still waiting', () => {
    const t = tallyOf({ ids: ['a', 'b', 'c', 'd'] }, [
      { id: 'a', status: 'succeeded' },
      { id: 'b', status: 'failed', code: 'X', message: 'y' },
      { id: 'c', status: 'unknown', reason: 'r' },
    ]);
    expect(t).toEqual({ total: 4, succeeded: 1, checked: 0, failed: 1, unknown: 1, verified: 0, unconfirmed: 0, not_back: 0, not_started: 0, waiting: 1 });
  });
});
