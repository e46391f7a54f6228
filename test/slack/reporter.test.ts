/**
 * SlackReporter: which rows each job event turns into (channel, kind, coalesce key), pure; and how
 * its thread lines merge once a real SqliteStore queues them.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Job } from '../../src/domain/job.js';
import { OutboxMessageSchema, type OutboxWrite, type ResultEntry } from '../../src/domain/outbox-message.js';
import type { JobOutcome } from '../../src/domain/outcome.js';
import type { InstanceOutcome } from '../../src/providers/provider.js';
import { blockTexts } from '../../src/local/fake-slack.js';
import { MESSAGE_TEXT_LIMIT, RESULTS_BUDGET, outcomeLine, resultEntry, resultsMessage } from '../../src/slack/messages.js';
import { RESULTS_HOLD_MS, SlackReporter } from '../../src/slack/reporter.js';
import { outcomeLines } from '../../chaos/observe.js';
import { SqliteStore } from '../../src/store/sqlite-store.js';
import { INCIDENTS, OPS, REQUESTER, instanceIds, newJob, outboxRows, storedJob } from '../helpers/fixtures.js';

const job: Job = storedJob({
  ...newJob({ id: 'r-report0001' }),
  state: 'running',
  decidedAt: 2_000,
  decidedBy: 'U0APP',
  cardTs: '1700000000.000001',
});

const card = { channel: OPS, jobId: job.id, message: { kind: 'update_card' }, coalesceKey: `card:${job.id}` };

function everyRowIsValid(rows: readonly OutboxWrite[]): void {
  for (const r of rows) expect(OutboxMessageSchema.safeParse(r.message).success).toBe(true);
}

describe.each([
  { label: 'with an incident channel', incident: INCIDENTS },
  { label: 'without an incident channel', incident: undefined },
])('SlackReporter $label', ({ incident }) => {
  const reporter = new SlackReporter(incident);
  const incidentRow = (event: 'approved' | 'completed'): OutboxWrite[] =>
    incident ? [{ channel: incident, jobId: job.id, message: { kind: 'incident', event } }] : [];

  it('requested: the card is posted in the job channel, never coalesced', () => {
    const rows = reporter.requested(job);
    expect(rows).toStrictEqual([{ channel: OPS, jobId: job.id, message: { kind: 'post_card' } }]);
    everyRowIsValid(rows);
  });

  it('cardChanged: one card update per job, coalesced by job id', () => {
    expect(reporter.cardChanged(job)).toStrictEqual([card]);
    expect(reporter.cardChanged({ ...job, id: 'r-other00001' })[0]?.coalesceKey).toBe('card:r-other00001');
  });

  it('approved: the card, and the incident channel only when one is configured', () => {
    const rows = reporter.approved(job);
    expect(rows).toStrictEqual([card, ...incidentRow('approved')]);
    everyRowIsValid(rows);
  });

  it('outcomes of a small job: structured results, one line each when rendered, merged by size; and the card tally', () => {
    const outcomes: InstanceOutcome[] = [
      { id: 'i-a', status: 'succeeded' },
      { id: 'i-b', status: 'failed', code: 'IncorrectInstanceStatus', message: 'stopped' },
      { id: 'i-c', status: 'unknown', reason: 'timeout' },
    ];
    const rows = reporter.outcomes(job, outcomes);
    const entries = outcomes.map((outcome) => ({ outcome, cost: outcomeLine(outcome).length + 1 }));
    expect(rows).toStrictEqual([{ channel: OPS, jobId: job.id, message: { kind: 'thread_results', layout: 'lines', entries }, mergeUpTo: RESULTS_BUDGET }, card]);
    everyRowIsValid(rows);
  });

  it('outcomes of a job over 50 instances: grouped, held to fill up', () => {
    const big: Job = { ...job, ids: instanceIds(51) };
    const rows = reporter.outcomes(big, [{ id: 'i-a', status: 'verified', detail: 'back up, running (after 3s); restart seen' }]);
    expect(rows[0]).toStrictEqual({
      channel: OPS,
      jobId: job.id,
      message: { kind: 'thread_results', layout: 'grouped', entries: [{ outcome: { id: 'i-a', status: 'verified', detail: 'back up, running (after 3s); restart seen' }, cost: 'i-a'.length + 1 }] },
      mergeUpTo: RESULTS_BUDGET,
      holdMs: RESULTS_HOLD_MS,
    });
    everyRowIsValid(rows);
  });

  it('outcomes: nothing at all when none were stored now (duplicates), not even a card update', () => {
    expect(reporter.outcomes(job, [])).toEqual([]);
  });

  it('note: a thread note, coalesced only when given a key', () => {
    expect(reporter.note(job, 'hello')).toStrictEqual([{ channel: OPS, jobId: job.id, message: { kind: 'thread_note', text: 'hello' } }]);
    expect(reporter.note(job, '3/4 done', 'progress:x')).toStrictEqual([
      { channel: OPS, jobId: job.id, message: { kind: 'thread_note', text: '3/4 done' }, coalesceKey: 'progress:x' },
    ]);
  });

  it('completed: card, summary in the thread (not coalesced), incident only when configured', () => {
    const rows = reporter.completed(job);
    expect(rows).toStrictEqual([card, { channel: OPS, jobId: job.id, message: { kind: 'summary' } }, ...incidentRow('completed')]);
    everyRowIsValid(rows);
  });

  it('completed: over 1,000 instances, the CSV file goes in the thread before the summary; at 1,000, none', () => {
    expect(reporter.completed({ ...job, ids: instanceIds(1000) }).map((r) => r.message.kind)).not.toContain('results_file');
    const rows = reporter.completed({ ...job, ids: instanceIds(1001) });
    expect(rows.map((r) => r.message.kind)).toEqual(['update_card', 'results_file', 'summary', ...incidentRow('completed').map((r) => r.message.kind)]);
    expect(rows[1]).toStrictEqual({ channel: OPS, jobId: job.id, message: { kind: 'results_file' } });
    everyRowIsValid(rows);
    // Cancelled before it started: nothing to tabulate, but the summary and the incident notice still go.
    const cancelled = reporter.completed({ ...job, state: 'cancelled', cancelledAt: 3_000, cancelledBy: REQUESTER, ids: instanceIds(1001) });
    expect(cancelled.map((r) => r.message.kind)).toEqual(['update_card', 'summary', ...incidentRow('completed').map((r) => r.message.kind)]);
  });

  it('superseded: rewrites that copy, keyed by job and stale ts', () => {
    expect(reporter.superseded(job, '1.5')).toStrictEqual([
      { channel: OPS, jobId: job.id, message: { kind: 'supersede_card', ts: '1.5' }, coalesceKey: `supersede:${job.id}:1.5` },
    ]);
  });

  it('undelivered: a direct message to the requester, once per job', () => {
    expect(reporter.undelivered(job, 'could not post')).toStrictEqual([
      { channel: REQUESTER, jobId: job.id, message: { kind: 'requester_notice', text: 'could not post' }, coalesceKey: `notice:${job.id}` },
    ]);
  });
});

describe('SlackReporter rows in a real store', () => {
  let store: SqliteStore;
  const reporter = new SlackReporter(INCIDENTS);
  beforeEach(() => {
    store = new SqliteStore(':memory:');
    store.createJob(newJob({ id: job.id, ids: instanceIds(60) }), 'alibaba cn-hangzhou …');
  });
  afterEach(() => store.close());

  const succeeded = (ids: readonly string[]): InstanceOutcome[] => ids.map((id) => ({ id, status: 'succeeded' }));

  const resultRows = (): Array<{ notBefore: number; layout: string; entries: ResultEntry[] }> =>
    outboxRows(store).flatMap((r) => (r.message.kind === 'thread_results' ? [{ notBefore: r.notBefore, layout: r.message.layout, entries: r.message.entries }] : []));
  const costOf = (entries: readonly ResultEntry[]): number => entries.reduce((n, e) => n + e.cost, 0);

  it('a small job: results fill waiting rows up to the size budget, sent at once, in order; the card update stays one row', () => {
    const small: Job = { ...job, ids: instanceIds(50) };
    const failures: JobOutcome[] = instanceIds(50).map((id) => ({ id, status: 'failed', code: 'OperationDenied', message: `refused: ${'m'.repeat(400)}` }));
    store.enqueue(reporter.outcomes(small, failures.slice(0, 10)));
    store.enqueue(reporter.outcomes(small, failures.slice(10, 30)));
    store.enqueue(reporter.outcomes(small, failures.slice(30, 50)));
    const rows = resultRows();
    expect(rows.length).toBe(Math.ceil((50 * (outcomeLine(failures[0]!).length + 1)) / RESULTS_BUDGET));
    for (const row of rows) {
      expect(row.layout).toBe('lines');
      expect(row.notBefore).toBe(0);
      expect(costOf(row.entries)).toBeLessThanOrEqual(RESULTS_BUDGET);
      // Full: the next entry would not have fitted.
    }
    for (const row of rows.slice(0, -1)) expect(costOf(row.entries) + row.entries[0]!.cost).toBeGreaterThan(RESULTS_BUDGET);
    expect(rows.flatMap((r) => r.entries.map((e) => e.outcome))).toEqual(failures);
    expect(outboxRows(store).filter((r) => r.message.kind === 'update_card')).toHaveLength(1);
  });

  it('a large job: part-filled rows are held for more; a full row goes at once, the last goes with the summary', () => {
    const ids = instanceIds(1000);
    const big: Job = { ...job, ids };
    const before = Date.now();
    for (let i = 0; i < ids.length; i += 100) store.enqueue(reporter.outcomes(big, succeeded(ids.slice(i, i + 100))));
    let rows = resultRows();
    // 1,000 ids of 22 characters and a line break: ceil(23,000 / budget) rows.
    expect(rows.length).toBe(Math.ceil((1000 * 23) / RESULTS_BUDGET));
    expect(rows.slice(0, -1).every((r) => r.notBefore === 0)).toBe(true);
    expect(rows.at(-1)!.notBefore).toBeGreaterThanOrEqual(before + RESULTS_HOLD_MS);
    expect(rows.flatMap((r) => r.entries.map((e) => e.outcome.id))).toEqual(ids);
    store.enqueue(reporter.completed(big));
    rows = resultRows();
    expect(rows.at(-1)!.notBefore).toBe(0);
    // Nothing merges into results queued before the summary.
    store.enqueue(reporter.outcomes(big, succeeded(['i-late'])));
    expect(resultRows().at(-1)!.entries.map((e) => e.outcome.id)).toEqual(['i-late']);
  });

  it('a large job: names from pre-flight ride along, and every row renders within Block Kit limits with every id once', () => {
    const ids = instanceIds(1000);
    const big: Job = { ...job, ids };
    const names = new Map(ids.map((id, i) => [id, `web-${i}`]));
    const named = new SlackReporter(INCIDENTS);
    const failing = new Set(ids.filter((_, i) => i % 100 === 7));
    const outcomes: JobOutcome[] = ids.map((id) =>
      failing.has(id) ? { id, status: 'failed', code: 'IncorrectInstanceStatus', message: 'The current status of the resource does not support this operation.' } : { id, status: 'verified', detail: 'back up, running (after 4s); restart seen' },
    );
    for (let i = 0; i < ids.length; i += 100) store.enqueue(named.outcomes(big, outcomes.slice(i, i + 100), names));
    const rows = resultRows();
    expect(rows.flatMap((r) => r.entries.filter((e) => e.outcome.status === 'verified').map((e) => e.name))).toEqual(ids.filter((id) => !failing.has(id)).map((id) => names.get(id)));
    const thread = rows.map((r, i) => {
      const msg = resultsMessage('grouped', r.entries);
      expect(msg.blocks.length).toBeLessThanOrEqual(50);
      const texts = blockTexts(msg.blocks);
      for (const t of texts) expect(t.length).toBeLessThanOrEqual(3000);
      expect(texts.join('').length).toBeLessThanOrEqual(MESSAGE_TEXT_LIMIT);
      return { channel: OPS, ts: `2.${i}`, threadTs: '1.0', text: msg.text, blocks: msg.blocks, replyBroadcast: false, updates: 0 };
    });
    expect(rows.length).toBeLessThanOrEqual(5);
    const seen = outcomeLines(thread);
    expect([...seen.keys()].sort()).toEqual([...ids].sort());
    for (const id of ids) expect(seen.get(id)).toEqual([failing.has(id) ? 'failed' : 'succeeded']);
  });

  it('a second job never merges into the first one’s results', () => {
    store.createJob(newJob({ id: 'r-report0002' }), '…');
    const other: Job = { ...job, id: 'r-report0002' };
    store.enqueue(reporter.outcomes(job, succeeded(['i-1'])));
    store.enqueue(reporter.outcomes(other, succeeded(['i-2'])));
    const rows = outboxRows(store).filter((r) => r.message.kind === 'thread_results');
    expect(rows.map((r) => [r.jobId, r.message])).toEqual([
      [job.id, { kind: 'thread_results', layout: 'lines', entries: [resultEntry({ id: 'i-1', status: 'succeeded' }, undefined, 'lines')] }],
      ['r-report0002', { kind: 'thread_results', layout: 'lines', entries: [resultEntry({ id: 'i-2', status: 'succeeded' }, undefined, 'lines')] }],
    ]);
  });

  it('progress notes with one key replace each other while waiting; keyless notes do not', () => {
    store.enqueue(reporter.note(job, '1/3', 'progress:a'));
    store.enqueue(reporter.note(job, '2/3', 'progress:a'));
    store.enqueue(reporter.note(job, 'plain'));
    store.enqueue(reporter.note(job, 'plain'));
    expect(outboxRows(store).map((r) => r.message)).toEqual([
      { kind: 'thread_note', text: '2/3' },
      { kind: 'thread_note', text: 'plain' },
      { kind: 'thread_note', text: 'plain' },
    ]);
  });
});
