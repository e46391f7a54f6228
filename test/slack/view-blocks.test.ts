import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Job, JobState } from '../../src/domain/job.js';
import { tallyOf } from '../../src/domain/job.js';
import type { JobOutcome } from '../../src/domain/outcome.js';
import type { Preflight } from '../../src/domain/preflight.js';
import { blockTexts } from '../../src/local/fake-slack.js';
import { defaultCatalog } from '../../src/providers/catalog.js';
import type { JobSummary } from '../../src/store/contract.js';
import { homeView, instancesModal, MODAL_TITLE_LIMIT, SECTION_TEXT_LIMIT, VIEW_BLOCK_LIMIT, VIEW_BYTES_LIMIT } from '../../src/slack/view-blocks.js';
import { storedJob } from '../helpers/fixtures.js';

const ids = (n: number): string[] => Array.from({ length: n }, (_, i) => `i-bp1${String(i).padStart(17, '0')}`);

const job = (over: Partial<Job> = {}): Job => storedJob({ ids: ids(3), ...over });

function named(all: readonly string[], name: (i: number) => string): Preflight {
  return {
    checkedAt: 1,
    readings: new Map(all.map((id, i) => [id, { id, found: true, name: name(i), phase: 'running', rawStatus: 'Running', rebooting: false }])),
    errors: [],
  };
}

function sections(blocks: unknown[]): string[] {
  return (blocks as Array<{ type: string; text?: { text: string } }>).filter((b) => b.type === 'section' && b.text).map((b) => b.text!.text);
}

describe('instancesModal', () => {
  it('keeps names inside their code block: backticks and line breaks replaced, &, < and > escaped', () => {
    const all = ids(2);
    const view = instancesModal({ job: job({ ids: all }), preflight: named(all, (i) => (i === 0 ? 'a```b\nc' : '<x&y>')), outcomes: [], catalog: defaultCatalog });
    const text = sections(view.blocks).join('\n');
    expect(text).toContain(`\`\`\`${all[0]}  a'''b'c  Running\n${all[1]}  &lt;x&amp;y&gt;  Running\`\`\``);
    expect(view.title.text.length).toBeLessThanOrEqual(MODAL_TITLE_LIMIT);
  });

  it('shows each outcome once the job ran, and the tally', () => {
    const all = ids(2);
    const outcomes: JobOutcome[] = [
      { id: all[0]!, status: 'verified', detail: 'back up, running (after 3 s)' },
      { id: all[1]!, status: 'failed', code: 'IncorrectInstanceStatus', message: 'stopped' },
    ];
    const j = job({ ids: all, state: 'completed' });
    const text = blockTexts(instancesModal({ job: j, preflight: named(all, () => 'web'), outcomes, tally: tallyOf(j, outcomes), catalog: defaultCatalog }).blocks).join('\n');
    expect(text).toContain(`${all[0]}  web  Running  → verified`);
    expect(text).toContain(`${all[1]}  web  Running  → failed: IncorrectInstanceStatus`);
    expect(text).toContain('1 verified · 0 running, unconfirmed · 0 not back · 1 failed · 0 unknown');
  });

  it('before pre-flight read anything, lists the ids as not read', () => {
    const view = instancesModal({ job: job(), preflight: { checkedAt: null, readings: new Map(), errors: [] }, outcomes: [], catalog: defaultCatalog });
    expect(blockTexts(view.blocks).join('\n')).toContain(`${ids(1)[0]}  not read`);
  });

  it('stays within every view limit for up to 5,000 ids whatever their names, listing a prefix in order and saying how many are left out', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 5000 }), fc.string({ unit: 'grapheme', maxLength: 60 }), (n, name) => {
        const all = ids(n);
        const view = instancesModal({ job: job({ ids: all }), preflight: named(all, (i) => `${name}${i}`), outcomes: [], catalog: defaultCatalog });
        expect(view.blocks.length).toBeLessThanOrEqual(VIEW_BLOCK_LIMIT);
        expect(Buffer.byteLength(JSON.stringify(view))).toBeLessThan(VIEW_BYTES_LIMIT);
        for (const text of sections(view.blocks)) expect(text.length).toBeLessThanOrEqual(SECTION_TEXT_LIMIT);
        const text = sections(view.blocks).join('\n');
        const listed = [...text.matchAll(/^(?:```)?(i-bp1\d{17})/gm)].map((m) => m[1]);
        expect(listed).toEqual(all.slice(0, listed.length));
        const notice = /(\d+) of \d+ ids fit in one Slack window/.exec(text);
        if (listed.length < n) expect(Number(notice?.[1])).toBe(listed.length);
        else expect(notice).toBeNull();
      }),
      { numRuns: 25 },
    );
  });

  it('5,000 ids with the longest multi-byte names still open, with the rest pointed to /reboot audit', () => {
    const all = ids(5000);
    const view = instancesModal({ job: job({ ids: all }), preflight: named(all, () => '数据库'.repeat(20)), outcomes: [], catalog: defaultCatalog });
    expect(Buffer.byteLength(JSON.stringify(view))).toBeLessThan(VIEW_BYTES_LIMIT);
    expect(blockTexts(view.blocks).join('\n')).toContain('Type `/reboot audit r-aaaaaaaaaa` for the full list.');
  });
});

describe('homeView', () => {
  const recent = (i: number, state: JobState = 'completed'): JobSummary => ({
    id: `r-${String.fromCharCode(97 + (i % 26)).repeat(10)}`,
    state,
    provider: 'alibaba',
    region: 'cn-hangzhou',
    instances: i + 1,
    dryRun: false,
    requester: 'U0REQ',
    channel: 'C0OPS',
    createdAt: 0,
  });

  it('lists at most 20 requests, each with state, place, size, requester, channel and age', () => {
    const view = homeView({ jobs: Array.from({ length: 25 }, (_, i) => recent(i)), channelsUnreadable: null, now: 3 * 3_600_000, catalog: defaultCatalog });
    expect(view.blocks.length).toBeLessThanOrEqual(VIEW_BLOCK_LIMIT);
    const requests = sections(view.blocks);
    expect(requests).toHaveLength(20);
    expect(requests[0]).toBe(':checkered_flag: finished · `r-aaaaaaaaaa` · Alibaba Cloud ECS `cn-hangzhou` · 1 instance\nrequested by <@U0REQ> in <#C0OPS> · <!date^0^{ago}|3 h ago>');
  });

  it('says when the user\'s channels could not be read', () => {
    const text = blockTexts(homeView({ jobs: [], channelsUnreadable: 'ratelimited', now: 0, catalog: defaultCatalog }).blocks).join('\n');
    expect(text).toContain('Your channels could not be read from Slack (ratelimited), so only your own requests are shown.');
    expect(text).toContain('No reboot requests yet');
  });
});
