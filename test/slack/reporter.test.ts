/**
 * SlackReporter: which rows each job event turns into (channel, kind, coalesce key), pure; and how
 * its thread lines merge once a real SqliteStore queues them.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Job } from '../../src/domain/job.js';
import { OutboxMessageSchema, type OutboxWrite } from '../../src/domain/outbox-message.js';
import type { InstanceOutcome } from '../../src/providers/provider.js';
import { outcomeLine } from '../../src/slack/messages.js';
import { LINES_PER_MESSAGE, SlackReporter } from '../../src/slack/reporter.js';
import { SqliteStore } from '../../src/store/sqlite-store.js';
import { INCIDENTS, OPS, REQUESTER, instanceIds, newJob, outboxRows } from '../helpers/fixtures.js';

const job: Job = {
  ...newJob({ id: 'r-report0001' }),
  state: 'running',
  decidedAt: 2_000,
  decidedBy: 'U0APP',
  completedAt: null,
  cardTs: '1700000000.000001',
  reapprovalReason: null,
};

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

  it('outcomes: their lines in the thread (merged up to the per-message cap) and the card tally', () => {
    const outcomes: InstanceOutcome[] = [
      { id: 'i-a', status: 'succeeded' },
      { id: 'i-b', status: 'failed', code: 'IncorrectInstanceStatus', message: 'stopped' },
      { id: 'i-c', status: 'unknown', reason: 'timeout' },
    ];
    const rows = reporter.outcomes(job, outcomes);
    expect(rows).toStrictEqual([
      { channel: OPS, jobId: job.id, message: { kind: 'thread_lines', lines: outcomes.map(outcomeLine) }, mergeUpTo: LINES_PER_MESSAGE },
      card,
    ]);
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

  it(`thread lines fill waiting messages up to ${LINES_PER_MESSAGE} lines; the card update stays one row`, () => {
    const ids = instanceIds(60);
    store.enqueue(reporter.outcomes(job, succeeded(ids.slice(0, 10))));
    store.enqueue(reporter.outcomes(job, succeeded(ids.slice(10, 30))));
    store.enqueue(reporter.outcomes(job, succeeded(ids.slice(30, 60))));
    const rows = outboxRows(store);
    const lines = rows.flatMap((r) => (r.message.kind === 'thread_lines' ? [r.message.lines] : []));
    expect(lines.map((l) => l.length)).toEqual([25, 25, 10]);
    expect(lines.flat()).toEqual(succeeded(ids).map(outcomeLine));
    expect(rows.filter((r) => r.message.kind === 'update_card')).toHaveLength(1);
  });

  it('a second job never merges into the first one’s lines', () => {
    store.createJob(newJob({ id: 'r-report0002' }), '…');
    const other: Job = { ...job, id: 'r-report0002' };
    store.enqueue(reporter.outcomes(job, succeeded(['i-1'])));
    store.enqueue(reporter.outcomes(other, succeeded(['i-2'])));
    const lines = outboxRows(store).filter((r) => r.message.kind === 'thread_lines');
    expect(lines.map((r) => [r.jobId, r.message])).toEqual([
      [job.id, { kind: 'thread_lines', lines: [outcomeLine({ id: 'i-1', status: 'succeeded' })] }],
      ['r-report0002', { kind: 'thread_lines', lines: [outcomeLine({ id: 'i-2', status: 'succeeded' })] }],
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
