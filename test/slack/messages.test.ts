import { describe, expect, it } from 'vitest';
import type { Job } from '../../src/domain/job.js';
import { tallyOf } from '../../src/domain/job.js';
import type { Preflight } from '../../src/domain/preflight.js';
import type { InstanceReading } from '../../src/providers/provider.js';
import type { JobOutcome } from '../../src/domain/outcome.js';
import type { ResultEntry } from '../../src/domain/outbox-message.js';
import { blockTexts } from '../../src/local/fake-slack.js';
import {
  idListText,
  MESSAGE_TEXT_LIMIT,
  outcomeLine,
  requestCard,
  RESULT_SECTIONS_MAX,
  RESULTS_BUDGET,
  resultEntry,
  resultEntryCost,
  resultLinesMessage,
  resultsMessage,
  escapeMrkdwn,
  tallyText,
} from '../../src/slack/messages.js';
import { outcomeLines } from '../../chaos/observe.js';
import { storedJob } from '../helpers/fixtures.js';

const job = (over: Partial<Job> = {}): Job => storedJob(over);

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

  it('show approve/deny only while pending, with a danger confirm for --force; Cancel (confirmed) only while approved or running and not yet cancelled', () => {
    type Actions = { elements: Array<{ action_id: string; confirm?: { style: string; title: { text: string } } }> };
    const actionIds = (j: Job): string[] => requestCard({ job: j, approvals: [] }).blocks.filter((b) => b.type === 'actions').flatMap((b) => (b as Actions).elements.map((e) => e.action_id));
    const pending = requestCard({ job: job({ force: true, approvalsNeeded: 2 }), approvals: [] });
    const actions = pending.blocks.find((b) => b.type === 'actions') as Actions;
    expect(actions.elements.map((e) => e.action_id)).toEqual(['reboot_approve', 'reboot_deny']);
    expect(actions.elements[0]!.confirm?.style).toBe('danger');
    for (const state of ['approved', 'running'] as const) {
      const card = requestCard({ job: job({ state }), approvals: [] });
      const cancel = (card.blocks.find((b) => b.type === 'actions') as Actions).elements;
      expect(cancel.map((e) => e.action_id)).toEqual(['reboot_cancel']);
      expect(cancel[0]!.confirm?.style).toBe('danger');
      expect(cancel[0]!.confirm?.title.text).toBe('Cancel this reboot?');
    }
    expect(actionIds(job({ state: 'running', cancelledAt: 5_000, cancelledBy: 'U0REQ' }))).toEqual([]);
    for (const state of ['completed', 'denied', 'expired', 'cancelled'] as const) expect(actionIds(job({ state }))).toEqual([]);
  });

  it('Deny is not styled as the dangerous choice: nothing is rebooted by it', () => {
    for (const force of [false, true]) {
      const card = requestCard({ job: job({ force }), approvals: [] });
      const actions = card.blocks.find((b) => b.type === 'actions') as { elements: Array<{ action_id: string; style?: string; confirm?: unknown }> };
      const denyButton = actions.elements.find((e) => e.action_id === 'reboot_deny')!;
      expect(denyButton.style).toBeUndefined();
      expect(denyButton.confirm).toBeUndefined();
      expect(actions.elements.find((e) => e.action_id === 'reboot_approve')!.style).toBe('primary');
    }
  });

  it('a requester who denies their own request has withdrawn it; anyone else has denied it', () => {
    const withdrawn = requestCard({ job: job({ state: 'denied', decidedBy: 'U0REQ', decidedAt: 5000 }), approvals: [] });
    const all = [withdrawn.text, ...blockTexts(withdrawn.blocks)].join('\n');
    expect(all).toContain('withdrawn by <@U0REQ>');
    expect(all).toContain('Withdrawn by <@U0REQ>');
    expect(all.toLowerCase()).not.toContain('denied');
    const denied = requestCard({ job: job({ state: 'denied', decidedBy: 'U0APPROVER', decidedAt: 5000 }), approvals: [] });
    const text = [denied.text, ...blockTexts(denied.blocks)].join('\n');
    expect(text).toContain('denied by <@U0APPROVER>');
    expect(text).toContain('Denied by <@U0APPROVER>');
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
    expect(t).toEqual({ total: 4, succeeded: 1, checked: 0, failed: 1, unknown: 1, verified: 0, unconfirmed: 0, not_back: 0, not_started: 0, cancelled: 0, waiting: 1 });
  });
});

describe('results messages', () => {
  const ids = (n: number, prefix = 'i-bp1'): string[] => Array.from({ length: n }, (_, i) => `${prefix}${String(i).padStart(17, '0')}`);
  const asThread = (msg: { text: string; blocks: unknown[] }): Array<{ channel: string; ts: string; threadTs: string; text: string; blocks: unknown[]; replyBroadcast: boolean; updates: number }> => [
    { channel: 'C0OPS', ts: '2.0', threadTs: '1.0', text: msg.text, blocks: msg.blocks, replyBroadcast: false, updates: 0 },
  ];
  /** Greedily fills one message's worth of entries, as the store merges them. */
  const fill = (entries: readonly ResultEntry[]): ResultEntry[] => {
    const kept: ResultEntry[] = [];
    let used = 0;
    for (const e of entries) {
      if (used + e.cost > RESULTS_BUDGET) break;
      kept.push(e);
      used += e.cost;
    }
    return kept;
  };
  const withinLimits = (msg: { text: string; blocks: unknown[] }): void => {
    expect(msg.blocks.length).toBeLessThanOrEqual(RESULT_SECTIONS_MAX);
    expect(RESULT_SECTIONS_MAX).toBeLessThanOrEqual(50);
    const texts = blockTexts(msg.blocks);
    for (const t of texts) expect(t.length).toBeLessThanOrEqual(3000);
    expect(texts.join('').length).toBeLessThanOrEqual(MESSAGE_TEXT_LIMIT);
    expect(msg.text.startsWith('Results: ')).toBe(true);
  };

  it('a small job: one line per instance, exactly as outcomeLine says it, in order', () => {
    const outcomes: JobOutcome[] = [
      { id: 'i-a', status: 'verified', detail: 'back up, running (after 3s) (web-1); restart seen' },
      { id: 'i-b', status: 'failed', code: 'Stopped', message: 'stopped' },
      { id: 'i-c', status: 'not_started', reason: 'stopped after a failure in wave 1' },
    ];
    const msg = resultsMessage('lines', outcomes.map((o) => resultEntry(o, 'ignored', 'lines')));
    expect(blockTexts(msg.blocks).join('\n')).toBe(outcomes.map(outcomeLine).join('\n'));
    expect(msg.text).toBe('Results: 1 failed, 1 not started, 1 verified');
  });

  it('grouped: failures one per line with code and message first, then successes as ids and names in a code block', () => {
    const entries = [
      resultEntry({ id: 'i-ok1', status: 'verified', detail: 'back up, running (after 3s) (web-1); restart seen' }, 'web-1', 'grouped'),
      resultEntry({ id: 'i-bad', status: 'failed', code: 'IncorrectInstanceStatus', message: 'The instance is stopped', requestId: 'R1' }, 'db-1', 'grouped'),
      resultEntry({ id: 'i-ok2', status: 'verified', detail: 'back up, running (after 5s); restart seen' }, undefined, 'grouped'),
      resultEntry({ id: 'i-gone', status: 'not_back', detail: 'not running after 10m: state Starting' }, undefined, 'grouped'),
      resultEntry({ id: 'i-q', status: 'unknown', reason: 'timeout after the request was sent' }, undefined, 'grouped'),
    ];
    const msg = resultsMessage('grouped', entries);
    expect(blockTexts(msg.blocks)).toEqual([
      ':x: *Failed* · 1\n:x: `i-bad` *IncorrectInstanceStatus*: The instance is stopped _(request R1)_',
      ':x: *Not back* · 1\n:x: `i-gone` not running after 10m: state Starting',
      ':grey_question: *Unknown*: check these before retrying · 1\n:grey_question: `i-q` *unknown*: timeout after the request was sent',
      ':white_check_mark: *Verified: back up and running* · 2\n```i-ok1  web-1\ni-ok2```',
    ]);
    expect(Object.fromEntries(outcomeLines(asThread(msg)))).toEqual({ 'i-bad': ['failed'], 'i-gone': ['not_back'], 'i-q': ['unknown'], 'i-ok1': ['succeeded'], 'i-ok2': ['succeeded'] });
  });

  it('cancelled instances: one line each in the lines layout, compact under their own heading when grouped; the crash trials read both', () => {
    const reason = 'cancelled by <@U0REQ> before it was sent';
    const cancelled: JobOutcome[] = [{ id: 'i-c1', status: 'cancelled', reason }, { id: 'i-c2', status: 'cancelled', reason }];
    const ok: JobOutcome = { id: 'i-ok', status: 'verified', detail: 'back up, running (after 40 s)' };
    const lines = resultsMessage('lines', [...cancelled, ok].map((o) => resultEntry(o, undefined, 'lines')));
    expect(blockTexts(lines.blocks)[0]).toContain(`:stop_button: \`i-c1\` ${reason}`);
    expect(Object.fromEntries(outcomeLines(asThread(lines)))).toEqual({ 'i-c1': ['cancelled'], 'i-c2': ['cancelled'], 'i-ok': ['succeeded'] });
    const grouped = resultsMessage('grouped', [...cancelled, ok].map((o) => resultEntry(o, undefined, 'grouped')));
    expect(blockTexts(grouped.blocks)).toContain(':stop_button: *Cancelled: not sent* · 2\n```i-c1\ni-c2```');
    expect(Object.fromEntries(outcomeLines(asThread(grouped)))).toEqual({ 'i-c1': ['cancelled'], 'i-c2': ['cancelled'], 'i-ok': ['succeeded'] });
    expect(grouped.text).toBe('Results: 2 cancelled, 1 verified');
  });

  it('grouped: a name cannot break out of its code block or ping anyone; what an entry costs is what it adds', () => {
    const entry = resultEntry({ id: 'i-x', status: 'succeeded' }, '```<!channel> & co```', 'grouped');
    const msg = resultsMessage('grouped', [entry]);
    const text = blockTexts(msg.blocks)[0]!;
    expect(text).toBe(":white_check_mark: *Reboot accepted* · 1\n```i-x  '''&lt;!channel&gt; &amp; co'''```");
    expect(entry.cost).toBe("i-x  '''&lt;!channel&gt; &amp; co'''".length + 1);
    expect(resultEntryCost({ outcome: { id: 'i-x', status: 'failed', code: 'C', message: 'm'.repeat(5000) } }, 'grouped')).toBe(601);
  });

  it('grouped, worst case: a full budget of every kind of entry, the longest lines included, stays within Block Kit limits and names every id once', () => {
    const statuses = ['failed', 'not_back', 'unknown', 'unconfirmed', 'not_started', 'verified', 'succeeded', 'checked'] as const;
    const outcome = (id: string, i: number): JobOutcome => {
      const status = statuses[i % statuses.length]!;
      const long = `${'&'.repeat(i % 3 === 0 ? 150 : 5)} ${'x'.repeat(300)}`;
      switch (status) {
        case 'failed':
          return { id, status, code: 'Code<x>', message: long };
        case 'unknown':
        case 'not_started':
          return { id, status, reason: long };
        case 'succeeded':
        case 'checked':
          return { id, status };
        default:
          return { id, status, detail: long };
      }
    };
    for (const withNames of [false, true]) {
      const all = ids(400).map((id, i) => resultEntry(outcome(id, i), withNames ? `n${'&'.repeat(i % 50)}` : undefined, 'grouped'));
      const entries = fill(all);
      expect(entries.length).toBeLessThan(all.length);
      const msg = resultsMessage('grouped', entries);
      withinLimits(msg);
      const seen = outcomeLines(asThread(msg));
      expect([...seen.keys()].sort()).toEqual(entries.map((e) => e.outcome.id).sort());
      for (const e of entries) expect(seen.get(e.outcome.id)).toHaveLength(1);
    }
  });

  it('grouped: 400 successes in one message fill several code blocks, each under a heading that says what they are', () => {
    const entries = fill(ids(400).map((id) => resultEntry({ id, status: 'verified', detail: 'back up' }, 'web-0001', 'grouped')));
    const msg = resultsMessage('grouped', entries);
    withinLimits(msg);
    const texts = blockTexts(msg.blocks);
    expect(texts.length).toBeGreaterThan(1);
    expect(texts[1]).toMatch(/^:white_check_mark: \*Verified: back up and running\* · \d+ \(continued\)\n```/);
    expect([...outcomeLines(asThread(msg)).values()].every((s) => s.length === 1 && s[0] === 'succeeded')).toBe(true);
    expect(outcomeLines(asThread(msg)).size).toBe(entries.length);
  });
});

describe('the card with pre-flight', () => {
  const ids = Array.from({ length: 500 }, (_, i) => `i-bp1${String(i).padStart(17, '0')}`);
  const reading = (id: string, i: number): InstanceReading =>
    i === 1 || i === 2
      ? { id, found: false }
      : i === 3
        ? { id, found: true, name: 'db-3', phase: 'stopped', rawStatus: 'Stopped', rebooting: false }
        : i === 4
          ? { id, found: true, name: 'pay-4', phase: 'locked', rawStatus: 'Running', rebooting: false, lockReason: 'financial' }
          : { id, found: true, name: `web-${i}`.padEnd(60, 'x'), phase: 'running', rawStatus: 'Running', rebooting: false };
  const preflight = (n: number, errors: Preflight['errors'] = []): Preflight => ({ checkedAt: 1, readings: new Map(ids.slice(0, n).map((id, i) => [id, reading(id, i)])), errors });

  it('puts unknown and non-running ids in a warning at the top: "2 not found, 1 stopped, 1 locked: these will fail"', () => {
    const card = requestCard({ job: job({ ids: ids.slice(0, 6) }), approvals: [], preflight: preflight(6) });
    const first = sectionTexts(card.blocks)[0]!;
    expect(first).toContain(':warning: *2 not found, 1 stopped, 1 locked: these will fail.*');
    expect(first).toContain(`\`${ids[3]}\` db-3 · Stopped`);
    expect(first).toContain(`\`${ids[4]}\` pay-4 · locked (financial)`);
    expect(sectionTexts(card.blocks).find((t) => t.startsWith('*Instances*'))).toContain(`\`${ids[0]}\` ${'web-0'.padEnd(60, 'x')} · Running`);
    // Pre-flight informs; it never blocks: the buttons are there.
    expect(card.blocks.some((b) => b.type === 'actions')).toBe(true);
  });

  it('at 500 ids summarises counts per state and the first 40, within Block Kit limits', () => {
    const card = requestCard({ job: job({ ids, reason: 'x'.repeat(500) }), approvals: [], preflight: preflight(500) });
    expect(card.blocks.length).toBeLessThanOrEqual(50);
    for (const text of sectionTexts(card.blocks)) expect(text.length).toBeLessThanOrEqual(3000);
    const list = sectionTexts(card.blocks).find((t) => t.startsWith('*Instances*'))!;
    expect(list).toMatch(/^\*Instances\* · state when requested\n496 running, 2 not found, 1 stopped, 1 locked. The first \d+:/);
    expect(list).toMatch(/… and 4[6-9]\d more/);
  });

  it('says when the read failed, and that approval still works', () => {
    const card = requestCard({ job: job({ ids: ids.slice(0, 3) }), approvals: [], preflight: { checkedAt: 1, readings: new Map(), errors: [{ code: 'Forbidden.RAM', message: 'no read permission', ids: 3 }] } });
    expect(sectionTexts(card.blocks).join('\n')).toContain('Could not read the state of 3 instances: Forbidden.RAM: no read permission. Approval still works');
    expect(card.blocks.some((b) => b.type === 'actions')).toBe(true);
  });

  it('shows that pre-flight is still reading', () => {
    const card = requestCard({ job: job(), approvals: [], preflight: { checkedAt: null, readings: new Map(), errors: [] } });
    expect(JSON.stringify(card.blocks)).toContain('Checking the instances');
  });

  it('a dry-run card has no approval buttons and says none is needed', () => {
    const card = requestCard({ job: job({ dryRun: true, state: 'running', approvalsNeeded: 0 }), approvals: [], preflight: preflight(2) });
    expect(card.blocks.some((b) => b.type === 'actions')).toBe(false);
    expect(JSON.stringify(card.blocks)).toContain('no approval is needed');
  });

  it('a rolling job shows its plan and the wave in progress', () => {
    const card = requestCard({ job: job({ ids: ids.slice(0, 100), rolling: 25, state: 'running' }), approvals: [], wave: { current: 2, total: 4 } });
    const text = JSON.stringify(card.blocks);
    expect(text).toContain('rolling: 4 waves of 25');
    expect(text).toContain('In progress* (wave 2 of 4)');
  });

  it('the verified tally names its five verdicts', () => {
    const t = tallyOf({ ids: ['a', 'b', 'c', 'd', 'e'] }, [
      { id: 'a', status: 'verified', detail: 'back up' },
      { id: 'b', status: 'unconfirmed', detail: 'running' },
      { id: 'c', status: 'not_back', detail: 'not running after 10m: state Starting' },
      { id: 'd', status: 'failed', code: 'X', message: 'y' },
      { id: 'e', status: 'unknown', reason: 'r' },
    ]);
    expect(tallyText(t, { dryRun: false, verify: true })).toBe('1 verified · 1 running, unconfirmed · 1 not back · 1 failed · 1 unknown');
  });
});
